"""The master key ring: sealing, tamper detection, rotation and where the key may live."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.config import Settings
from haven.errors import IntegrityError, UsageError
from haven.secrets import (
    KeyRing,
    create_key_file,
    encode_key,
    new_key,
    read_key_file,
    retire_key,
    rotate_key_file,
)

CTX = b"test-record:1"


def ring() -> KeyRing:
    return KeyRing([new_key()])


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2048), st.binary(min_size=1, max_size=64))
def test_seal_open_round_trip(plaintext: bytes, context: bytes) -> None:
    r = ring()
    assert r.open(r.seal(plaintext, context=context), context=context) == plaintext


def test_every_flipped_byte_is_detected() -> None:
    r = ring()
    blob = r.seal(b"credentials", context=CTX)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(IntegrityError):
            r.open(bytes(bad), context=CTX)


def test_blob_does_not_open_for_another_record() -> None:
    r = ring()
    blob = r.seal(b"x", context=b"record:1")
    with pytest.raises(IntegrityError, match="integrity check"):
        r.open(blob, context=b"record:2")


def test_blob_from_another_ring_names_the_missing_key() -> None:
    blob = ring().seal(b"x", context=CTX)
    with pytest.raises(IntegrityError, match="does not hold"):
        ring().open(blob, context=CTX)


def test_truncated_blob_refused() -> None:
    with pytest.raises(IntegrityError, match="not a sealed blob"):
        ring().open(b"HVS1short", context=CTX)


def test_repr_never_shows_a_key() -> None:
    key = new_key()
    r = KeyRing([key])
    assert encode_key(key) not in repr(r) and key.hex() not in repr(r)


def test_key_file_created_private_outside_data_dir(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "haven" / "master.key"
    s = Settings(data_dir=tmp_path / "data", master_key_file=key_file)
    with pytest.raises(UsageError, match="no master key file"):
        KeyRing.load(s)
    r = KeyRing.load(s, create=True)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "data").exists()  # nothing written into the data folder
    blob = r.seal(b"secret", context=CTX)
    assert KeyRing.load(s).open(blob, context=CTX) == b"secret"


def test_key_file_inside_data_dir_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = Settings(data_dir=data, master_key_file=data / "master.key")
    with pytest.raises(UsageError, match="inside the data folder"):
        KeyRing.load(s, create=True)
    assert not (data / "master.key").exists()


def test_key_file_mode_checked(tmp_path: Path) -> None:
    # The check is on the mode bits, so it holds for root too.
    path = tmp_path / "k" / "master.key"
    create_key_file(path)
    path.chmod(0o640)
    with pytest.raises(UsageError, match="chmod 600"):
        KeyRing.load(Settings(data_dir=tmp_path / "data", master_key_file=path))


def test_rotation_reseal_and_retire(tmp_path: Path) -> None:
    path = tmp_path / "k" / "master.key"
    s = Settings(data_dir=tmp_path / "data", master_key_file=path)
    old_id = create_key_file(path)
    old_blob = KeyRing.load(s).seal(b"report credentials", context=CTX)

    new_id = rotate_key_file(path)
    r = KeyRing.load(s)
    assert r.current_id == new_id != old_id
    assert r.open(old_blob, context=CTX) == b"report credentials"  # old seals still open
    with pytest.raises(UsageError, match="current key"):
        retire_key(path, new_id)

    new_blob = r.reseal(old_blob, context=CTX)
    assert r.sealed_with(new_blob) == new_id and r.reseal(new_blob, context=CTX) == new_blob
    retire_key(path, old_id)
    r2 = KeyRing.load(s)
    assert r2.key_ids == [new_id]
    assert r2.open(new_blob, context=CTX) == b"report credentials"
    with pytest.raises(IntegrityError, match="does not hold"):
        r2.open(old_blob, context=CTX)


def test_environment_keys_newest_first(tmp_path: Path) -> None:
    k_old, k_new = new_key(), new_key()
    old_blob = KeyRing([k_old]).seal(b"a", context=CTX)
    s = Settings(data_dir=tmp_path, master_key=f"{encode_key(k_new)}, {encode_key(k_old)}")
    r = KeyRing.load(s)
    assert r.source == "HAVEN_MASTER_KEY" and len(r.key_ids) == 2
    assert r.open(old_blob, context=CTX) == b"a"
    assert r.sealed_with(r.seal(b"b", context=CTX)) == r.current_id


def test_bad_environment_key_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="base64 of 32 bytes"):
        KeyRing.load(Settings(data_dir=tmp_path, master_key="not-a-key"))


def test_derived_keys_differ_by_purpose() -> None:
    r = ring()
    assert r.derive("webhook-hmac") != r.derive("audit-anchor")
    assert len(r.derive("x", 16)) == 16
