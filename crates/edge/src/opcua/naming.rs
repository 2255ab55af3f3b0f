//! Path segments from OPC UA browse names.
//!
//! A browse-import names each asset and tag after its node's browse name,
//! but Flowline paths allow only lowercase ASCII letters, digits, `-`, `_`
//! and `.` ([`NodePath`](flowline_core::NodePath)). [`path_segment`] turns
//! a browse name into a segment deterministically: `TubingPressure` becomes
//! `tubing-pressure`, `Pad 1` becomes `pad-1`, `Température` becomes
//! `temperature`. Names with nothing usable in them are an error.
//! [`Siblings`] then settles the names that collide under one parent.

use std::collections::{BTreeMap, BTreeSet};

use flowline_core::MAX_SEGMENT_LEN;

/// A browse name that gives no path segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "browse name `{0}` has no letters or digits Flowline can use in a path \
     (a-z, 0-9, and accented Latin letters)"
)]
pub struct SegmentError(pub String);

/// The path segment for browse name `name`: words split at spaces,
/// punctuation and lower-to-upper case changes, joined by `-`, lowercase;
/// accented Latin letters lose their accents; `_` and `.` are kept between
/// letters; at most [`MAX_SEGMENT_LEN`] bytes.
pub fn path_segment(name: &str) -> Result<String, SegmentError> {
    let mut segment = String::with_capacity(name.len());
    // Separator waiting to be written before the next letter or digit.
    let mut pending: Option<char> = None;
    let mut previous: Option<char> = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let folded = fold(c);
        let Some(folded) = folded else {
            pending = Some(stronger(
                pending,
                if matches!(c, '_' | '.') { c } else { '-' },
            ));
            previous = None;
            continue;
        };
        // A new word starts at a lower-to-upper change (`tubingPressure`),
        // and at a capital after capitals or digits when a lowercase letter
        // follows (`HTTPServer` gives `http-server`, `PT101Flow` gives
        // `pt101-flow`, but `Level2B` gives `level2b`).
        let next_is_lower = chars.peek().is_some_and(|next| next.is_lowercase());
        let word_start = c.is_uppercase()
            && previous.is_some_and(|before| {
                before.is_lowercase()
                    || (before.is_uppercase() || before.is_ascii_digit()) && next_is_lower
            });
        if word_start && pending.is_none() {
            pending = Some('-');
        }
        if let Some(separator) = pending.take()
            && !segment.is_empty()
        {
            segment.push(separator);
        }
        segment.push_str(folded);
        previous = Some(c);
    }
    if segment.is_empty() {
        return Err(SegmentError(name.to_owned()));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        segment.truncate(MAX_SEGMENT_LEN);
        let trimmed = segment.trim_end_matches(['-', '_', '.']).len();
        segment.truncate(trimmed);
    }
    Ok(segment)
}

/// Of two separators met in a row, the one kept: `-` wins over `_` and `.`,
/// so `Gas - Rate` gives `gas-rate`.
fn stronger(pending: Option<char>, separator: char) -> char {
    match pending {
        Some('-') => '-',
        _ => separator,
    }
}

/// `c` as lowercase ASCII letters or digits, if it is a letter or digit
/// Flowline can spell.
fn fold(c: char) -> Option<&'static str> {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    let lower = c.to_ascii_lowercase();
    if lower.is_ascii_lowercase() {
        return Some(ASCII[usize::from(lower as u8 - b'a')]);
    }
    if c.is_ascii_digit() {
        return Some(ASCII[26 + usize::from(c as u8 - b'0')]);
    }
    let mut lowered = c.to_lowercase();
    let single = match (lowered.next(), lowered.next()) {
        (Some(single), None) => single,
        _ => return None,
    };
    Some(match single {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'þ' => "th",
        'ð' => "d",
        _ => return None,
    })
}

/// The children of one parent, named so that no two share a segment.
///
/// Children are added with their segment and a key that orders them (the
/// node id as text). When two or more want one segment, the child with the
/// smallest key keeps it and the others get `-2`, `-3`, … in key order, so
/// the outcome depends only on the server's nodes, never on the order the
/// server listed them in.
#[derive(Debug, Default)]
pub(crate) struct Siblings {
    wanted: BTreeMap<String, Vec<String>>,
}

/// Children that wanted one segment: the segment, and who got which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collision {
    /// The segment they all wanted.
    pub(crate) segment: String,
    /// Each child's key with the segment it was given, in key order.
    pub(crate) given: Vec<(String, String)>,
}

impl Siblings {
    /// Adds a child with key `key` (unique among siblings) wanting
    /// `segment`.
    pub(crate) fn add(&mut self, segment: String, key: String) {
        self.wanted.entry(segment).or_default().push(key);
    }

