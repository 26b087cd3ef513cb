"""The master key ring: one key-management story for every secret Haven keeps at rest.

Everything Haven encrypts (the NCMEC reporting credentials, the evidence vault's per-item data keys,
exchange credentials) is sealed with AES-256-GCM under a *master key* from this ring. The ring lives
outside the data folder by default, so a copy of the data folder or a database backup is not a copy of
the secrets.

Where the ring comes from (the shell reads the environment into ``Settings``; this module never does):

- ``Settings.master_key`` (``HAVEN_MASTER_KEY``): base64 of 32 random bytes, several separated by commas,
  newest first — for deployments that inject secrets through the environment;
- else the key file ``Settings.master_key_file`` (``HAVEN_MASTER_KEY_FILE``, default
  ``$XDG_CONFIG_HOME/haven/master.key``): one base64 key per line, newest first. It must be a regular file
  readable by its owner only (mode 0600 or stricter) and must not sit inside the data folder.

Rotation: ``rotate_key_file`` puts a new key first; new seals use it, and blobs sealed under older keys
still open (each blob names its key). Re-seal what is stored (``KeyRing.reseal``), then
``retire_key`` drops the old key from the file. Every kind of sealed data registers itself
(``register_sealed``) so that ``haven secrets rotate`` re-seals all of it and ``retire`` can check that
nothing still needs the old key. A sealed blob is::

    b"HVS1" | key id (8 bytes: SHA-256 of the key, truncated) | nonce (12) | ciphertext + GCM tag (16)

The caller's ``context`` (what the blob is, e.g. ``b"ncmec-credentials:production"``) is bound as
associated data, so a blob moved to another record does not open there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from haven.errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from haven.config import Settings

MAGIC = b"HVS1"
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
_HEADER = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES


def new_key() -> bytes:
    """32 random bytes from the OS."""
    return os.urandom(KEY_BYTES)


def key_id(key: bytes) -> bytes:
    """The 8-byte id a sealed blob carries to name its key (not secret: a truncated SHA-256)."""
    return hashlib.sha256(b"haven master key id\0" + key).digest()[:KEY_ID_BYTES]


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise UsageError(f"{where}: not a master key (want base64 of {KEY_BYTES} bytes)")
    return raw


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


class KeyRing:
    """Master keys, newest first. The first seals; any of them opens what it sealed."""

    def __init__(self, keys: Sequence[bytes], *, source: str = "memory") -> None:
        if not keys:
            raise UsageError(f"{source}: holds no master key")
        for k in keys:
            if len(k) != KEY_BYTES:
                raise UsageError(f"{source}: a master key must be {KEY_BYTES} bytes")
        self._keys = {key_id(k): k for k in keys}
        self._current = key_id(keys[0])
        self.source = source

    def __repr__(self) -> str:  # never print a key by accident
        return f"KeyRing(source={self.source!r}, keys={len(self._keys)}, current={self.current_id})"

    @property
    def current_id(self) -> str:
        """Hex id of the key new seals use."""
        return self._current.hex()

    @property
    def key_ids(self) -> list[str]:
        return [k.hex() for k in self._keys]

    @classmethod
    def load(cls, settings: Settings, *, create: bool = False) -> KeyRing:
        """The ring named by ``settings`` (see the module docstring).

        ``create`` makes a new key file (mode 0600, in a 0700 folder) when there is none; shells pass it
        where a first run should just work (``make run``), never where a missing key means a
        misconfigured production deployment.
        """
        if settings.master_key:
            keys = [
                _decode_key(part, "HAVEN_MASTER_KEY")
                for part in settings.master_key.split(",")
                if part.strip()
            ]
            return cls(keys, source="HAVEN_MASTER_KEY")
        path = settings.resolved_master_key_file
        _refuse_inside(path, settings.data_dir)
        if not path.exists():
            if not create:
                raise UsageError(
                    f"{path}: no master key file; create one with `haven secrets init` "
                    "or set HAVEN_MASTER_KEY / HAVEN_MASTER_KEY_FILE"
                )
            create_key_file(path)
        return cls(read_key_file(path), source=str(path))

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` under the current key, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(self._keys[self._current]).encrypt(nonce, plaintext, context)
        return MAGIC + self._current + nonce + ct

    def open(self, blob: bytes, *, context: bytes) -> bytes:
        """The plaintext of a sealed blob; ``IntegrityError`` if it was altered, sealed for another
        context, or sealed under a key this ring does not hold."""
        blob = bytes(blob)
        if len(blob) < _HEADER + 16 or not blob.startswith(MAGIC):
            raise IntegrityError("not a sealed blob (bad header or too short)")
        kid = blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
        key = self._keys.get(kid)
        if key is None:
            raise IntegrityError(
                f"sealed under master key {kid.hex()}, which this key ring ({self.source}) does not hold"
            )
        nonce = blob[len(MAGIC) + KEY_ID_BYTES : _HEADER]
        try:
            return AESGCM(key).decrypt(nonce, blob[_HEADER:], context)
        except InvalidTag:
            raise IntegrityError(
                "sealed data failed its integrity check (altered, or not sealed for this record)"
            ) from None

    def sealed_with(self, blob: bytes) -> str:
        """Hex id of the key a blob was sealed under."""
        return bytes(blob)[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES].hex()

    def reseal(self, blob: bytes, *, context: bytes) -> bytes:
        """The same plaintext sealed under the current key (returns ``blob`` unchanged if it already is)."""
        if self.sealed_with(blob) == self.current_id:
            return bytes(blob)
        return self.seal(self.open(blob, context=context), context=context)

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for one purpose (an HMAC key, say), derived from the current master key with HKDF."""
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=None, info=b"haven:" + purpose.encode()
        ).derive(self._keys[self._current])


