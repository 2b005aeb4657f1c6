"""Multibase (base58btc, prefix 'z') and Multikey encodings of Ed25519 keys.

A Multikey is multibase(base58btc, multicodec-varint || raw key). For Ed25519 the public
key codec is 0xed (varint bytes ``ed 01``), so public keys read ``z6Mk…``; the private key
(32-byte seed) codec is 0x1300 (varint ``80 26``), reading ``z3u2…``. See the W3C
Controlled Identifiers spec, §Multikey, and the multicodec table.
"""

from __future__ import annotations

import base64
import math
from functools import lru_cache

import base58

try:  # GMP's radix conversion for long base58 strings (the anchor proofs)
    import gmpy2 as _gmpy2
except ImportError:  # pragma: no cover - a declared dependency; the pure-Python encoder is the same
    _gmpy2 = None

BASE58BTC = "z"
ED25519_PUB = b"\xed\x01"
ED25519_PRIV = b"\x80\x26"
ED25519_KEY_LENGTH = 32


class MultiformatError(ValueError):
    """A string is not the multibase / multikey value it claims to be."""


_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# Each base58 character as its digit value (255 for any other byte), for bytes.translate.
_DIGIT_BYTES = bytes(_ALPHABET.index(chr(c)) if chr(c) in _ALPHABET else 255 for c in range(256))