    /// The segment of every child, by key, and the collisions settled.
    pub(crate) fn settle(self) -> (BTreeMap<String, String>, Vec<Collision>) {
        let mut taken: BTreeSet<String> = self.wanted.keys().cloned().collect();
        let mut names = BTreeMap::new();
        let mut collisions = Vec::new();
        for (segment, mut keys) in self.wanted {
            keys.sort();
            if keys.len() == 1 {
                names.insert(keys.remove(0), segment);
                continue;
            }
            let mut given = Vec::with_capacity(keys.len());
            let mut suffix = 1;
            for (rank, key) in keys.into_iter().enumerate() {
                let name = if rank == 0 {
                    segment.clone()
                } else {
                    loop {
                        suffix += 1;
                        let candidate = suffixed(&segment, suffix);
                        if taken.insert(candidate.clone()) {
                            break candidate;
                        }
                    }
                };
                given.push((key.clone(), name.clone()));
                names.insert(key, name);
            }
            collisions.push(Collision { segment, given });
        }
        (names, collisions)
    }
}

/// `segment-N`, shortened so that it stays within [`MAX_SEGMENT_LEN`].
fn suffixed(segment: &str, number: usize) -> String {
    let suffix = format!("-{number}");
    let keep = segment.len().min(MAX_SEGMENT_LEN - suffix.len());
    format!("{}{suffix}", &segment[..keep])
}

#[cfg(test)]
mod tests {
    use flowline_core::NodePath;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn browse_names_become_lowercase_words_joined_by_dashes() {
        for (name, segment) in [
            ("TubingPressure", "tubing-pressure"),
            ("Pad 1", "pad-1"),
            ("W-01", "w-01"),
            ("ESP", "esp"),
            ("HTTPServer", "http-server"),
            ("PT101", "pt101"),
            ("Motor_Current", "motor_current"),
            ("Gas - Rate", "gas-rate"),
            ("  leading/trailing  ", "leading-trailing"),
            ("Température", "temperature"),
            ("Straße", "strasse"),
            ("flow.rate", "flow.rate"),
            ("_hidden", "hidden"),
            ("Level 2B", "level-2b"),
            ("PT101Flow", "pt101-flow"),
        ] {
            assert_eq!(path_segment(name).unwrap(), segment, "{name}");
        }
    }

    #[test]
    fn names_without_usable_characters_are_an_error_that_quotes_them() {
        let error = path_segment("温度 !!").unwrap_err();
        assert_eq!(error, SegmentError("温度 !!".to_owned()));
        assert!(error.to_string().contains("`温度 !!`"));
        assert!(path_segment("").is_err());
    }

    #[test]
    fn long_names_are_cut_to_the_segment_limit() {
        let segment = path_segment(&"Very Long Name ".repeat(10)).unwrap();
        assert!(segment.len() <= MAX_SEGMENT_LEN);
        assert!(!segment.ends_with('-'));
    }

    #[test]
    fn colliding_siblings_get_numbered_by_node_id_whatever_the_listing_order() {
        let settle = |children: &[(&str, &str)]| {
            let mut siblings = Siblings::default();
            for (segment, key) in children {
                siblings.add((*segment).to_owned(), (*key).to_owned());
            }
            siblings.settle()
        };
        let forward = settle(&[("gas-rate", "ns=2;s=B"), ("gas-rate", "ns=2;s=A")]);
        let backward = settle(&[("gas-rate", "ns=2;s=A"), ("gas-rate", "ns=2;s=B")]);
        assert_eq!(forward.0, backward.0);
        assert_eq!(forward.0["ns=2;s=A"], "gas-rate");
        assert_eq!(forward.0["ns=2;s=B"], "gas-rate-2");
        assert_eq!(forward.1.len(), 1);

        // A suffix never takes a name another sibling has.
        let (names, _) = settle(&[("a", "1"), ("a", "2"), ("a-2", "3")]);
        assert_eq!(names["2"], "a-3");
        assert_eq!(names["3"], "a-2");
    }

    proptest! {
        #[test]
        fn any_browse_name_gives_a_valid_segment_or_a_clear_error(name in "\\PC{0,80}") {
            match path_segment(&name) {
                Ok(segment) => {
                    prop_assert!(NodePath::parse(&segment).is_ok(), "{name:?} gave {segment:?}");
                    prop_assert_eq!(NodePath::parse(&segment).unwrap().depth(), 1);
                    prop_assert_eq!(path_segment(&name).unwrap(), segment, "deterministic");
                }
                Err(error) => {
                    prop_assert!(!name.chars().any(|c| c.is_ascii_alphanumeric()));
                    let quoted = format!("`{name}`");
                    prop_assert!(error.to_string().contains(&quoted));
                }
            }
        }

        #[test]
        fn settled_siblings_have_distinct_valid_names(
            wanted in proptest::collection::vec("[a-c]{1,2}(-[2-3])?", 1..12),
        ) {
            let mut siblings = Siblings::default();
            for (index, segment) in wanted.iter().enumerate() {
                siblings.add(segment.clone(), format!("{index:03}"));
            }
            let (names, _) = siblings.settle();
            prop_assert_eq!(names.len(), wanted.len());
            let mut seen: Vec<&String> = names.values().collect();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), wanted.len());
            for name in names.values() {
                prop_assert!(NodePath::parse(name).is_ok());
            }
        }
    }
}
