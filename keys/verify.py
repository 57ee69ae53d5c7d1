#!/usr/bin/env python3
"""Independent checker for the fogstore known-answer vectors in keys/.

This is a second, standalone implementation of the keys, URIs and encrypted
blocks of the fogstore protocol (sections 1-8 of docs/protocol.md). It was
written from docs/protocol.md and the JSON vector files alone, without
reading the Rust sources, to show that the document is enough to
interoperate. It implements the tagged hash, the block plaintext (section 3),
CHK encoding/verification/decoding (section 4), SSK derivations, block
layout, signing, node verification and decoding (section 5), KSK derivation
(section 6), URI formatting and a URI parser that reports the errors of
section 7.2 in the specified order (section 7), and the document generators
of section 8.

It also implements the splitfile tree (section 12) and the redirect a
signed block holds for a document over one block (section 12.8), for
keys/splitfile.json and keys/redirect.json.

For every vector in keys/chk.json, keys/ssk.json, keys/ksk.json and
keys/invalid-uris.json it recomputes every expected field, decodes each
block it produced back to the document, checks that a node accepts the
block, and that flipping a byte of the block makes the node reject it. It
prints one line per vector ("ok ..." or "FAIL ...: field X expected ... got
..."), then a final line "N passed, M failed", and exits 0 only if nothing
failed.

Run:
    pip install cryptography
    python3 keys/verify.py

The only dependency outside the standard library is the `cryptography`
package (ChaCha20-Poly1305 and Ed25519). The script finds the JSON files
next to itself, so it can be run from any working directory. It needs
Python 3.8 or later (developed with 3.11).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

# --------------------------------------------------------------------------
# Section 1: conventions
# --------------------------------------------------------------------------

TAG_CHK_CRYPTO_KEY = "fogstore/chk/crypto-key"
TAG_SSK_NAME_HASH = "fogstore/ssk/name-hash"
TAG_SSK_ROUTING_KEY = "fogstore/ssk/routing-key"
TAG_SSK_CONTENT_KEY = "fogstore/ssk/content-key"
TAG_SSK_NONCE = "fogstore/ssk/nonce"
TAG_SSK_SIGNATURE = "fogstore/ssk/signature"
TAG_KSK_SIGNING_SEED = "fogstore/ksk/signing-seed"
TAG_KSK_CRYPTO_KEY = "fogstore/ksk/crypto-key"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tagged_hash(tag: str, *parts: bytes) -> bytes:
    """H(tag; p1, p2, ...) = SHA-256(ascii(tag) || 0x00 || p1 || p2 || ...)."""
    h = hashlib.sha256(tag.encode("ascii") + b"\x00")
    for p in parts:
        h.update(p)
    return h.digest()


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439), empty associated data, tag appended."""
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)


def aead_decrypt(key: bytes, nonce: bytes, sealed: bytes) -> bytes:
    """Raises DecodeError if the tag does not verify."""
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, sealed, None)
    except InvalidTag:
        raise DecodeError("AEAD tag does not verify") from None


# base64url without padding (RFC 4648 section 5), canonical only.

_B64URL_ALPHABET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)


class Base64Error(ValueError):
    pass


