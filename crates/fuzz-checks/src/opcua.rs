//! OPC UA node ids as catalog bindings and browse-import write them.

use flowline_edge::opcua::NodeAddress;

/// A node id text parses or is refused with an error quoting it; what
/// parses prints a text that reads back to the same node, and printing
/// that again gives the same text.
pub fn node_address(data: &[u8]) {
    crate::text_round_trip::<NodeAddress>(data);
}
