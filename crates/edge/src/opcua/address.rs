//! Where a tag's value lives on an OPC UA server: its node id, as the
//! catalog writes it.
//!
//! A catalog binding names a node the way OPC 10000-6 (5.3.1.10) writes
//! node ids as text: `ns=2;s=W-01.TubingPressure` by namespace index, or
//! `nsu=urn:vendor:plant;s=W-01.TubingPressure` by namespace URI. Indexes
//! other than 0 may change when a server is reconfigured; URIs do not, so
//! browse-import writes URIs and the gateway looks them up in the server's
//! namespace array each time it connects ([`Namespaces`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use opcua::types::{Identifier, NodeId};

/// The node of a tag's value on an OPC UA server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeAddress {
    namespace: Namespace,
    identifier: Identifier,
}

/// The namespace of a [`NodeAddress`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Namespace {
    /// An index into the server's namespace array; 0 is the OPC UA
    /// namespace itself.
    Index(u16),
    /// A namespace URI, looked up in the server's namespace array.
    Uri(Arc<str>),
}

/// A text that is not an OPC UA node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OPC UA node id `{text}`: {reason}")]
pub struct NodeAddressError {
    text: String,
    reason: &'static str,
}

/// The namespace URI prefix in text node ids.
const URI_PREFIX: &str = "nsu=";
/// The namespace index prefix in text node ids.
const INDEX_PREFIX: &str = "ns=";
/// How a text node id's identifier starts: numeric, string, GUID, bytes.
const IDENTIFIER_PREFIXES: [&str; 4] = ["i=", "s=", "g=", "b="];
/// Why an identifier is refused.
const EXPECTED_IDENTIFIER: &str = "expected i=NUMBER, s=TEXT, g=GUID or b=BASE64 as the identifier";

impl NodeAddress {
    /// The address of `node`, naming its namespace by URI when `namespaces`
    /// knows it and the namespace is not the OPC UA one (index 0).
    pub fn of(node: &NodeId, namespaces: &Namespaces) -> NodeAddress {
        let namespace = match namespaces.uri(node.namespace) {
            Some(uri) if node.namespace != 0 => Namespace::Uri(Arc::from(uri)),
            _ => Namespace::Index(node.namespace),
        };
        NodeAddress {
            namespace,
            identifier: node.identifier.clone(),
        }
    }

    /// The node id on a server with these `namespaces`; an error names the
    /// URI the server does not know.
    pub fn resolve(&self, namespaces: &Namespaces) -> Result<NodeId, String> {
        let index = match &self.namespace {
            Namespace::Index(index) => *index,
            Namespace::Uri(uri) => namespaces.index(uri).ok_or_else(|| {
                format!(
                    "namespace `{uri}` of {self} is not in the server's namespace array \
                     ({} namespaces)",
                    namespaces.len()
                )
            })?,
        };
        Ok(NodeId::new(index, self.identifier.clone()))
    }
}

impl FromStr for NodeAddress {
    type Err = NodeAddressError;

    /// Reads `[ns=INDEX;|nsu=URI;](i=|s=|g=|b=)IDENTIFIER`. In a URI, `;`
    /// and `%` are written `%3B` and `%25`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| NodeAddressError {
            text: text.to_owned(),
            reason,
        };
        let (namespace, identifier) = if let Some(rest) = text.strip_prefix(URI_PREFIX) {
            let (uri, identifier) = rest
                .split_once(';')
                .ok_or_else(|| error("expected `;` after the namespace URI"))?;
            if uri.is_empty() {
                return Err(error("the namespace URI is empty"));
            }
            (Namespace::Uri(Arc::from(unescape(uri))), identifier)
        } else if let Some(rest) = text.strip_prefix(INDEX_PREFIX) {
            let (index, identifier) = rest
                .split_once(';')
                .ok_or_else(|| error("expected `;` after the namespace index"))?;
            let index = index
                .parse::<u16>()
                .map_err(|_| error("expected a namespace index from 0 to 65535"))?;
            (Namespace::Index(index), identifier)
        } else {
            (Namespace::Index(0), text)
        };
        // async-opcua slices off the first two bytes, which panics inside a
        // character of more than one byte: check the prefix first.
        let known = IDENTIFIER_PREFIXES
            .iter()
            .any(|prefix| identifier.starts_with(prefix));
        if !known {
            return Err(error(EXPECTED_IDENTIFIER));
        }
        let identifier = identifier
            .parse::<Identifier>()
            .map_err(|()| error(EXPECTED_IDENTIFIER))?;
        Ok(NodeAddress {
            namespace,
            identifier,
        })
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Namespace::Index(0) => {}
            Namespace::Index(index) => write!(f, "{INDEX_PREFIX}{index};")?,
            Namespace::Uri(uri) => write!(f, "{URI_PREFIX}{};", escape(uri))?,
        }
        write!(f, "{}", self.identifier)
    }
}