def b64_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; any other spelling is an error.

    Rejects '=' padding, characters outside A-Z a-z 0-9 - _, lengths that no
    encoding has (length % 4 == 1), and non-zero unused trailing bits, so that
    every byte string has exactly one accepted spelling.
    """
    for ch in text:
        if ch not in _B64URL_ALPHABET:
            raise Base64Error(f"character {ch!r} outside the base64url alphabet")
    if len(text) % 4 == 1:
        raise Base64Error(f"no base64 encoding has {len(text)} characters")
    padded = text + "=" * (-len(text) % 4)
    data = base64.b64decode(padded, altchars=b"-_", validate=True)
    if b64_encode(data) != text:
        raise Base64Error("unused trailing bits are not zero")
    return data


# Ed25519 point arithmetic, used only for the checks that the `cryptography`
# package does not expose: point validity (for BadPublicKey and node
# verification) and the small-order tests of strict verification.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1, 1, 0)  # extended coordinates (X, Y, Z, T)


def _point_add(p1, p2):
    # RFC 8032 section 5.1.4, add-2008-hwcd-3.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_is_identity(pt) -> bool:
    x, y, z, _ = pt
    return x % _P == 0 and (y - z) % _P == 0


def point_decompress(enc: bytes):
    """Decode a 32-byte Ed25519 point as RFC 8032 section 5.1.3 says.

    Returns the point in extended coordinates, or None if `enc` is not the
    canonical encoding of a point on the curve (y >= p, no square root, or
    x = 0 with the sign bit set are all rejected).
    """
    if len(enc) != 32:
        return None
    y = int.from_bytes(enc, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx == u:
        pass
    elif vxx == (-u) % _P:
        x = x * _SQRT_M1 % _P
    else:
        return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def point_is_small_order(pt) -> bool:
    """True if [8]pt is the identity (pt lies in the torsion subgroup)."""
    q = pt
    for _ in range(3):
        q = _point_add(q, q)
    return _point_is_identity(q)


def is_valid_public_key(enc: bytes) -> bool:
    """Section 1, valid public key: the canonical encoding of a curve point
    that is not of small order."""
    point = point_decompress(enc)
    return point is not None and not point_is_small_order(point)


def ed25519_public_key(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify_strict(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Strict Ed25519 verification as section 1 specifies.

    S must be canonical (S < L); A and R must decode and must not be of small
    order; the equation is the cofactorless [S]B = R + [k]A (which is what
    `cryptography`/OpenSSL checks, by recomputing R and comparing encodings).
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    if int.from_bytes(signature[32:], "little") >= _L:
        return False
    a_point = point_decompress(public_key)
    r_point = point_decompress(signature[:32])
    if a_point is None or r_point is None:
        return False
    if point_is_small_order(a_point) or point_is_small_order(r_point):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def location(routing_key: bytes) -> int:
    """Section 2: the first 8 bytes of a routing key as a big-endian u64."""
    return int.from_bytes(routing_key[:8], "big")


# --------------------------------------------------------------------------
# Section 3: block plaintext
# --------------------------------------------------------------------------

BLOCK_SIZE = 32768
BLOCK_CAPACITY = 32760
KIND_DATA = 0
KIND_MANIFEST = 1


class EncodeError(ValueError):
    pass


class DecodeError(ValueError):
    pass


def encode_plaintext(document: bytes, kind: int = KIND_DATA) -> bytes:
    n = len(document)
    if n > BLOCK_CAPACITY:
        raise EncodeError(
            f"document of {n} bytes exceeds the single-block capacity of "
            f"{BLOCK_CAPACITY} bytes"
        )
    if kind not in (KIND_DATA, KIND_MANIFEST):
        raise EncodeError(f"unknown content kind {kind}")
    plaintext = (
        bytes([kind, 0, 0, 0])
        + n.to_bytes(4, "big")
        + document
        + bytes(BLOCK_CAPACITY - n)
    )
    assert len(plaintext) == BLOCK_SIZE
    return plaintext


def decode_plaintext(plaintext: bytes) -> tuple[int, bytes]:
    """Returns (content kind, document); raises DecodeError if malformed."""
    if len(plaintext) != BLOCK_SIZE:
        raise DecodeError(f"plaintext of {len(plaintext)} bytes, not {BLOCK_SIZE}")
    kind = plaintext[0]
    if kind not in (KIND_DATA, KIND_MANIFEST):
        raise DecodeError(f"unknown content kind {kind}")
    if plaintext[1:4] != b"\x00\x00\x00":
        raise DecodeError("reserved bytes are not zero")
    n = int.from_bytes(plaintext[4:8], "big")
    if n > BLOCK_CAPACITY:
        raise DecodeError(f"document length {n} exceeds {BLOCK_CAPACITY}")
    if any(plaintext[8 + n :]):
        raise DecodeError("padding is not all zero")
    return kind, plaintext[8 : 8 + n]


# --------------------------------------------------------------------------
# Section 4: CHK
# --------------------------------------------------------------------------

CHK_BLOCK_LEN = BLOCK_SIZE + 16  # 32784
CHK_NONCE = bytes(12)


def chk_encode(document: bytes, kind: int = KIND_DATA):
    """Returns (routing key R, crypto key K, block B)."""
    plaintext = encode_plaintext(document, kind)
    crypto_key = tagged_hash(TAG_CHK_CRYPTO_KEY, plaintext)
    block = aead_encrypt(crypto_key, CHK_NONCE, plaintext)
    assert len(block) == CHK_BLOCK_LEN
    return sha256(block), crypto_key, block


def chk_node_verify(routing_key: bytes, block: bytes) -> bool:
    return len(block) == CHK_BLOCK_LEN and sha256(block) == routing_key


def chk_decode(routing_key: bytes, crypto_key: bytes, block: bytes) -> tuple[int, bytes]:
    if not chk_node_verify(routing_key, block):
        raise DecodeError("block fails node verification")
    plaintext = aead_decrypt(crypto_key, CHK_NONCE, block)
    if tagged_hash(TAG_CHK_CRYPTO_KEY, plaintext) != crypto_key:
        raise DecodeError("non-convergent block: crypto key is not H(P)")
    return decode_plaintext(plaintext)


# --------------------------------------------------------------------------
# Section 5: SSK (and section 6: KSK)
# --------------------------------------------------------------------------

SSK_BLOCK_LEN = 32 + 32 + 12 + CHK_BLOCK_LEN + 64  # 32924
_SSK_OFF_A, _SSK_OFF_NH, _SSK_OFF_NONCE, _SSK_OFF_BODY = 0, 32, 64, 76
_SSK_OFF_SIG = _SSK_OFF_BODY + CHK_BLOCK_LEN  # 32860


def ssk_name_hash(crypto_key: bytes, name: bytes) -> bytes:
    return tagged_hash(TAG_SSK_NAME_HASH, crypto_key, name)


def ssk_routing_key(public_key: bytes, name_hash: bytes) -> bytes:
    return tagged_hash(TAG_SSK_ROUTING_KEY, public_key, name_hash)


def ssk_content_key(crypto_key: bytes, name: bytes) -> bytes:
    return tagged_hash(TAG_SSK_CONTENT_KEY, crypto_key, name)


def ssk_signed_message(routing_key: bytes, nonce: bytes, sealed: bytes) -> bytes:
    return TAG_SSK_SIGNATURE.encode("ascii") + b"\x00" + routing_key + nonce + sealed


def ssk_encode(seed: bytes, crypto_key: bytes, name: bytes, document: bytes,
               kind: int = KIND_DATA) -> dict:
    """Builds an SSK block; `name` is the document name's UTF-8 bytes."""
    public_key = ed25519_public_key(seed)
    name_hash = ssk_name_hash(crypto_key, name)
    routing_key = ssk_routing_key(public_key, name_hash)
    content_key = ssk_content_key(crypto_key, name)
    plaintext = encode_plaintext(document, kind)
    nonce = tagged_hash(TAG_SSK_NONCE, content_key, plaintext)[:12]
    sealed = aead_encrypt(content_key, nonce, plaintext)
    signature = ed25519_sign(seed, ssk_signed_message(routing_key, nonce, sealed))
    block = public_key + name_hash + nonce + sealed + signature
    assert len(block) == SSK_BLOCK_LEN
    return {
        "public_key": public_key,
        "name_hash": name_hash,
        "routing_key": routing_key,
        "content_key": content_key,
        "nonce": nonce,
        "signature": signature,
        "block": block,
    }


