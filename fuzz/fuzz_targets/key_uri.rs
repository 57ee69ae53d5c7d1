//! `Key`'s `FromStr`: `CHK@`, `SSK@`, `SSK-INSERT@` and `KSK@` URIs.
//!
//! Properties: parsing never panics; an accepted URI prints back byte for
//! byte, except that the case-insensitive type prefix comes back in upper
//! case, and the printed form parses to the same key; deriving the key's
//! node key (which for KSKs and insert keys derives key pairs) never panics.
#![no_main]

use fogstore::key::{Key, MAX_URI_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = text.parse::<Key>() else {
        return;
    };
    assert!(text.len() <= MAX_URI_LEN);
    let printed = key.to_string();
    let (prefix, rest) = text.split_once('@').expect("an accepted URI has an @");
    assert_eq!(
        printed,
        format!("{}@{rest}", prefix.to_ascii_uppercase()),
        "an accepted URI does not print back as it was written"
    );
    assert_eq!(printed.parse::<Key>().as_ref(), Ok(&key));
    let node_key = key.node_key();
    assert_eq!(key.routing_key(), node_key.routing);
    if let Key::SskInsert(insert) = &key {
        let public = Key::Ssk(insert.to_public());
        assert_eq!(public.node_key(), node_key);
        assert_eq!(public.to_string().parse::<Key>().as_ref(), Ok(&public));
    }
});
