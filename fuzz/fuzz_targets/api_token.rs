//! `node::api::Token::from_hex`: the API token, as a client reads it from
//! the data directory's token file.
//!
//! Properties: parsing never panics; an accepted token prints as 64
//! lowercase hex digits that parse back to the same token; and the text
//! accepted is exactly that, trimmed and in any case (a `+` sign, which
//! `u8::from_str_radix` would take, is refused).
#![no_main]

use fogstore::node::api::Token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(token) = Token::from_hex(text) else {
        return;
    };
    let hex = token.to_hex();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(Token::from_hex(&hex) == Some(token));
    let written = text.trim().to_ascii_lowercase();
    assert_eq!(written, hex, "{text:?} is accepted as the token {hex}");
});