def ssk_split(block: bytes):
    return (
        block[_SSK_OFF_A:_SSK_OFF_NH],
        block[_SSK_OFF_NH:_SSK_OFF_NONCE],
        block[_SSK_OFF_NONCE:_SSK_OFF_BODY],
        block[_SSK_OFF_BODY:_SSK_OFF_SIG],
        block[_SSK_OFF_SIG:],
    )


def ssk_node_verify(routing_key: bytes, block: bytes) -> bool:
    if len(block) != SSK_BLOCK_LEN:
        return False
    public_key, name_hash, nonce, sealed, signature = ssk_split(block)
    if ssk_routing_key(public_key, name_hash) != routing_key:
        return False
    if not is_valid_public_key(public_key):
        return False
    return ed25519_verify_strict(
        public_key, ssk_signed_message(routing_key, nonce, sealed), signature
    )


def ssk_decode(public_key: bytes, crypto_key: bytes, name: bytes,
               block: bytes) -> tuple[int, bytes]:
    name_hash = ssk_name_hash(crypto_key, name)
    routing_key = ssk_routing_key(public_key, name_hash)
    if not ssk_node_verify(routing_key, block):
        raise DecodeError("block fails node verification")
    _, block_name_hash, nonce, sealed, _ = ssk_split(block)
    if block_name_hash != name_hash:
        raise DecodeError("block name hash differs from the computed one")
    plaintext = aead_decrypt(ssk_content_key(crypto_key, name), nonce, sealed)
    return decode_plaintext(plaintext)


def ksk_derive(name: bytes) -> tuple[bytes, bytes]:
    """Section 6: (signing seed s, crypto key C) of KSK@name."""
    return (
        tagged_hash(TAG_KSK_SIGNING_SEED, name),
        tagged_hash(TAG_KSK_CRYPTO_KEY, name),
    )


# --------------------------------------------------------------------------
# Section 7: URIs and document names
# --------------------------------------------------------------------------

MAX_URI_BYTES = 1024
MAX_NAME_BYTES = 255
URI_TYPES = ("CHK", "SSK", "SSK-INSERT", "KSK")


