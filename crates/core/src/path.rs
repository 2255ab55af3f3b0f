//! Path names of assets and tags.
//!
//! Every asset and tag has a unique path such as
//! `north/pad-3/w-17/esp/motor-current`: the field, the pad, the well, the
//! equipment and the tag, from the top of the asset tree down. Paths appear in
//! files, URLs, metric labels and Kafka keys, so their alphabet is kept to
//! what needs no quoting anywhere.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most segments a path may have.
pub const MAX_DEPTH: usize = 8;
/// The most bytes one segment may have.
pub const MAX_SEGMENT_LEN: usize = 64;
/// The separator between segments.
pub const SEPARATOR: char = '/';

/// The unique path name of an asset or a tag in the asset tree.
///
/// A path is one to [`MAX_DEPTH`] segments joined by `/`. A segment is one to
/// [`MAX_SEGMENT_LEN`] characters from lowercase ASCII letters, digits, `-`,
/// `_` and `.`, and starts with a letter or digit. Paths are lowercase so
/// that `W-17` and `w-17` can never name two different wells. Cloning is
/// cheap: the text is shared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodePath(Arc<str>);

/// Why a text is not a valid path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text is empty.
    #[error("invalid path: it is empty")]
    Empty,
    /// Two separators in a row, or one at either end.
    #[error(
        "invalid path `{path}`: empty segment at position {position}; \
         segments are separated by a single '/'"
    )]
    EmptySegment {
        /// The offending text.
        path: String,
        /// Zero-based segment index.
        position: usize,
    },
    /// A character outside the allowed alphabet.
    #[error(
        "invalid path `{path}`: illegal character {character:?} at byte {offset}; \
         allowed are lowercase letters, digits, '-', '_' and '.'"
    )]
    IllegalCharacter {
        /// The offending text.
        path: String,
        /// The first character that is not allowed.
        character: char,
        /// Its byte offset in the text.
        offset: usize,
    },
    /// A segment starts with punctuation.
    #[error("invalid path `{path}`: segment `{segment}` must start with a letter or digit")]
    BadStart {
        /// The offending text.
        path: String,
        /// The segment that starts badly.
        segment: String,
    },
    /// A segment is too long.
    #[error(
        "invalid path `{path}`: segment `{segment}` has {length} bytes, more than the \
         {MAX_SEGMENT_LEN} allowed"
    )]
    SegmentTooLong {
        /// The offending text.
        path: String,
        /// The long segment.
        segment: String,
        /// Its length in bytes.
        length: usize,
    },
    /// Too many segments.
    #[error("invalid path `{path}`: {depth} segments, more than the {MAX_DEPTH} allowed")]
    TooDeep {
        /// The offending text.
        path: String,
        /// Its number of segments.
        depth: usize,
    },
}

impl NodePath {
    /// Checks `text` and makes it a path.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        validate(text)?;
        Ok(NodePath(Arc::from(text)))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments from the top of the tree down.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split(SEPARATOR)
    }

    /// The number of segments; a field's path has depth 1.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The last segment: the name of the asset or tag itself.
    pub fn name(&self) -> &str {
        self.0.rsplit(SEPARATOR).next().unwrap_or(&self.0)
    }

    /// The path of the parent asset, or `None` at the top of the tree.
    pub fn parent(&self) -> Option<NodePath> {
        self.0
            .rsplit_once(SEPARATOR)
            .map(|(parent, _)| NodePath(Arc::from(parent)))
    }

    /// The paths of every ancestor, from the top of the tree down, not
    /// including this path.
    pub fn ancestors(&self) -> Vec<NodePath> {
        let mut ancestors = Vec::with_capacity(MAX_DEPTH);
        for (offset, _) in self.0.match_indices(SEPARATOR) {
            ancestors.push(NodePath(Arc::from(&self.0[..offset])));
        }
        ancestors
    }

    /// The path of a child named `name` below this one.
    pub fn child(&self, name: &str) -> Result<NodePath, PathError> {
        NodePath::parse(&format!("{}{SEPARATOR}{name}", self.0))
    }

    /// Whether this path is `other` or lies below it in the tree.
    pub fn is_within(&self, other: &NodePath) -> bool {
        match self.0.strip_prefix(other.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with(SEPARATOR),
            None => false,
        }
    }
}