def _refuse_inside(path: Path, data_dir: Path) -> None:
    try:
        inside = path.resolve().is_relative_to(data_dir.resolve())
    except OSError:
        inside = False
    if inside:
        raise UsageError(
            f"{path}: the master key file is inside the data folder {data_dir}, so a copy of "
            "the data would be a copy of the key; move it (HAVEN_MASTER_KEY_FILE)"
        )


def read_key_file(path: Path) -> list[bytes]:
    """The keys of a key file, newest first, after checking who can read it."""
    try:
        st = path.stat()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the master key file: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: the master key file is not a regular file")
    if st.st_mode & 0o077:
        raise UsageError(
            f"{path}: the master key file is readable by others (mode {st.st_mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UsageError(f"{path}: the master key file belongs to another user (uid {st.st_uid})")
    lines = [
        ln
        for ln in path.read_text(encoding="ascii", errors="replace").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [_decode_key(ln, f"{path} line {n}") for n, ln in enumerate(lines, 1)]


def _write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(
            "# Haven master keys, newest first. Keep this file out of the data folder and its backups.\n"
        )
        fh.writelines(encode_key(k) + "\n" for k in keys)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def create_key_file(path: Path) -> str:
    """Write a new key file with one fresh key (refuses to overwrite); returns the key's id."""
    if path.exists():
        raise UsageError(f"{path}: a master key file already exists")
    key = new_key()
    _write_key_file(path, [key])
    return key_id(key).hex()


def rotate_key_file(path: Path) -> str:
    """Put a fresh key first in the file (older keys stay, to open what they sealed); returns its id."""
    keys = read_key_file(path)
    key = new_key()
    _write_key_file(path, [key, *keys])
    return key_id(key).hex()


def retire_key(path: Path, key_hex_id: str) -> None:
    """Drop an old key from the file once nothing sealed under it remains (never the current one)."""
    keys = read_key_file(path)
    kept = [k for k in keys if key_id(k).hex() != key_hex_id]
    if len(kept) == len(keys):
        raise UsageError(f"{path}: holds no key with id {key_hex_id}")
    if key_id(keys[0]).hex() == key_hex_id:
        raise UsageError(f"{path}: {key_hex_id} is the current key; rotate first")
    _write_key_file(path, kept)


# -- what Haven keeps sealed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedData:
    """One kind of data Haven keeps sealed under the ring, so ``haven secrets`` can count and re-seal it.

    ``usage(ring, settings)`` counts the stored blobs by the hex id of the key that sealed them (``"legacy"``
    for data not yet under the ring); ``reseal(ring, settings)`` seals everything under the ring's current
    key (migrating legacy data where it can) and returns how many blobs changed.
    """

    name: str
    usage: Callable[[KeyRing, Settings], dict[str, int]]
    reseal: Callable[[KeyRing, Settings], int]


#: Modules that register their sealed data when imported: a new kind of secret adds one line here and one
#: ``register_sealed`` call in its module.
PROVIDERS = (
    "haven.reporting.credentials", "haven.auth.sealed", "haven.evidence.sealed", "haven.exchanges.sealed",
)
_SEALED: dict[str, SealedData] = {}


def register_sealed(data: SealedData) -> None:
    """Make ``data`` known to ``haven secrets status|rotate|retire`` (names are unique)."""
    if data.name in _SEALED and _SEALED[data.name] is not data:
        raise UsageError(f"sealed data {data.name!r} is registered twice")
    _SEALED[data.name] = data


def sealed_data() -> list[SealedData]:
    """Every registered kind of sealed data (importing the ``PROVIDERS`` first)."""
    for module in PROVIDERS:
        importlib.import_module(module)
    return [_SEALED[name] for name in sorted(_SEALED)]