class UriError(ValueError):
    """`kind` is one of the error names of section 7.2."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def _has_control(text: str) -> bool:
    # Unicode general category Cc is exactly U+0000-U+001F and U+007F-U+009F.
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _ascii_digits(text: str) -> bool:
    return text != "" and all("0" <= c <= "9" for c in text)


def is_valid_version(version: str) -> bool:
    """An edition (decimal u64, no leading zeros) or a Gregorian YYYY-MM-DD."""
    if _ascii_digits(version):
        if len(version) > 1 and version[0] == "0":
            return False
        return int(version) <= 2**64 - 1
    if (
        len(version) == 10
        and version[4] == "-"
        and version[7] == "-"
        and _ascii_digits(version[0:4])
        and _ascii_digits(version[5:7])
        and _ascii_digits(version[8:10])
    ):
        year, month, day = int(version[0:4]), int(version[5:7]), int(version[8:10])
        return 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)
    return False


def check_document_name(name: str) -> None:
    """Section 7.3 document name `base` or `base/version`; raises UriError.

    The version is everything after the first `/` (so `a/b/c` has version
    `b/c`, a BadVersion). BadVersion is checked before BadName (section 7.2).
    """
    if name == "":
        raise UriError("MissingName", "empty document name")
    base, slash, version = name.partition("/")
    if slash and not is_valid_version(version):
        raise UriError("BadVersion", f"malformed version {version!r}")
    base_len = len(base.encode("utf-8"))
    if not 1 <= base_len <= MAX_NAME_BYTES:
        raise UriError("BadName", f"base of {base_len} bytes")
    if _has_control(base):
        raise UriError("BadName", "control character in name")


def check_ksk_name(name: str) -> None:
    if name == "":
        raise UriError("MissingName", "KSK@ without a name")
    n = len(name.encode("utf-8"))
    if n > MAX_NAME_BYTES:
        raise UriError("BadName", f"KSK name of {n} bytes")
    if _has_control(name):
        raise UriError("BadName", "control character in KSK name")


def format_chk_uri(routing_key: bytes, crypto_key: bytes) -> str:
    return f"CHK@{b64_encode(routing_key)},{b64_encode(crypto_key)}"


def format_ssk_uri(public_key: bytes, crypto_key: bytes, name: str) -> str:
    return f"SSK@{b64_encode(public_key)},{b64_encode(crypto_key)}/{name}"


def format_ssk_insert_uri(seed: bytes, crypto_key: bytes, name: str) -> str:
    return f"SSK-INSERT@{b64_encode(seed)},{b64_encode(crypto_key)}/{name}"


def format_ksk_uri(name: str) -> str:
    return f"KSK@{name}"


def format_uri(parsed: tuple) -> str:
    kind = parsed[0]
    if kind == "CHK":
        return format_chk_uri(parsed[1], parsed[2])
    if kind == "SSK":
        return format_ssk_uri(parsed[1], parsed[2], parsed[3])
    if kind == "SSK-INSERT":
        return format_ssk_insert_uri(parsed[1], parsed[2], parsed[3])
    return format_ksk_uri(parsed[1])


def parse_uri(uri: str) -> tuple:
    """Parses a URI; raises UriError with the first failing check of 7.2.

    Returns ("CHK", R, K), ("SSK", A, C, name), ("SSK-INSERT", s, C, name)
    or ("KSK", name).
    """
    # TooLong
    if len(uri.encode("utf-8")) > MAX_URI_BYTES:
        raise UriError("TooLong", f"{len(uri.encode('utf-8'))} bytes")
    # MissingPrefix
    prefix, at, rest = uri.partition("@")
    if not at:
        raise UriError("MissingPrefix", "no '@'")
    # UnknownType (ASCII case-insensitive; printed upper-case)
    kind = prefix.upper() if prefix.isascii() else None
    if kind not in URI_TYPES:
        raise UriError("UnknownType", repr(prefix))

    if kind == "KSK":
        check_ksk_name(rest)  # MissingName, BadName
        return ("KSK", rest)

    if kind == "CHK":
        # TrailingData
        if "/" in rest:
            raise UriError("TrailingData", "a CHK URI has no name")
        fields_text, name = rest, None
    else:
        # MissingName, then BadVersion and BadName
        fields_text, slash, name = rest.partition("/")
        if not slash or name == "":
            raise UriError("MissingName", "SSK URI without a document name")
        check_document_name(name)

    # FieldCount
    fields = fields_text.split(",")
    if len(fields) != 2:
        raise UriError("FieldCount", f"{len(fields)} fields")
    # One field at a time: BadBase64, WrongLength, then (first field of an
    # SSK only) BadPublicKey, before the next field is looked at.
    decoded = []
    for index, field in enumerate(fields):
        try:
            value = b64_decode(field)
        except Base64Error as e:
            raise UriError("BadBase64", str(e)) from None
        if len(value) != 32:
            raise UriError("WrongLength", f"field of {len(value)} bytes")
        if kind == "SSK" and index == 0 and not is_valid_public_key(value):
            raise UriError("BadPublicKey", "not a valid Ed25519 public key")
        decoded.append(value)

    if kind == "CHK":
        return ("CHK", decoded[0], decoded[1])
    return (kind, decoded[0], decoded[1], name)


# --------------------------------------------------------------------------
# Section 8: document generators
# --------------------------------------------------------------------------


def generate_document(spec: dict) -> bytes:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"bad document generator {spec!r}")
    (kind, arg), = spec.items()
    if kind == "text":
        return arg.encode("utf-8")
    if kind == "hex":
        return bytes.fromhex(arg)
    if kind == "repeat":
        return bytes([arg["byte"]]) * arg["length"]
    if kind == "stream":
        seed = arg["seed"].encode("utf-8")
        length = arg["length"]
        out = bytearray()
        counter = 0
        while len(out) < length:
            out += sha256(seed + counter.to_bytes(8, "big"))
            counter += 1
        return bytes(out[:length])
    raise ValueError(f"unknown document generator {kind!r}")


# --------------------------------------------------------------------------
# Vector checking
# --------------------------------------------------------------------------


def _short(value, limit: int = 72) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > limit:
        text = f"{text[:limit - 12]}…({len(text)} chars)"
    return text


class Check:
    """Collects the failures of one vector."""

    def __init__(self, label: str):
        self.label = label
        self.failures: list[str] = []

    def field(self, name: str, expected, got) -> None:
        if expected != got:
            self.failures.append(
                f"field {name} expected {_short(expected)} got {_short(got)}"
            )

    def true(self, what: str, condition: bool) -> None:
        if not condition:
            self.failures.append(what)

    def report(self) -> bool:
        if self.failures:
            print(f"FAIL {self.label}: " + "; ".join(self.failures))
            return False
        print(f"ok {self.label}")
        return True


def _flipped(block: bytes, offset: int) -> bytes:
    b = bytearray(block)
    b[offset] ^= 0x01
    return bytes(b)


def _document(check: Check, vector: dict) -> bytes:
    doc = generate_document(vector["document"])
    check.field("document_sha256", vector["document_sha256"], sha256(doc).hex())
    return doc


def _check_uri_round_trip(check: Check, field: str, uri: str, expected: tuple) -> None:
    try:
        parsed = parse_uri(uri)
    except UriError as e:
        check.failures.append(f"field {field} does not parse: {e}")
        return
    check.field(f"{field} (parsed)", tuple(_hexify(expected)), tuple(_hexify(parsed)))
    check.field(f"{field} (reformatted)", uri, format_uri(parsed))


def _hexify(values):
    return [v.hex() if isinstance(v, bytes) else v for v in values]


def check_chk(vector: dict) -> bool:
    check = Check(f"chk {vector['name']}")
    doc = _document(check, vector)
    if "error" in vector:
        check.field("error", "too large", vector["error"])
        try:
            chk_encode(doc)
        except EncodeError as e:
            check.field(
                "error message",
                f"document of {len(doc)} bytes exceeds the single-block "
                f"capacity of {BLOCK_CAPACITY} bytes",
                str(e),
            )
        else:
            check.failures.append(
                f"encoder accepted a document of {len(doc)} bytes (expected 'too large')"
            )
        return check.report()

    exp = vector["expect"]
    routing_key, crypto_key, block = chk_encode(doc)
    uri = format_chk_uri(routing_key, crypto_key)
    check.field("uri", exp["uri"], uri)
    check.field("routing_key", exp["routing_key"], routing_key.hex())
    check.field("crypto_key", exp["crypto_key"], crypto_key.hex())
    check.field("location", exp["location"], f"{location(routing_key):016x}")
    check.field("block_sha256", exp["block_sha256"], sha256(block).hex())
    check.field("block_first_16", exp["block_first_16"], block[:16].hex())
    check.field("block length", CHK_BLOCK_LEN, len(block))
    _check_uri_round_trip(check, "uri", exp["uri"], ("CHK", routing_key, crypto_key))

    # Decode back, node verification, and tamper detection.
    try:
        kind, decoded = chk_decode(routing_key, crypto_key, block)
        check.field("decoded content kind", KIND_DATA, kind)
        check.true("decoded document differs", decoded == doc)
    except DecodeError as e:
        check.failures.append(f"decoding own block failed: {e}")
    check.true("node rejects the block", chk_node_verify(routing_key, block))
    for offset in (0, CHK_BLOCK_LEN // 2, CHK_BLOCK_LEN - 1):
        bad = _flipped(block, offset)
        check.true(f"node accepts block with byte {offset} flipped",
                   not chk_node_verify(routing_key, bad))
        try:
            chk_decode(routing_key, crypto_key, bad)
            check.failures.append(f"reader accepts block with byte {offset} flipped")
        except DecodeError:
            pass
    check.true("node accepts a truncated block",
               not chk_node_verify(routing_key, block[:-1]))
    # A block sealed under a key other than H(P) must be refused by a reader
    # even though it passes node verification (non-convergent).
    other_key = sha256(crypto_key)
    rogue = aead_encrypt(other_key, CHK_NONCE, encode_plaintext(doc))
    try:
        chk_decode(sha256(rogue), other_key, rogue)
        check.failures.append("reader accepts a non-convergent block")
    except DecodeError:
        pass
    return check.report()


def _check_ssk_block(check: Check, enc: dict, public_key: bytes, crypto_key: bytes,
                     name: bytes, doc: bytes) -> None:
    block, routing_key = enc["block"], enc["routing_key"]
    check.field("block length", SSK_BLOCK_LEN, len(block))
    try:
        kind, decoded = ssk_decode(public_key, crypto_key, name, block)
        check.field("decoded content kind", KIND_DATA, kind)
        check.true("decoded document differs", decoded == doc)
    except DecodeError as e:
        check.failures.append(f"decoding own block failed: {e}")
    check.true("node rejects the block", ssk_node_verify(routing_key, block))
    # One flip in each field: A, Nh, nonce, ciphertext, AEAD tag, signature.
    offsets = (
        _SSK_OFF_A + 5, _SSK_OFF_NH + 7, _SSK_OFF_NONCE + 3, _SSK_OFF_BODY + 100,
        _SSK_OFF_SIG - 1, _SSK_OFF_SIG, SSK_BLOCK_LEN - 1,
    )
    for offset in offsets:
        bad = _flipped(block, offset)
        check.true(f"node accepts block with byte {offset} flipped",
                   not ssk_node_verify(routing_key, bad))
        try:
            ssk_decode(public_key, crypto_key, name, bad)
            check.failures.append(f"reader accepts block with byte {offset} flipped")
        except DecodeError:
            pass
    check.true("node accepts a truncated block",
               not ssk_node_verify(routing_key, block[:-1]))
    # A reader with the wrong crypto key derives another routing key.
    try:
        ssk_decode(public_key, sha256(crypto_key), name, block)
        check.failures.append("reader accepts the block under another crypto key")
    except DecodeError:
        pass


def check_ssk(vector: dict) -> bool:
    check = Check(f"ssk {vector['name']}")
    doc = _document(check, vector)
    exp = vector["expect"]
    seed = bytes.fromhex(vector["signing_seed"])
    crypto_key = bytes.fromhex(vector["crypto_key"])
    doc_name = vector["doc_name"]
    try:
        check_document_name(doc_name)
    except UriError as e:
        check.failures.append(f"doc_name {doc_name!r} is not a valid name: {e}")
    name = doc_name.encode("utf-8")

    enc = ssk_encode(seed, crypto_key, name, doc)
    public_key = enc["public_key"]
    insert_uri = format_ssk_insert_uri(seed, crypto_key, doc_name)
    request_uri = format_ssk_uri(public_key, crypto_key, doc_name)
    check.field("insert_uri", exp["insert_uri"], insert_uri)
    check.field("request_uri", exp["request_uri"], request_uri)
    check.field("public_key", exp["public_key"], public_key.hex())
    check.field("name_hash", exp["name_hash"], enc["name_hash"].hex())
    check.field("routing_key", exp["routing_key"], enc["routing_key"].hex())
    check.field("location", exp["location"], f"{location(enc['routing_key']):016x}")
    check.field("nonce", exp["nonce"], enc["nonce"].hex())
    check.field("signature", exp["signature"], enc["signature"].hex())
    check.field("block_sha256", exp["block_sha256"], sha256(enc["block"]).hex())
    _check_uri_round_trip(check, "insert_uri", exp["insert_uri"],
                          ("SSK-INSERT", seed, crypto_key, doc_name))
    _check_uri_round_trip(check, "request_uri", exp["request_uri"],
                          ("SSK", public_key, crypto_key, doc_name))
    _check_ssk_block(check, enc, public_key, crypto_key, name, doc)
    return check.report()


def check_ksk(vector: dict) -> bool:
    uri = vector["uri"]
    check = Check(f"ksk {uri}")
    doc = _document(check, vector)
    exp = vector["expect"]
    try:
        parsed = parse_uri(uri)
    except UriError as e:
        check.failures.append(f"field uri does not parse: {e}")
        return check.report()
    check.field("uri type", "KSK", parsed[0])
    if parsed[0] != "KSK":
        return check.report()
    check.field("uri (reformatted)", uri, format_uri(parsed))
    name = parsed[1].encode("utf-8")
    seed, crypto_key = ksk_derive(name)
    enc = ssk_encode(seed, crypto_key, name, doc)
    check.field("signing_seed", exp["signing_seed"], seed.hex())
    check.field("public_key", exp["public_key"], enc["public_key"].hex())
    check.field("crypto_key", exp["crypto_key"], crypto_key.hex())
    check.field("routing_key", exp["routing_key"], enc["routing_key"].hex())
    check.field("location", exp["location"], f"{location(enc['routing_key']):016x}")
    check.field("block_sha256", exp["block_sha256"], sha256(enc["block"]).hex())
    _check_ssk_block(check, enc, enc["public_key"], crypto_key, name, doc)
    return check.report()


def _elide(text: str, keep: int = 24) -> str:
    """JSON-quoted text, with the middle of long strings elided."""
    if len(text) <= 2 * keep + 8:
        return json.dumps(text, ensure_ascii=False)
    head = json.dumps(text[:keep], ensure_ascii=False)[:-1]
    tail = json.dumps(text[-keep:], ensure_ascii=False)[1:]
    return f"{head}…{tail} ({len(text.encode('utf-8'))} bytes)"


def check_invalid_uri(vector: dict) -> bool:
    uri, expected = vector["uri"], vector["error"]
    check = Check(f"invalid-uri {_elide(uri)} -> {expected}")
    try:
        parsed = parse_uri(uri)
        got = f"accepted as {parsed[0]}"
    except UriError as e:
        got = e.kind
    check.field("error", expected, got)
    return check.report()


# --------------------------------------------------------------------------
# Section 12: splitfiles
# --------------------------------------------------------------------------

SPLIT_MAGIC = b"FOGM"
SPLIT_VERSION = 2
SPLIT_ENTRIES = 511
SEGMENT_DATA = 128


# Section 12.5: Reed-Solomon over GF(2^8), polynomial x^8+x^4+x^3+x^2+1.

GF_EXP = [0] * 512
GF_LOG = [0] * 256
_x = 1
for _i in range(255):
    GF_EXP[_i] = _x
    GF_LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    GF_EXP[_i] = GF_EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return GF_EXP[GF_LOG[a] + GF_LOG[b]]


def gf_pow(a: int, n: int) -> int:
    if n == 0:
        return 1
    if a == 0:
        return 0
    return GF_EXP[(GF_LOG[a] * n) % 255]


def gf_inv(a: int) -> int:
    return GF_EXP[255 - GF_LOG[a]]


# Multiplying every byte of a piece by c is one bytes.translate.
GF_MUL_TABLES = [bytes(gf_mul(c, x) for x in range(256)) for c in range(256)]


def gf_invert(matrix: list[list[int]]) -> list[list[int]]:
    """Gauss-Jordan inverse of a square matrix over GF(2^8)."""
    n = len(matrix)
    a = [row[:] + [1 if i == j else 0 for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        inv = gf_inv(a[col][col])
        a[col] = [gf_mul(inv, v) for v in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col]
                a[r] = [v ^ gf_mul(f, w) for v, w in zip(a[r], a[col])]
    return [row[n:] for row in a]


def gf_matmul(x: list[list[int]], y: list[list[int]]) -> list[list[int]]:
    out = []
    for row in x:
        acc = [0] * len(y[0])
        for a, yrow in zip(row, y):
            if a:
                acc = [s ^ gf_mul(a, b) for s, b in zip(acc, yrow)]
        out.append(acc)
    return out


def rs_matrix(k: int, n: int) -> list[list[int]]:
    """The n x k encoding matrix: Vandermonde V[r][c] = r^c times the inverse
    of its top k x k square (so the top k rows are the identity)."""
    v = [[gf_pow(r, c) for c in range(k)] for r in range(n)]
    return gf_matmul(v, gf_invert(v[:k]))


def rs_combine(coefficients: list[int], pieces: list[bytes]) -> bytes:
    acc = 0
    for c, piece in zip(coefficients, pieces):
        if c:
            acc ^= int.from_bytes(piece.translate(GF_MUL_TABLES[c]), "little")
    return acc.to_bytes(BLOCK_CAPACITY, "little")


def rs_checks(data: list[bytes], m: int) -> list[bytes]:
    """The m check pieces of k data pieces (each BLOCK_CAPACITY bytes)."""
    k = len(data)
    matrix = rs_matrix(k, k + m)
    return [rs_combine(matrix[k + i], data) for i in range(m)]


def rs_rebuild(k: int, n: int, present: dict[int, bytes]) -> list[bytes]:
    """The k data pieces from any k of the n pieces, given by index."""
    rows = sorted(present)[:k]
    matrix = rs_matrix(k, n)
    decode = gf_invert([matrix[r] for r in rows])
    pieces = [present[r] for r in rows]
    return [rs_combine(decode[i], pieces) for i in range(k)]


def check_count(k: int, redundancy: int) -> int:
    return (k * redundancy + 99) // 100


def segment_firsts(n: int) -> list[int]:
    """Section 12.3: the first data block of every segment, then n."""
    s = (n + SEGMENT_DATA - 1) // SEGMENT_DATA
    if s == 1:
        return [0, n]
    rest = n - SEGMENT_DATA * (s - 2)
    firsts = [SEGMENT_DATA * j for j in range(s - 1)]
    firsts.append(SEGMENT_DATA * (s - 2) + (rest + 1) // 2)
    return firsts + [n]


def manifest_bytes(level: int, redundancy: int, total: int, entries) -> bytes:
    return (SPLIT_MAGIC + bytes([SPLIT_VERSION, level, redundancy, 0])
            + total.to_bytes(8, "big") + len(entries).to_bytes(4, "big")
            + b"".join(r + k for r, k in entries))


def pad(piece: bytes) -> bytes:
    return piece + bytes(BLOCK_CAPACITY - len(piece))


def split_encode(document: bytes, redundancy: int):
    """Section 12: the top key of a document and what it is made of.

    Returns a dict: routing and crypto key, data and check block counts,
    segments ([k, m] each), manifests, top level, top manifest bytes, and
    the first segment's pieces (data padded, then check)."""
    if len(document) <= BLOCK_CAPACITY:
        r, k, _ = chk_encode(document, KIND_DATA)
        return {"r": r, "k": k, "data": 1, "checks": 0, "segments": [],
                "manifests": 0, "level": 0, "top": None, "first": None}
    L = len(document)
    n = (L + BLOCK_CAPACITY - 1) // BLOCK_CAPACITY
    firsts = segment_firsts(n)
    seg_keys, seg_totals, segments, first_pieces = [], [], [], None
    for j in range(len(firsts) - 1):
        a, b = firsts[j], firsts[j + 1]
        pieces = [document[i * BLOCK_CAPACITY:(i + 1) * BLOCK_CAPACITY] for i in range(a, b)]
        entries = [chk_encode(p, KIND_DATA)[:2] for p in pieces]
        m = check_count(b - a, redundancy)
        padded = [pad(p) for p in pieces]
        checks = rs_checks(padded, m) if m else []
        entries += [chk_encode(c, KIND_DATA)[:2] for c in checks]
        if first_pieces is None:
            first_pieces = padded + checks
        total = min(b * BLOCK_CAPACITY, L) - a * BLOCK_CAPACITY
        body = manifest_bytes(1, redundancy, total, entries)
        seg_keys.append(chk_encode(body, KIND_MANIFEST)[:2])
        seg_totals.append(total)
        segments.append([b - a, m])
    keys, totals, level, manifests, body = seg_keys, seg_totals, 1, len(seg_keys), body
    while len(keys) > 1:
        parents, parent_totals = [], []
        for j in range(0, len(keys), SPLIT_ENTRIES):
            run = keys[j:j + SPLIT_ENTRIES]
            total = sum(totals[j:j + SPLIT_ENTRIES])
            body = manifest_bytes(level + 1, redundancy, total, run)
            parents.append(chk_encode(body, KIND_MANIFEST)[:2])
            parent_totals.append(total)
            manifests += 1
        keys, totals, level = parents, parent_totals, level + 1
    r, k = keys[0]
    return {"r": r, "k": k, "data": n, "checks": sum(s[1] for s in segments),
            "segments": segments, "manifests": manifests, "level": level,
            "top": body, "first": first_pieces}