fn escape(uri: &str) -> String {
    uri.replace('%', "%25").replace(';', "%3B")
}

fn unescape(uri: &str) -> String {
    uri.replace("%3B", ";")
        .replace("%3b", ";")
        .replace("%25", "%")
}

/// A server's namespace array: namespace URIs by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespaces {
    uris: Vec<String>,
}

impl Namespaces {
    /// The namespace array `uris`, index 0 first.
    pub fn new(uris: Vec<String>) -> Self {
        Namespaces { uris }
    }

    /// The index of `uri`.
    pub fn index(&self, uri: &str) -> Option<u16> {
        let index = self.uris.iter().position(|known| known == uri)?;
        u16::try_from(index).ok()
    }

    /// The URI at `index`.
    pub fn uri(&self, index: u16) -> Option<&str> {
        self.uris.get(usize::from(index)).map(String::as_str)
    }

    /// How many namespaces the server has.
    pub fn len(&self) -> usize {
        self.uris.len()
    }

    /// Whether the array is empty (never, on a working server).
    pub fn is_empty(&self) -> bool {
        self.uris.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces() -> Namespaces {
        Namespaces::new(vec![
            "http://opcfoundation.org/UA/".to_owned(),
            "urn:server".to_owned(),
            "urn:plant;north".to_owned(),
        ])
    }

    #[test]
    fn addresses_by_index_and_by_uri_resolve_to_the_same_node() {
        let by_index: NodeAddress = "ns=2;s=W-01.Pressure".parse().unwrap();
        let by_uri: NodeAddress = "nsu=urn:plant%3Bnorth;s=W-01.Pressure".parse().unwrap();
        let node = by_index.resolve(&namespaces()).unwrap();
        assert_eq!(node, NodeId::new(2, "W-01.Pressure"));
        assert_eq!(by_uri.resolve(&namespaces()).unwrap(), node);
        assert_eq!(NodeAddress::of(&node, &namespaces()), by_uri);
        assert_eq!(by_uri.to_string(), "nsu=urn:plant%3Bnorth;s=W-01.Pressure");
    }

    #[test]
    fn the_opc_ua_namespace_is_written_without_a_prefix() {
        let server_status: NodeAddress = "i=2256".parse().unwrap();
        assert_eq!(server_status.to_string(), "i=2256");
        let node = server_status.resolve(&namespaces()).unwrap();
        assert_eq!(NodeAddress::of(&node, &namespaces()).to_string(), "i=2256");
        assert_eq!(
            "ns=0;i=85".parse::<NodeAddress>().unwrap().to_string(),
            "i=85"
        );
    }

    #[test]
    fn an_unknown_namespace_uri_is_named() {
        let address: NodeAddress = "nsu=urn:elsewhere;i=7".parse().unwrap();
        let error = address.resolve(&namespaces()).unwrap_err();
        assert_eq!(
            error,
            "namespace `urn:elsewhere` of nsu=urn:elsewhere;i=7 is not in the server's \
             namespace array (3 namespaces)"
        );
    }

    #[test]
    fn an_identifier_starting_with_a_multibyte_character_is_an_error_not_a_panic() {
        // Each has a character that straddles byte 2 of the identifier.
        for text in ["\u{FFFD}s=3", "ns=1;\u{1F6E2}", "nsu=urn:x;i\u{e9}"] {
            let error = text.parse::<NodeAddress>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid OPC UA node id `{text}`: {EXPECTED_IDENTIFIER}")
            );
        }
    }

    #[test]
    fn malformed_node_ids_say_what_was_expected() {
        for (text, reason) in [
            ("ns=x;i=1", "expected a namespace index from 0 to 65535"),
            ("ns=2", "expected `;` after the namespace index"),
            ("nsu=;i=1", "the namespace URI is empty"),
            ("nsu=urn:x", "expected `;` after the namespace URI"),
            (
                "ns=2;q=1",
                "expected i=NUMBER, s=TEXT, g=GUID or b=BASE64 as the identifier",
            ),
            (
                "i=-1",
                "expected i=NUMBER, s=TEXT, g=GUID or b=BASE64 as the identifier",
            ),
        ] {
            let error = text.parse::<NodeAddress>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("invalid OPC UA node id `{text}`: {reason}")
            );
        }
    }
}