fn validate(text: &str) -> Result<(), PathError> {
    if text.is_empty() {
        return Err(PathError::Empty);
    }

    let path = || text.to_owned();
    let mut depth = 0;
    let mut offset = 0;
    for (position, segment) in text.split(SEPARATOR).enumerate() {
        depth += 1;
        if segment.is_empty() {
            return Err(PathError::EmptySegment {
                path: path(),
                position,
            });
        }
        if let Some((index, character)) = segment
            .char_indices()
            .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
        {
            return Err(PathError::IllegalCharacter {
                path: path(),
                character,
                offset: offset + index,
            });
        }
        if !segment.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(PathError::BadStart {
                path: path(),
                segment: segment.to_owned(),
            });
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return Err(PathError::SegmentTooLong {
                path: path(),
                segment: segment.to_owned(),
                length: segment.len(),
            });
        }
        offset += segment.len() + SEPARATOR.len_utf8();
    }

    if depth > MAX_DEPTH {
        return Err(PathError::TooDeep {
            path: path(),
            depth,
        });
    }
    Ok(())
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodePath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NodePath::parse(text)
    }
}

/// Lets maps keyed by path be searched with a `&str`: a path hashes and
/// compares exactly as its text.
impl Borrow<str> for NodePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NodePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for NodePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NodePath::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> NodePath {
        NodePath::parse(text).unwrap()
    }

    #[test]
    fn a_tag_path_knows_its_name_parent_and_ancestors() {
        let tag = path("north/pad-3/w-17/esp/motor-current");
        assert_eq!(tag.depth(), 5);
        assert_eq!(tag.name(), "motor-current");
        assert_eq!(tag.parent(), Some(path("north/pad-3/w-17/esp")));
        let ancestors: Vec<String> = tag.ancestors().iter().map(ToString::to_string).collect();
        assert_eq!(
            ancestors,
            [
                "north",
                "north/pad-3",
                "north/pad-3/w-17",
                "north/pad-3/w-17/esp"
            ]
        );
        assert_eq!(path("north").parent(), None);
    }

    #[test]
    fn is_within_respects_segment_boundaries() {
        let well = path("north/pad-3/w-17");
        assert!(path("north/pad-3/w-17/esp").is_within(&well));
        assert!(well.is_within(&well));
        assert!(!path("north/pad-3/w-170").is_within(&well));
    }

    #[test]
    fn illegal_characters_are_named_with_their_offset() {
        let error = NodePath::parse("north/Pad 3").unwrap_err();
        assert_eq!(
            error,
            PathError::IllegalCharacter {
                path: "north/Pad 3".into(),
                character: 'P',
                offset: 6
            }
        );
        assert!(
            error
                .to_string()
                .contains("illegal character 'P' at byte 6"),
            "{error}"
        );
    }

    #[test]
    fn malformed_paths_are_rejected_with_the_reason() {
        assert_eq!(NodePath::parse(""), Err(PathError::Empty));
        assert!(matches!(
            NodePath::parse("north//w-1"),
            Err(PathError::EmptySegment { position: 1, .. })
        ));
        assert!(matches!(
            NodePath::parse("/north"),
            Err(PathError::EmptySegment { .. })
        ));
        assert!(matches!(
            NodePath::parse("north/-w"),
            Err(PathError::BadStart { .. })
        ));
        assert!(matches!(
            NodePath::parse("a/b/c/d/e/f/g/h/i"),
            Err(PathError::TooDeep { depth: 9, .. })
        ));
        let long = "x".repeat(MAX_SEGMENT_LEN + 1);
        assert!(matches!(
            NodePath::parse(&long),
            Err(PathError::SegmentTooLong { .. })
        ));
        assert!(matches!(
            NodePath::parse("north/wéll"),
            Err(PathError::IllegalCharacter { .. })
        ));
    }

    #[test]
    fn child_paths_are_validated() {
        let pad = path("north/pad-3");
        assert_eq!(pad.child("w-17").unwrap(), path("north/pad-3/w-17"));
        assert!(pad.child("W 17").is_err());
    }
}