def check_splitfile(vector: dict) -> bool:
    check = Check(f"splitfile {vector['name']}")
    document = _document(check, vector)
    redundancy = vector.get("redundancy", 100)
    got = split_encode(document, redundancy)
    expect = vector["expect"]
    check.field("uri", expect["uri"], format_chk_uri(got["r"], got["k"]))
    check.field("data_blocks", expect["data_blocks"], got["data"])
    check.field("check_blocks", expect["check_blocks"], got["checks"])
    check.field("segments", expect.get("segments", []), got["segments"])
    check.field("manifests", expect["manifests"], got["manifests"])
    check.field("top_level", expect["top_level"], got["level"])
    if got["top"] is not None:
        check.field("top_manifest_sha256", expect.get("top_manifest_sha256"),
                    sha256(got["top"]).hex())
        k, m = got["segments"][0]
        if m:
            check.field("first_checks_sha256", expect.get("first_checks_sha256"),
                        sha256(b"".join(got["first"][k:])).hex())
    keep = vector.get("rebuild_from")
    if keep is not None:
        k, m = got["segments"][0]
        present = {i: got["first"][i] for i in keep}
        check.true("rebuild_from keeps k blocks", len(present) >= k)
        rebuilt = b"".join(rs_rebuild(k, k + m, present))
        total = min(k * BLOCK_CAPACITY, len(document))
        rebuilt = rebuilt[:total]
        check.true("rebuilt data is the document's first segment", rebuilt == document[:total])
        check.field("rebuilt_sha256", expect.get("rebuilt_sha256"), sha256(rebuilt).hex())
    return check.report()


