"""The practice's key file (every key pair, newest first) and the pinned relay key.

Key file format (JSON, mode 0600):
`{"version": 1, "keys": [{"private_key": b64, "public_key": b64, "created_at": iso}]}`.
Old key pairs stay after a rotation so items sealed before it still open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nacl.public import PrivateKey

from practice_client.handover.files import create_exclusively, write_atomically

KEY_FILE_VERSION = 1
KEY_BYTES = 32
SECRET_FILE_MODE = 0o600

log = logging.getLogger(__name__)


class KeyFileError(Exception):
    """The key file (or the pinned relay key beside it) is missing, unreadable or malformed."""


def decode_key(text: str) -> bytes:
    """A 32-byte key from standard base64; ValueError otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not valid base64") from error
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a key has {KEY_BYTES} bytes, this one has {len(raw)}")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key: bytes) -> str:
    """The id the form page and a browser-sealed submission name a practice key by: the
    first 16 hexadecimal digits of its SHA-256 (docs/protocol.md, "Keys and tickets")."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    private_key: PrivateKey
    created_at: str

    @classmethod
    def generate(cls, now: datetime | None = None) -> KeyPair:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(PrivateKey.generate(), moment.strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def public_key(self) -> bytes:
        return bytes(self.private_key.public_key)

    @property
    def public_key_b64(self) -> str:
        return encode_key(self.public_key)


class KeyRing:
    """All key pairs of a practice, newest first; the newest is the one the relay should use."""

    def __init__(self, pairs: Sequence[KeyPair]) -> None:
        if not pairs:
            raise ValueError("a key ring holds at least one key pair")
        self._pairs = tuple(pairs)

    @property
    def current(self) -> KeyPair:
        return self._pairs[0]

    @property
    def pairs(self) -> tuple[KeyPair, ...]:
        return self._pairs

    def holds(self, public_key: bytes) -> bool:
        return any(pair.public_key == public_key for pair in self._pairs)

    def with_newest(self, pair: KeyPair) -> KeyRing:
        return KeyRing((pair, *self._pairs))


def create_key_file(path: Path, pair: KeyPair) -> KeyRing:
    """Write a new key file holding `pair`; FileExistsError if `path` exists."""
    ring = KeyRing([pair])
    create_exclusively(path, _encode(ring), mode=SECRET_FILE_MODE)
    return ring


def save_key_ring(path: Path, ring: KeyRing) -> None:
    """Rewrite the key file atomically, keeping it readable by its owner only."""
    write_atomically(path, _encode(ring), mode=SECRET_FILE_MODE)


def load_key_ring(path: Path) -> KeyRing:
    try:
        raw = path.read_bytes()
        _warn_if_exposed(path)
    except OSError as error:
        raise KeyFileError(f"cannot read key file {path}: {error.strerror or error}") from error
    try:
        return _decode(raw)
    except (ValueError, TypeError, KeyError) as error:
        raise KeyFileError(f"key file {path} is malformed: {error}") from error


def _encode(ring: KeyRing) -> bytes:
    keys = [
        {
            "private_key": encode_key(bytes(pair.private_key)),
            "public_key": pair.public_key_b64,
            "created_at": pair.created_at,
        }
        for pair in ring.pairs
    ]
    return (json.dumps({"version": KEY_FILE_VERSION, "keys": keys}, indent=2) + "\n").encode()


def _decode(raw: bytes) -> KeyRing:
    content = json.loads(raw)
    if not isinstance(content, dict) or content.get("version") != KEY_FILE_VERSION:
        raise ValueError(f"expected a JSON object with version {KEY_FILE_VERSION}")
    entries = content.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ValueError('"keys" must be a non-empty list')
    return KeyRing([_decode_pair(number, entry) for number, entry in enumerate(entries, 1)])


def _decode_pair(number: int, entry: object) -> KeyPair:
    if not isinstance(entry, dict):
        raise TypeError(f"key {number} is not an object")
    try:
        private_key = PrivateKey(decode_key(str(entry["private_key"])))
        public_key = decode_key(str(entry["public_key"]))
    except KeyError as error:
        raise ValueError(f"key {number} lacks {error}") from error
    except ValueError as error:
        raise ValueError(f"key {number}: {error}") from error
    if bytes(private_key.public_key) != public_key:
        raise ValueError(f"key {number}: public_key does not belong to private_key")
    return KeyPair(private_key, str(entry.get("created_at", "")))


def _warn_if_exposed(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("key file %s has mode %04o; it should be 0600 (chmod 600)", path, mode)


def relay_key_path(key_file: Path) -> Path:
    """Where the relay's signing key is pinned: beside the key file."""
    return key_file.with_name(key_file.name + ".relay-key")


def read_pinned_relay_key(key_file: Path) -> bytes | None:
    """The pinned relay key, or None before the first contact."""
    path = relay_key_path(key_file)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"cannot read pinned relay key {path}: {error}") from error
    try:
        return decode_key(text)
    except ValueError as error:
        raise KeyFileError(f"pinned relay key {path} is malformed: {error}") from error


def pin_relay_key(key_file: Path, relay_key: bytes) -> None:
    write_atomically(
        relay_key_path(key_file), (encode_key(relay_key) + "\n").encode(), mode=SECRET_FILE_MODE
    )
