//! `fog node`'s configuration inputs, `node::config`: the `fog.toml` in the
//! data directory, seeds files, and sizes such as `--store-size 256M`.
//!
//! Input layout: the first byte picks one (`0` fog.toml, `1` seeds file,
//! `2` size), the rest is the text.
//!
//! Properties: parsing never panics; an accepted `fog.toml` has every value
//! within its flag's bounds, and written back as TOML key by key it parses
//! to the same configuration; an accepted seeds file has no more references
//! than lines that are not blank or comments, and the references printed
//! one a line parse back to the same list; an accepted size is at least
//! 1 MiB and, printed as a number of bytes, parses to itself.
#![no_main]

use std::fmt::Write;
use std::path::Path;

use fogstore::node::Mode;
use fogstore::node::config::{
    COVER_RATE, FileConfig, KEEPALIVE_SECS, MAX_PEERS, REQUEST_BURST, REQUEST_RATE, parse,
    parse_seeds, parse_size,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match mode % 3 {
        0 => fog_toml(text),
        1 => seeds(text),
        _ => size(text),
    }
});

fn fog_toml(text: &str) {
    let dir = Path::new("/var/lib/fog");
    let Ok(config) = parse(text, dir) else {
        return;
    };
    let within = |n: u64, range: std::ops::RangeInclusive<u64>| assert!(range.contains(&n));
    config.cover_rate.map(|n| within(n.into(), COVER_RATE));
    config.max_peers.map(|n| within(n as u64, MAX_PEERS));
    config.keepalive_secs.map(|n| within(n, KEEPALIVE_SECS));
    config.request_rate.map(|n| within(n.into(), REQUEST_RATE));
    config
        .request_burst
        .map(|n| within(n.into(), REQUEST_BURST));
    config.store_size.map(|n| assert!(n >= 1 << 20));
    if let Some(path) = &config.seeds_file {
        assert!(path.starts_with(dir) || path.is_absolute());
    }
    let again = parse(&written(&config), dir).expect("a written config parses");
    assert_eq!(again, config);
}

/// `config` as a `fog.toml` would say it.
fn written(config: &FileConfig) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| writeln!(out, "{key} = {value}").expect("a string");
    let quoted = |text: &str| toml_string(text);
    if let Some(addr) = config.listen {
        line("listen", quoted(&addr.to_string()));
    }
    if let Some(port) = config.api_port {
        line("api_port", port.to_string());
    }
    if let Some(seeds) = &config.seeds {
        let items: Vec<String> = seeds.iter().map(|s| quoted(&s.to_string())).collect();
        line("seeds", format!("[{}]", items.join(", ")));
    }
    if let Some(path) = &config.seeds_file {
        line(
            "seeds_file",
            quoted(path.to_str().expect("the input was UTF-8")),
        );
    }
    if let Some(bytes) = config.store_size {
        line("store_size", quoted(&bytes.to_string()));
    }
    if let Some(mode) = config.mode {
        let name = match mode {
            Mode::Freenet => "freenet",
            Mode::Chord => "chord",
        };
        line("mode", quoted(name));
    }
    let numbers = [
        ("cover_rate", config.cover_rate.map(u64::from)),
        ("max_peers", config.max_peers.map(|n| n as u64)),
        ("keepalive_secs", config.keepalive_secs),
        ("request_rate", config.request_rate.map(u64::from)),
        ("request_burst", config.request_burst.map(u64::from)),
    ];
    for (key, value) in numbers {
        if let Some(n) = value {
            line(key, n.to_string());
        }
    }
    out
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => write!(out, "\\u{:04X}", c as u32).expect("a string"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn seeds(text: &str) {
    let Ok(seeds) = parse_seeds(text) else {
        return;
    };
    let lines = text
        .lines()
        .filter(|l| !l.split('#').next().unwrap_or("").trim().is_empty())
        .count();
    assert_eq!(seeds.len(), lines);
    let printed: String = seeds.iter().map(|s| format!("{s}\n")).collect();
    assert_eq!(parse_seeds(&printed), Ok(seeds));
}

fn size(text: &str) {
    let Ok(bytes) = parse_size(text) else {
        return;
    };
    assert!(bytes >= 1 << 20);
    assert_eq!(parse_size(&bytes.to_string()), Ok(bytes));
}