def b58decode(text: str) -> bytes:
    """base58btc ``text`` as bytes, the same as ``base58.b58decode`` but in near-linear time.

    The library turns its big integer into bytes one ``divmod`` at a time, quadratic in the
    length: about a millisecond for a 1 kB anchor receipt, which every verification decodes.
    Here GMP reads the digits (``gmpy2``, ≈ 0.02 ms); without it, :func:`b58decode_python`
    (≈ 0.1 ms) gives the same bytes. Any character outside the alphabet (whitespace too)
    raises ``ValueError``.
    """
    digits = _digit_values(text)
    if _gmpy2 is None:
        return b58decode_python(text, digits)
    number = int(_gmpy2.mpz(text.translate(_TO_GMP), 58)) if digits else 0
    zeros = len(text) - len(text.lstrip("1"))  # each leading '1' is a zero byte
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _digit_values(text: str) -> bytes:
    """Each character's digit value, or ``ValueError`` for one outside the alphabet."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("invalid base58 character")
    digits = text.encode("ascii").translate(_DIGIT_BYTES)
    if b"\xff" in digits:
        raise ValueError("invalid base58 character")
    return digits


def b58decode_python(text: str, digits: bytes | None = None) -> bytes:
    """:func:`b58decode` in pure Python: the digits combined four at a time (small integers),
    then pairwise level by level (divide and conquer), so the big-integer work is a few large
    multiplications."""
    if digits is None:
        digits = _digit_values(text)
    digits = bytes(-len(digits) % 4) + digits  # leading zero digits leave the number as it is
    values = [a * 195112 + b * 3364 + c * 58 + d  # 58**3, 58**2
              for a, b, c, d in zip(digits[::4], digits[1::4], digits[2::4], digits[3::4])]
    base = 58 ** 4
    while len(values) > 1:
        if len(values) % 2:
            values.insert(0, 0)
        values = [high * base + low for high, low in zip(values[::2], values[1::2])]
        base *= base
    number = values[0] if values else 0
    zeros = len(text) - len(text.lstrip("1"))  # each leading '1' is a zero byte
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def b58encode(data: bytes) -> str:
    """``data`` as base58btc, the same as ``base58.b58encode`` but in near-linear time.

    The library takes one ``divmod`` by 58 of the whole number per digit, quadratic in the
    length: ≈ 4 ms for the 1 kB anchor receipt of a credential in a root of 10,000 (its Merkle
    path), which made attaching a batch's anchor proofs slower than issuing it. GMP's radix
    conversion (``gmpy2``, subquadratic, in C) writes the digits in ≈ 0.03 ms; without it,
    :func:`b58encode_python` (≈ 0.3 ms) gives the same string.
    """
    if _gmpy2 is None:
        return b58encode_python(data)
    number = int.from_bytes(data, "big")
    encoded = _gmpy2.digits(_gmpy2.mpz(number), 58).translate(_FROM_GMP) if number else ""
    zeros = len(data) - len(data.lstrip(b"\0"))  # each leading zero byte is a '1'
    return "1" * zeros + encoded


def b58encode_python(data: bytes) -> str:
    """:func:`b58encode` in pure Python: the number split in halves by powers of 58 (divide and
    conquer), and only short pieces digit by digit."""
    number = int.from_bytes(data, "big")
    width = math.ceil(len(data) * _DIGITS_PER_BYTE) + 1  # enough digits for any number of that many bytes
    encoded = _digits(number, width).lstrip("1") if number else ""
    zeros = len(data) - len(data.lstrip(b"\0"))  # each leading zero byte is a '1'
    return "1" * zeros + encoded


# GMP writes digits above 36 as 0-9, A-Z, a-z; base58btc has its own alphabet of 58.
_GMP_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
_FROM_GMP = str.maketrans(_GMP_DIGITS, _ALPHABET)
_TO_GMP = str.maketrans(_ALPHABET, _GMP_DIGITS)


_DIGITS_PER_BYTE = math.log(256) / math.log(58)


@lru_cache(maxsize=256)
def _power(width: int) -> int:
    return 58 ** width


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two digits per divmod at the leaves


def _digits(number: int, width: int) -> str:
    """Exactly ``width`` base58 digits of ``number`` (< 58**width), leading zeros as '1'."""
    if width <= 20:
        out = []
        for _ in range(width // 2):
            number, pair = divmod(number, 3364)
            out.append(_PAIRS[pair])
        if width % 2:
            out.append(_ALPHABET[number])
        return "".join(reversed(out))
    half = width // 2 & ~1  # even, so the leaves take pairs
    high, low = divmod(number, _power(half))
    return _digits(high, width - half) + _digits(low, half)


def multibase_encode(data: bytes) -> str:
    """``data`` as multibase base58btc: ``'z' + base58btc(data)``."""
    return BASE58BTC + base58.b58encode(data).decode("ascii")


def multibase_decode(value: str) -> bytes:
    """The bytes of a base58btc multibase string; anything else raises :class:`MultiformatError`."""
    if not isinstance(value, str) or not value.startswith(BASE58BTC):
        raise MultiformatError("expected a base58btc multibase string starting with 'z'")
    try:
        # Ours, not the library's: a tenth of the time for a signature (three per verification),
        # and no character outside the alphabet passes (the library strips trailing whitespace).
        return b58decode(value[1:])
    except ValueError as error:
        raise MultiformatError(f"invalid base58btc: {error}") from None


def encode_public_key(public_key: bytes) -> str:
    """An Ed25519 public key (32 raw bytes) as a Multikey string, ``z6Mk…``."""
    return _encode(ED25519_PUB, public_key)


def decode_public_key(multikey: str) -> bytes:
    """The raw 32-byte Ed25519 public key in a ``z6Mk…`` Multikey string."""
    return _decode(ED25519_PUB, multikey, "Ed25519 public")


def encode_private_key(seed: bytes) -> str:
    """An Ed25519 private key (its 32-byte seed) as a Multikey string, ``z3u2…``."""
    return _encode(ED25519_PRIV, seed)


def decode_private_key(multikey: str) -> bytes:
    """The 32-byte Ed25519 seed in a ``z3u2…`` Multikey string."""
    return _decode(ED25519_PRIV, multikey, "Ed25519 private")


def _encode(prefix: bytes, key: bytes) -> str:
    if len(key) != ED25519_KEY_LENGTH:
        raise MultiformatError(f"an Ed25519 key is {ED25519_KEY_LENGTH} bytes, got {len(key)}")
    return multibase_encode(prefix + key)


def _decode(prefix: bytes, multikey: str, what: str) -> bytes:
    data = multibase_decode(multikey)
    if not data.startswith(prefix) or len(data) != len(prefix) + ED25519_KEY_LENGTH:
        raise MultiformatError(f"not an {what} Multikey (expected codec 0x{prefix.hex()} and a 32-byte key)")
    return data[len(prefix):]


_SHA256_MULTIHASH = b"\x12\x20"


def digest_multibase(sha256_hex: str) -> str:
    """A SHA-256 (``0x…`` hex) as a VC 2.0 ``digestMultibase``: ``u`` + unpadded base64url of its multihash."""
    digest = bytes.fromhex(sha256_hex.removeprefix("0x"))
    return "u" + base64.urlsafe_b64encode(_SHA256_MULTIHASH + digest).decode().rstrip("=")


def sha256_from_digest_multibase(value: object) -> str | None:
    """The ``0x…`` SHA-256 in a ``digestMultibase`` written as :func:`digest_multibase` writes it, else None."""
    if not isinstance(value, str) or not value.startswith("u") or len(value) > 64:
        return None
    body = value[1:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None
    return "0x" + raw[2:].hex() if len(raw) == 34 and raw[:2] == _SHA256_MULTIHASH else None
