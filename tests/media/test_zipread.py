"""The zip reader for hostile evidence: what zipfile refuses or hides, and every method it must still read."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import hostile_evidence as hb
from haven.errors import ArchiveError
from haven.media import Limits, walk
from haven.media.zipread import open_member, overlapping, read_directory


def _read(data: bytes) -> dict[str, bytes]:
    fh = io.BytesIO(data)
    directory = read_directory(fh, len(data), 1000)
    return {m.name: _all(open_member(fh, m)) for m in directory.members}


def _all(stream: io.RawIOBase) -> bytes:
    out = bytearray()
    while block := stream.read(65536):
        out += block
    return bytes(out)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_every_method_reads_as_zipfile_wrote_it(method: int) -> None:
    members = {"a.txt": b"hello " * 5000, "empty": b"", "b/c.bin": bytes(range(256)) * 300}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert _read(buf.getvalue()) == members


def test_zip64_and_a_zip_after_other_bytes() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zf.open("big.bin", "w", force_zip64=True) as fh:
        fh.write(b"z" * 1000)
    data = b"a prefix that is not a zip" * 10 + buf.getvalue()
    directory = read_directory(io.BytesIO(data), len(data), 10)
    assert directory.prefix == 260 and _read(data) == {"big.bin": b"z" * 1000}


def test_raw_names_are_kept_duplicates_nul_and_bad_utf8_included() -> None:
    data = hb.raw_zip([(b"dup", b"1"), (b"dup", b"2"), (b"n\x00a", b"3"), (b"n\x00b", b"4")])
    names = [m.name for m in read_directory(io.BytesIO(data), len(data), 10).members]
    assert names == ["dup", "dup", "n\x00a", "n\x00b"]
    flagged = hb.raw_zip([(b"ok", b"1"), (b"bad\xff", b"2")], flags=0x800)
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(io.BytesIO(flagged))  # what the standard library does with it
    members = read_directory(io.BytesIO(flagged), len(flagged), 10).members
    assert [m.name for m in members] == ["ok", "bad\udcff"] and members[1].raw_name == b"bad\xff"


def test_overlapping_entries_are_found_from_the_directory_alone() -> None:
    for data in (hb.zip_overlapping(50), hb.zip_fully_overlapping(50, size=1000)):
        members = read_directory(io.BytesIO(data), len(data), 100).members
        assert set(overlapping(members)) == {m.index for m in members}
    honest = hb.raw_zip([(f"f{i}".encode(), bytes(100)) for i in range(50)])
    assert not overlapping(read_directory(io.BytesIO(honest), len(honest), 100).members)


def test_lying_truncated_and_damaged_members() -> None:
    liar = hb.zip_member_larger_than_declared(size=10 * hb.MiB, declared=1000)
    fh = io.BytesIO(liar)
    (m,) = read_directory(fh, len(liar), 10).members
    with pytest.raises(ArchiveError, match="declared size") as exc:
        _all(open_member(fh, m))
    assert exc.value.code == "zip_bomb"
    good = bytearray(hb.zip_of({"x.bin": b"payload" * 1000}))
    good[36:40] = b"\xff" * 4  # the deflate data now opens with a block of the reserved type
    with pytest.raises(ArchiveError, match="damaged deflate") as exc:
        _read(bytes(good))
    assert exc.value.code == "corrupt_member"
    stored = bytearray(hb.raw_zip([(b"s.bin", b"0123456789" * 10)]))
    stored[-22 + 12 : -22 + 16] = (len(stored) + 1000 - 22).to_bytes(4, "little")  # cd size past the end
    with pytest.raises(ArchiveError, match="outside the file"):
        read_directory(io.BytesIO(bytes(stored)), len(stored), 10)
    with pytest.raises(ArchiveError, match="end-of-central-directory"):
        read_directory(io.BytesIO(b"PK\x03\x04" + bytes(100)), 104, 10)


def test_the_walk_names_every_member_the_budget_did_not_reach(tmp_path: Path) -> None:
    data = hb.zip_of({f"m{i}.bin": bytes(1000) for i in range(20)})
    (tmp_path / "z.zip").write_bytes(data)
    # The source may yield its own size plus 5,000 bytes: that many whole members, then none.
    limits = Limits(source_min_bytes=5000, max_ratio=0, max_source_bytes=10**9)
    items = list(walk([tmp_path / "z.zip"], limits))
    read = [str(i.path) for i in items if not hasattr(i, "error") and "!/" in str(i.path)]
    bombs = [
        str(i.path) for i in items if getattr(i, "error", None) is not None and i.error.code == "zip_bomb"
    ]
    assert len(read) == (len(data) + 5000) // 1000 and len(read) + len(bombs) == 20
    assert sorted(read + bombs) == sorted(f"{tmp_path}/z.zip!/m{i}.bin" for i in range(20))