# --------------------------------------------------------------------------
# Section 12.8: signed documents over one block, and redirects
# --------------------------------------------------------------------------

REDIRECT_MAGIC = b"FOGR"
REDIRECT_VERSION = 1
REDIRECT_LEN = 80
MAX_SPLITFILE = SPLIT_ENTRIES ** 3 * SEGMENT_DATA * BLOCK_CAPACITY  # section 12.3


def redirect_encode(length: int, routing_key: bytes, crypto_key: bytes) -> bytes:
    return (REDIRECT_MAGIC + bytes([REDIRECT_VERSION, 0, 0, 0])
            + length.to_bytes(8, "big") + routing_key + crypto_key)


def redirect_decode(data: bytes) -> tuple[int, bytes, bytes]:
    """(length, routing key, crypto key); raises DecodeError, checking size,
    magic, version, reserved bytes and length in that order."""
    if len(data) != REDIRECT_LEN:
        raise DecodeError(f"redirect of {len(data)} bytes")
    if data[0:4] != REDIRECT_MAGIC:
        raise DecodeError("bad redirect magic")
    if data[4] != REDIRECT_VERSION:
        raise DecodeError(f"redirect version {data[4]}")
    if data[5:8] != bytes(3):
        raise DecodeError("reserved redirect bytes not zero")
    length = int.from_bytes(data[8:16], "big")
    if not BLOCK_CAPACITY < length <= MAX_SPLITFILE:
        raise DecodeError(f"redirect length {length}")
    return length, data[16:48], data[48:80]


