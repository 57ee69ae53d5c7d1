//! `NodeRef`'s `FromStr`: node references, `fog:<public key>@<host>:<port>`,
//! as seeds files, `--seed` flags and the saved peers file carry them.
//!
//! Properties: parsing never panics; an accepted reference prints as text
//! that parses back to the same reference, and printing is a fixed point
//! (the printed text prints the same again); the reference survives the
//! wire encoding (inside an `Announce` message) unchanged, since the text
//! form accepts only addresses the wire can carry.
#![no_main]

use fogstore::wire::{self, Message, NodeRef, RequestId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(node) = text.parse::<NodeRef>() else {
        return;
    };
    let printed = node.to_string();
    let again = printed.parse::<NodeRef>();
    assert_eq!(again.as_ref(), Ok(&node), "{printed:?} does not parse back");
    assert_eq!(
        again.map(|n| n.to_string()).as_deref(),
        Ok(printed.as_str())
    );
    let msg = Message::Announce {
        id: RequestId(1),
        htl: 7,
        joiner: node,
        commitment: [0; 32],
    };
    let bytes = wire::encode(&msg).expect("an announce encodes");
    assert_eq!(wire::decode(&bytes), Ok(msg));
});
