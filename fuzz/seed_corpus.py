#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs, fuzz/seeds/<target>/, from keys/.

The known-answer vectors in keys/ give URIs, keys, documents and names;
this script turns them into inputs in each target's layout (see the doc
comment at the top of each fuzz_targets/*.rs), building wire messages,
frames and manifests by the byte layouts of docs/protocol.md. The output
is deterministic: run it again after changing keys/ or a target's layout.

    python3 fuzz/seed_corpus.py
"""

import base64
import hashlib
import ipaddress
import json
import shutil
import sys
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
KEYS = FUZZ.parent / "keys"
SEEDS = FUZZ / "seeds"

BLOCK_CAPACITY = 32 * 1024 - 8
FRAME_SIZE = 1024 - 16


def load(name):
    with open(KEYS / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


CHK = load("chk")
SSK = load("ssk")
KSK = load("ksk")
SPLITFILE = load("splitfile")
INVALID = load("invalid-uris")


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def document(spec, limit=64):
    """A vector's document, cut to `limit` bytes (seeds stay small);
    pseudo-random streams are replaced by their seed text."""
    if "text" in spec:
        raw = spec["text"].encode()
    elif "hex" in spec:
        raw = bytes.fromhex(spec["hex"])
    elif "repeat" in spec:
        raw = bytes([spec["repeat"]["byte"]]) * spec["repeat"]["length"]
    else:
        raw = spec["stream"]["seed"].encode()
    return raw[:limit]


CHK_ROUTING = [bytes.fromhex(v["expect"]["routing_key"]) for v in CHK if "expect" in v]
CHK_CRYPTO = [bytes.fromhex(v["expect"]["crypto_key"]) for v in CHK if "expect" in v]
SSK_ROUTING = [bytes.fromhex(v["expect"]["routing_key"]) for v in SSK]
PUBLIC_KEYS = [bytes.fromhex(v["expect"]["public_key"]) for v in SSK] + [
    bytes.fromhex(v["expect"]["public_key"]) for v in KSK
]

# ---- wire messages (docs/protocol.md, "Messages and frames") ----


def u8(n):
    return struct.pack(">B", n)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def node_key(kind, routing):
    return u8(kind) + routing


def node_ref(identity, ip, port):
    if ":" in ip:
        return identity + u8(6) + ipaddress.IPv6Address(ip).packed + u16(port)
    return identity + u8(4) + bytes(int(p) for p in ip.split(".")) + u16(port)


def chord_peer(location, ref):
    return u64(location) + ref


def location(routing):
    return int.from_bytes(routing[:8], "big")


REF4 = node_ref(PUBLIC_KEYS[0], "192.0.2.1", 9000)
REF6 = node_ref(PUBLIC_KEYS[-1], "2001:db8::1", 443)


def messages():
    """Complete messages without blocks, and headers of block-carrying
    ones (ending in the block kind byte; the target appends the block)."""
    r0, r1 = CHK_ROUTING[0], SSK_ROUTING[0]
    peer4 = chord_peer(location(r0), REF4)
    peer6 = chord_peer(location(r1), REF6)
    yield "request-chk", u8(0x01) + u64(1) + node_key(1, r0) + u8(18)
    yield "request-ssk", u8(0x01) + u64(2) + node_key(2, r1) + u8(10)
    yield "insert-chk-header", u8(0x02) + u64(3) + node_key(1, r0) + u8(18) + REF4 + u8(1)
    yield "insert-ssk-header", u8(0x02) + u64(4) + node_key(2, r1) + u8(18) + REF6 + u8(2)
    yield "data-found-header", u8(0x03) + u64(5) + REF6 + u8(1)
    yield "data-not-found", u8(0x04) + u64(6)
    yield "route-not-found", u8(0x05) + u64(7) + u8(3)
    yield "rejected-loop", u8(0x06) + u64(8)
    yield "insert-reply", u8(0x07) + u64(9)
    yield "announce", u8(0x08) + u64(10) + u8(5) + REF4 + CHK_CRYPTO[0]
    yield "announce-reply", u8(0x09) + u64(11) + u8(3) + b"".join(CHK_CRYPTO[:3])
    yield "announce-complete", u8(0x0A) + u64(12) + u8(2) + b"".join(CHK_CRYPTO[3:5])
    yield "ping", u8(0x0B) + u64(0x0123456789ABCDEF)
    yield "pong", u8(0x0C) + u64(0x0123456789ABCDEF)
    yield "stem-request", u8(0x0D) + u64(13) + node_key(1, r0)
    yield "stem-insert-header", u8(0x0E) + u64(14) + node_key(2, r1) + u8(2)
    yield "insert-offer", u8(0x0F) + u64(15) + node_key(1, r0) + u8(18) + REF6
    yield "insert-accepted", u8(0x10) + u64(16)
    yield "insert-data-header", u8(0x11) + u64(17) + u8(1)
    yield "find-successor", u8(0x20) + u64(18) + u64(location(r0)) + u8(0)
    yield "successor-found", u8(0x21) + u64(19) + peer6 + u8(4)
    yield "notify", u8(0x22) + peer4
    yield "get-predecessor", u8(0x23) + u64(20)
    yield "predecessor-none", u8(0x24) + u64(21) + u8(0)
    yield "predecessor", u8(0x24) + u64(22) + u8(1) + peer4
    yield "get-successor-list", u8(0x25) + u64(23)
    yield "successor-list", u8(0x26) + u64(24) + u8(2) + peer4 + peer6
    yield "store-transfer-header", u8(0x27) + u64(25) + node_key(1, r0) + u8(1)
    yield "transfer-ack", u8(0x28) + u64(26)
    yield "leave", u8(0x29) + u8(1) + peer6 + u8(1) + peer4
    yield "store-offer", u8(0x2A) + u64(27) + u8(2) + node_key(1, r0) + node_key(2, r1)
    yield "store-want", u8(0x2B) + u64(28) + u8(1) + node_key(1, CHK_ROUTING[1])


def compact_frames(msg, block_len=0):
    """wire_frames' compact layout (first byte odd): a start frame, then
    the continuation frames the message's full length needs. Block bytes
    (zeros) are left to the frames' zero fill."""
    total = len(msg) + block_len
    start = u32(total) + msg[: FRAME_SIZE - 5]
    out = b"\x01" + u8(0x01) + u8(min(len(start), 255)) + start[:255]
    left = total - min(total, FRAME_SIZE - 5)
    while left > 0:
        out += u8(0x02) + u8(0)
        left -= min(left, FRAME_SIZE - 1)
    return out


def wire_frames():
    sizes = {1: 32 * 1024 + 16, 2: 32 * 1024 + 16 + 140}
    for name, msg in messages():
        if name.endswith("-header"):
            yield name, compact_frames(msg, sizes[msg[-1]])
        else:
            yield name, compact_frames(msg)
    # The raw layout (first byte even): whole frames.
    ping = dict(messages())["ping"]
    start = bytes([0x01]) + u32(len(ping)) + ping
    yield "raw-ping-then-padding", b"\x00" + start.ljust(FRAME_SIZE, b"\0") + bytes(FRAME_SIZE)
    yield "raw-rekey", b"\x00" + b"\x03"
    yield "padding-between", b"\x01" + b"\x00\x00" + compact_frames(ping)[1:] + b"\x00\x00"


# ---- the other targets ----


def key_uris():
    for v in CHK:
        if "expect" in v:
            yield "chk-" + v["name"], v["expect"]["uri"].encode()
    for v in SSK:
        yield "ssk-insert-" + v["name"], v["expect"]["insert_uri"].encode()
        yield "ssk-" + v["name"], v["expect"]["request_uri"].encode()
    for v in KSK:
        yield "ksk-" + v["uri"], v["uri"].encode()
    for v in SPLITFILE:
        yield "splitfile-" + v["name"], v["expect"]["uri"].encode()
    for i, v in enumerate(INVALID):
        if len(v["uri"]) <= 300:
            yield f"invalid-{i}-{v['error']}", v["uri"].encode()
    yield "lower-case-prefix", CHK[2]["expect"]["uri"].replace("CHK@", "chk@").encode()


def node_refs():
    addrs = ["127.0.0.1:9000", "192.0.2.1:1", "[::1]:9000", "[2001:db8::1]:443",
             "[::ffff:192.0.2.1]:80", "0.0.0.0:0"]
    for i, key in enumerate(PUBLIC_KEYS):
        yield f"ref-{i}", f"fog:{b64(key)}@{addrs[i % len(addrs)]}".encode()
    key = b64(PUBLIC_KEYS[0])
    yield "scope-id", f"fog:{key}@[fe80::1%2]:9000".encode()
    yield "host-name", f"fog:{key}@localhost:9000".encode()
    yield "no-at", f"fog:{key}".encode()
    yield "padded", f"fog:{key}=@127.0.0.1:9000".encode()
    yield "short-key", b"fog:AAEC@127.0.0.1:9000"


def api_tokens():
    for i, key in enumerate(CHK_ROUTING[:4]):
        yield f"token-{i}", key.hex().encode()
    yield "upper-case", CHK_CRYPTO[0].hex().upper().encode()
    yield "trailing-newline", CHK_CRYPTO[1].hex().encode() + b"\n"
    yield "too-short", CHK_CRYPTO[2].hex()[:62].encode()


def blocks():
    # Mode 0, raw: kind, routing, crypto, seed, then block bytes.
    for kind in (0, 1):
        yield f"raw-{kind}", b"\x00" + u8(kind) + CHK_ROUTING[0] + CHK_CRYPTO[0] + bytes(32) + b"block"
    # Mode 1, CHK round trip: kind, mask, position (u32), document.
    for i, v in enumerate(CHK):
        doc = document(v["document"])
        yield f"chk-{i}", b"\x01" + u8(i % 2) + u8(0x80) + u32(i * 4099) + doc
    # Mode 2, CHK plaintext: header (kind, reserved, length) and document.
    for i, v in enumerate(CHK[:4]):
        doc = document(v["document"])
        yield f"chk-plain-{i}", b"\x02" + u8(0) + bytes(3) + u32(len(doc)) + doc
    yield "chk-plain-bad-length", b"\x02" + u8(1) + bytes(3) + u32(BLOCK_CAPACITY + 1)
    # Mode 3, SSK/KSK round trip: flags, mask, position, author (8), name, document.
    for i, v in enumerate(SSK):
        name = v["doc_name"].encode()
        doc = document(v["document"])
        seed = bytes.fromhex(v["signing_seed"])[:8]
        yield f"ssk-{i}", b"\x03" + u8(0) + u8(1) + u32(i * 7919) + seed + u8(len(name)) + name + doc
    for i, v in enumerate(KSK):
        name = v["uri"][4:].encode()
        doc = document(v["document"])
        yield f"ksk-{i}", b"\x03" + u8(1) + u8(4) + u32(i * 104729) + bytes(8) + u8(len(name)) + name + doc
    # Mode 4, SSK plaintext: author, name, nonce, plaintext.
    for i, v in enumerate(SSK[:3]):
        name = v["doc_name"].encode()
        doc = document(v["document"])
        nonce = bytes.fromhex(v["expect"]["nonce"])
        seed = bytes.fromhex(v["signing_seed"])[:8]
        yield f"ssk-plain-{i}", b"\x04" + seed + u8(len(name)) + name + nonce + u8(0) + bytes(3) + u32(len(doc)) + doc


def manifest(level, total, entries):
    body = b"".join(routing + crypto for routing, crypto in entries)
    return b"FOGM" + u8(1) + u8(level) + bytes(2) + u64(total) + u32(len(entries)) + body


def splitfiles():
    keys = list(zip(CHK_ROUTING, CHK_CRYPTO))
    # Parse mode (first byte even): manifest bytes.
    yield "parse-two-blocks", b"\x00" + manifest(1, BLOCK_CAPACITY + 1, keys[:2])
    yield "parse-five-blocks", b"\x00" + manifest(1, 5 * BLOCK_CAPACITY, keys[:5])
    yield "parse-level-two", b"\x00" + manifest(2, 511 * BLOCK_CAPACITY + 1, keys[:2])
    yield "parse-bad-count", b"\x00" + manifest(1, BLOCK_CAPACITY, keys[:2])
    yield "parse-bad-magic", b"\x00FOGX" + manifest(1, 1, keys[:1])[4:]

    # Fetch mode (first byte odd): block descriptions.
    def data(fill, length, prefix=b""):
        return u8(fill << 2) + u16(length) + u8(len(prefix)) + prefix

    def node(level, total, children):
        return b"\x01" + u8(level) + u64(total) + u16(len(children)) + bytes(children)

    for v in SPLITFILE:
        blocks = v["expect"]["data_blocks"]
        length = (blocks - 1) * BLOCK_CAPACITY + 1 if "over" in v["name"] or "nested" in v["name"] else blocks * BLOCK_CAPACITY
        name = v["name"].split(" (")[0].replace(" ", "-").replace(":", "")
        if blocks == 1:
            yield f"fetch-{name}", b"\x01" + data(1, BLOCK_CAPACITY)
        elif blocks <= 5:
            full = data(1, BLOCK_CAPACITY)
            last_len = length - (blocks - 1) * BLOCK_CAPACITY
            last = data(2, last_len)
            # blocks 0 (full) and 1 (last); the manifest lists 0 ... 0, 1.
            children = [0] * (blocks - 1) + [1] if last_len != BLOCK_CAPACITY else [0] * blocks
            yield f"fetch-{name}", b"\x01" + full + last + node(1, length, children)
        else:
            # 511 full blocks and one byte: a level-2 top over a full
            # level-1 manifest and a one-entry one.
            full, last = data(1, BLOCK_CAPACITY), data(2, 1)
            left = node(1, 511 * BLOCK_CAPACITY, [0] * 511)
            right = node(1, 1, [1])
            top = node(2, 511 * BLOCK_CAPACITY + 1, [2, 3])
            yield f"fetch-{name}", b"\x01" + full + last + left + right + top
    yield "fetch-small-data", b"\x01" + data(0, 13, b"hello, world\n")
    yield "fetch-not-minimal", b"\x01" + data(3, 10) + node(1, 10, [0])


def node_configs():
    # Mode 0, fog.toml: the README's example keys, each kind of value.
    text_refs = [f"fog:{b64(PUBLIC_KEYS[0])}@192.0.2.1:9000",
                 f"fog:{b64(PUBLIC_KEYS[-1])}@[2001:db8::1]:443"]
    seeds = ", ".join(f'"{r}"' for r in text_refs)
    yield "toml-full", b"\x00" + (
        'listen = "127.0.0.1:9000"\napi_port = 0\n'
        f"seeds = [{seeds}]\n"
        'seeds_file = "seeds.txt"\nstore_size = "256M"\nmode = "freenet"\n'
        "cover_rate = 20\nmax_peers = 64\nkeepalive_secs = 15\n"
        "request_rate = 200\nrequest_burst = 400\n").encode()
    yield "toml-chord", b'\x00mode = "chord"\nstore_size = 1048576\n'
    yield "toml-unknown-key", b"\x00max_peer = 3\n"
    yield "toml-out-of-range", b"\x00max_peers = 0\ncover_rate = 100000\n"
    yield "toml-bad", b"\x00listen = = 1\n"
    # Mode 1, seeds file: references, comments, blank lines.
    lines = ["# seeds", text_refs[0], "", f"{text_refs[1]}  # the second", "   "]
    yield "seeds-file", b"\x01" + "\n".join(lines).encode()
    yield "seeds-bad-line", b"\x01" + f"{text_refs[0]}\nfog:broken\n".encode()
    # Mode 2, sizes.
    for text in ["256M", "2g", "4096K", "1048576", "1K", "12Q", "99999999999G"]:
        yield f"size-{text}", b"\x02" + text.encode()


def handshakes():
    # Mode 0, raw records: zeros, a record and a half.
    yield "raw-zeros", b"\x00" + bytes(1024) * 3
    yield "raw-short", b"\x00" + bytes(1536)
    # Mode 1, message 3 payloads: none, IPv4, IPv6, a stray byte, bad family.
    yield "payload-none", b"\x01"
    yield "payload-v4", b"\x01" + bytes([4, 127, 0, 0, 1]) + u16(9000)
    yield "payload-v6", b"\x01" + bytes([6]) + bytes(15) + b"\x01" + u16(443)
    yield "payload-stray", b"\x01" + bytes([4, 127, 0, 0, 1]) + u16(9000) + bytes(100) + b"\x01"
    yield "payload-family", b"\x01\x05"
    # Mode 2, tamper: message 1 or 3, an offset, a mask.
    yield "tamper-none", b"\x02\x00\x00\x00"
    yield "tamper-1-key", b"\x02\x00\x00\x05\x01"
    yield "tamper-3-tag", b"\x02\x01\x03\xff\x80"


TARGETS = {
    "wire_message": messages,
    "wire_frames": wire_frames,
    "key_uri": key_uris,
    "block": blocks,
    "splitfile": splitfiles,
    "node_ref": node_refs,
    "api_token": api_tokens,
    "node_config": node_configs,
    "handshake": handshakes,
}


def main():
    # With target names as arguments, only their seeds are rewritten.
    wanted = sys.argv[1:] or list(TARGETS)
    for target, make in TARGETS.items():
        if target not in wanted:
            continue
        out = SEEDS / target
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        seen = set()
        for name, data in make():
            digest = hashlib.sha1(data).hexdigest()[:10]
            if digest in seen:
                continue
            seen.add(digest)
            slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:48]
            (out / f"{slug}-{digest}").write_bytes(data)
        print(f"{target}: {len(seen)} seeds")


if __name__ == "__main__":
    main()