def signed_keys(uri: str):
    """(seed, public key, crypto key, name bytes, request URI) of an insert
    URI: SSK-INSERT@... or KSK@..."""
    parsed = parse_uri(uri)
    if parsed[0] == "SSK-INSERT":
        _, seed, crypto, name = parsed
        public = ed25519_public_key(seed)
        return seed, public, crypto, name.encode("utf-8"), format_ssk_uri(public, crypto, name)
    if parsed[0] == "KSK":
        seed, crypto = ksk_derive(parsed[1].encode("utf-8"))
        return seed, ed25519_public_key(seed), crypto, parsed[1].encode("utf-8"), uri
    raise ValueError(f"{uri} is not an insert key")


def check_redirect(vector: dict) -> bool:
    check = Check(f"redirect {vector['name']}")
    document = _document(check, vector)
    seed, public, crypto, name, request_uri = signed_keys(vector["key"])
    expect = vector["expect"]
    check.field("request_uri", expect["request_uri"], request_uri)
    if len(document) <= BLOCK_CAPACITY:
        body, kind, target = document, KIND_DATA, None
        check.field("target", expect["target"], None)
        check.field("redirect", expect["redirect"], None)
    else:
        top = split_encode(document, 100)
        r, k = top["r"], top["k"]
        body, kind, target = redirect_encode(len(document), r, k), KIND_MANIFEST, (r, k)
        check.field("target", expect["target"], format_chk_uri(r, k))
        check.field("redirect", expect["redirect"], body.hex())
    enc = ssk_encode(seed, crypto, name, body, kind)
    check.field("routing_key", expect["routing_key"], enc["routing_key"].hex())
    check.field("block_sha256", expect["block_sha256"], sha256(enc["block"]).hex())
    check.true("node accepts the block", ssk_node_verify(enc["routing_key"], enc["block"]))
    got_kind, got = ssk_decode(public, crypto, name, enc["block"])
    if target is None:
        check.true("inline document decodes", (got_kind, got) == (KIND_DATA, document))
    else:
        check.true("redirect decodes", got_kind == KIND_MANIFEST
                   and redirect_decode(got) == (len(document),) + target)
        for i, b in ((3, ord("M")), (4, 2), (7, 1)):
            bad = bytearray(got)
            bad[i] = b
            try:
                redirect_decode(bytes(bad))
                check.true(f"redirect with byte {i} = {b} rejected", False)
            except DecodeError:
                pass
    return check.report()


FILES = (
    ("chk.json", check_chk),
    ("ssk.json", check_ssk),
    ("ksk.json", check_ksk),
    ("invalid-uris.json", check_invalid_uri),
    ("splitfile.json", check_splitfile),
    ("redirect.json", check_redirect),
)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    passed = failed = 0
    for filename, checker in FILES:
        path = os.path.join(here, filename)
        try:
            with open(path, encoding="utf-8") as f:
                vectors = json.load(f)
            if not isinstance(vectors, list) or not vectors:
                raise ValueError("not a non-empty JSON array")
        except (OSError, ValueError) as e:
            print(f"FAIL {filename}: cannot load vectors: {e}")
            failed += 1
            continue
        for index, vector in enumerate(vectors):
            try:
                ok = checker(vector)
            except Exception as e:  # malformed vector or a bug: count it, go on
                print(f"FAIL {filename}[{index}]: {type(e).__name__}: {e}")
                ok = False
            if ok:
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
