"""The vault's envelope encryption: a fresh AES-256-GCM data key per item, wrapped by the master key ring.

- content and context blobs: ``b"HVB1" | nonce (12) | AES-256-GCM(data key, plaintext, aad)``, where the
  associated data names the item (its uid), the blob's kind and version, and the item's fixed facts
  (name, type, size, hashes): a blob swapped between items, or facts edited in the database, fail to open;
- the data key: sealed by ``haven.secrets.KeyRing`` with context ``haven-vault-key:<uid>`` (the master key
  never sits beside the data; rotating it re-seals 32-byte data keys, never the content);
- the row's changing metadata (retention, hold, state, blob names): an HMAC-SHA256 under a key derived from
  the data key, checked on every read and re-computed on every change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from haven.errors import IntegrityError
from haven.secrets import KeyRing

MAGIC = b"HVB1"
NONCE = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_context(uid: str) -> bytes:
    return f"haven-vault-key:{uid}".encode()


def wrap(ring: KeyRing, data_key: bytes, uid: str) -> bytes:
    return ring.seal(data_key, context=key_context(uid))


def unwrap(ring: KeyRing, wrapped: bytes, uid: str) -> bytes:
    try:
        return ring.open(wrapped, context=key_context(uid))
    except IntegrityError as exc:
        raise IntegrityError(f"vault item {uid}: its data key does not open ({exc.message})") from None


def blob_aad(uid: str, kind: str, version: int, facts: dict[str, Any]) -> bytes:
    return json.dumps(
        {"uid": uid, "kind": kind, "version": version, "facts": facts}, sort_keys=True, separators=(",", ":")
    ).encode()


def encrypt(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def decrypt(data_key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < len(MAGIC) + NONCE + 16 or not blob.startswith(MAGIC):
        raise IntegrityError(f"{what}: not a vault blob (bad header or too short)")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE]
    try:
        return AESGCM(data_key).decrypt(nonce, blob[len(MAGIC) + NONCE :], aad)
    except InvalidTag:
        raise IntegrityError(
            f"{what}: failed its integrity check (the blob or the item's recorded facts were altered)"
        ) from None


def meta_mac(data_key: bytes, fields: dict[str, Any]) -> str:
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"haven-vault-meta").derive(data_key)
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hmac.new(mac_key, body, hashlib.sha256).hexdigest()


def check_mac(data_key: bytes, fields: dict[str, Any], stored: str | None, what: str) -> None:
    if stored is None or not hmac.compare_digest(meta_mac(data_key, fields), stored):
        raise IntegrityError(
            f"{what}: its recorded metadata (retention, hold, state or blob names) was altered"
        )
