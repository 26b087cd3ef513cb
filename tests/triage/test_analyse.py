"""Clustering and analysis: index-based union-find against brute force, look-ups, EXIF, priorities."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from haven.banks import BankStore, EntryIn
from haven.matching import Matcher
from haven.signals import Variant
from haven.triage.analyse import Thresholds, analyse
from haven.triage.casedb import FileRow
from haven.triage.cluster import UnionFind, cluster, near_pairs
from haven.triage.exif import read_exif

MakeBank = Callable[..., Matcher]


@pytest.fixture
def bank(sqlite_url: str) -> Iterator[MakeBank]:
    """A real bank "B" on SQLite holding the given entries, and the Matcher over it."""
    stores: list[BankStore] = []

    def make(*entries: EntryIn) -> Matcher:
        store = BankStore(sqlite_url)
        stores.append(store)
        store.create_bank("B")
        store.add_entries("B", list(entries), force=True)  # weak values too: some tests bank them on purpose
        return Matcher(store, auto_refresh=None)

    yield make
    for store in stores:
        store.close()


def _md5(tag: str) -> str:
    return hashlib.md5(tag.encode()).hexdigest()


def _upscaled(**sides: str) -> dict[str, tuple[Variant, ...]]:
    return {
        "pdq": tuple(
            Variant("upscaled", side.removeprefix("s"), v, fallback=True) for side, v in sides.items()
        )
    }


def planted(rng: np.random.Generator, n_clusters: int, per: int, noise_bits: int) -> np.ndarray:
    """Random 256-bit centres with members a few bits away (like variants of one image)."""
    out = []
    for _ in range(n_clusters):
        centre = np.unpackbits(rng.integers(0, 256, 32, dtype=np.uint8))
        for _ in range(per):
            bits = centre.copy()
            flip = rng.choice(256, size=int(rng.integers(0, noise_bits + 1)), replace=False)
            bits[flip] ^= 1
            out.append(np.packbits(bits))
    return np.array(out, dtype=np.uint8)


def brute_components(h: np.ndarray, t: int) -> list[list[int]]:
    bits = np.unpackbits(h, axis=1).astype(np.int16)
    d = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    uf = UnionFind(len(h))
    for i, j in zip(*np.nonzero(np.triu(d <= t, 1)), strict=True):
        uf.union(int(i), int(j))
    return uf.components()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 6), st.sampled_from([8, 20, 31, 48]))
def test_cluster_equals_brute_force(seed: int, clusters: int, per: int, t: int) -> None:
    h = planted(np.random.default_rng(seed), clusters, per, 30)
    assert cluster(h, t).components() == brute_components(h, t)
    pairs = {(i, j) for i, j, _ in near_pairs(h, t)}
    bits = np.unpackbits(h, axis=1)
    for i, j in pairs:
        assert int((bits[i] != bits[j]).sum()) <= t


def _row(path: str, pdq: str | None, md5: str, kind: str = "image", exif: dict | None = None) -> FileRow:
    return FileRow(
        path=path,
        source=0,
        depth=0,
        size=1,
        mime="image/jpeg" if kind == "image" else "text/plain",
        kind=kind,
        hashes={"md5": _md5(md5), **({"pdq": pdq} if pdq else {})},
        quality={"pdq": 100} if pdq else {},
        width=10,
        height=10,
        exif=exif,
    )


def _flip(hexv: str, n: int, start: int = 0) -> str:
    """``hexv`` with ``n`` bits flipped, starting at bit ``start`` (exactly ``n`` bits away)."""
    return f"{int(hexv, 16) ^ (((1 << n) - 1) << start):064x}"


def test_analyse_statuses_groups_series_priorities(bank: MakeBank) -> None:
    rng = np.random.default_rng(7)
    a, b, c = (rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(3))
    rows = [
        _row("/s/a1.jpg", a, "m1"),
        _row("/s/a2.jpg", _flip(a, 10), "m2"),  # known by PDQ (10 bits)
        _row("/s/a3.jpg", a, "m1"),  # exact copy of a1
        _row(
            "/s/a4.jpg", _flip(_flip(a, 10), 24, 100), "m8"
        ),  # 34 bits from the bank, 24 from a2: known via a2
        _row("/s/b1.jpg", b, "m3"),
        _row("/s/b2.jpg", _flip(b, 40), "m4"),  # an unknown series (40 bits apart)
        _row("/s/c1.jpg", c, "m5", exif={"gps_lat": 1.0, "gps_lon": 2.0}),  # unknown, lone, with GPS
        _row("/s/c2.jpg", _flip(c, 45), "m6"),  # 45 bits from c1 and from a bank entry
        _row("/s/t.txt", None, "m7", kind="other"),
    ]
    matcher = bank(
        EntryIn("pdq", a, category="1", category_scheme="projectvic-us", series="SA",
                victim_identified=False),
        EntryIn("md5", _md5("m9")),
        EntryIn("pdq", _flip(_flip(c, 45), 44, 100), series="SNEAR"),
    )
    res = analyse(rows, [], matcher, Thresholds())
    by = {f.row.path: f for f in res.files}
    assert [by[p].status for p in ("/s/a1.jpg", "/s/a2.jpg", "/s/a3.jpg", "/s/b1.jpg", "/s/t.txt")] == [
        "known",
        "known",
        "known",
        "unknown",
        "other",
    ]
    assert by["/s/a2.jpg"].hits[0].distance == 10
    assert by["/s/a4.jpg"].status == "known" and (by["/s/a4.jpg"].via, by["/s/a4.jpg"].via_distance) == (
        "/s/a2.jpg",
        24,
    )
    assert by["/s/a2.jpg"].via is None and any("near-duplicate" in r for r in by["/s/a4.jpg"].reasons)
    assert by["/s/a1.jpg"].dup_group == by["/s/a2.jpg"].dup_group == by["/s/a3.jpg"].dup_group
    assert by["/s/b1.jpg"].dup_group != by["/s/b2.jpg"].dup_group  # 40 bits: not a duplicate…
    assert by["/s/b1.jpg"].series == by["/s/b2.jpg"].series is not None  # …but the same series
    s = res.summary()
    assert (s["files"], s["known"], s["unknown"], s["other"]) == (9, 4, 4, 1)
    assert s["duplicates"] == 3 and s["duplicate_groups"] == 1
    assert s["series"] == 2 and s["series_touching_known"] == 1
    near = by["/s/c2.jpg"]
    assert near.near and near.near[0].series == "SNEAR" and near.near[0].distance == 44
    assert by["/s/c1.jpg"].series == near.series  # the series touching a known one
    assert near.priority is not None and by["/s/b1.jpg"].priority is not None
    assert near.priority > by["/s/b1.jpg"].priority > (by["/s/a1.jpg"].priority or 0)
    assert any("GPS" in r for r in by["/s/c1.jpg"].reasons)
    assert any("touches known SNEAR" in r for r in by["/s/c1.jpg"].reasons)


def test_low_quality_hashes_are_not_compared(bank: MakeBank) -> None:
    rows = [_row("/s/x.jpg", "0" * 64, "m1"), _row("/s/y.jpg", "0" * 64, "m2")]
    for r in rows:
        r.quality["pdq"] = 0  # a flat image: PDQ says nothing about it
    res = analyse(rows, [], bank(EntryIn("pdq", "0" * 64)))
    assert {f.status for f in res.files} == {"unknown"} and res.summary()["duplicate_groups"] == 0


def test_read_exif() -> None:
    ex = Image.Exif()
    ex[0x010F] = "Cam\x00"
    gps = ex.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "S", (33.0, 51.0, 0.0), "W", (70.0, 30.0, 0.0)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", exif=ex.tobytes())
    got = read_exif(buf.getvalue())
    assert got["make"] == "Cam" and got["gps_lat"] == -33.85 and got["gps_lon"] == -70.5
    assert read_exif(b"not an image") == {}


def test_small_images_are_also_looked_up_by_their_upscaled_pdq(bank: MakeBank) -> None:
    """A thumbnail whose own PDQ drifted past the threshold, but whose upscaled value (the ladder)
    is within it, is known, says how; without the ladder it is only near known. A file whose own
    PDQ matches keeps its own match. "Near known" looks at the file's own PDQ only."""
    rng = np.random.default_rng(11)
    entry = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
    other = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
    matcher = bank(EntryIn("pdq", entry, series="S1"), EntryIn("pdq", other, series="S2"))
    thumb = _row("/s/thumb.jpg", _flip(entry, 40), "m1")
    thumb.width, thumb.height = 144, 96
    thumb.variants = _upscaled(s256=_flip(entry, 12, 100), s384=_flip(entry, 9, 200), s512=_flip(entry, 20))
    direct = _row("/s/direct.jpg", _flip(other, 5), "m2")
    direct.variants = _upscaled(s256=_flip(entry, 2))  # its own PDQ matches S2: the ladder is not consulted
    lone = _row("/s/lone.jpg", _flip(entry, 44, 150), "m3")  # far from the thumbnail too
    lone.variants = _upscaled(s256=_flip(entry, 40))  # within the series threshold only: not consulted
    result = analyse([thumb, direct, lone], [], matcher)
    assert result.summary()["known"] == 2 and result.summary()["known_upscaled"] == 1
    from haven.triage.export import vics_case

    media = vics_case(result, sources=["/s"], case_number=None, version="test")["value"][0]["Media"]
    tags = {m["MediaFiles"][0]["FileName"]: m["Tags"] for m in media}
    assert "haven:upscaled=384" in tags["thumb.jpg"] and "upscaled" not in tags["direct.jpg"]
    with_ladder = {f.row.path: f for f in result.files}
    t = with_ladder["/s/thumb.jpg"]
    assert t.status == "known" and t.upscaled_side == 384 and t.hits[0].distance == 9
    assert any("upscaled to 384 px (distance 9)" in r and "144x96" in r for r in t.reasons)
    d = with_ladder["/s/direct.jpg"]
    assert d.status == "known" and [h.series for h in d.hits] == ["S2"] and d.upscaled_side is None
    lone_result = with_ladder["/s/lone.jpg"]
    assert lone_result.status == "unknown" and lone_result.near[0].distance == 44
    plain = {
        f.row.path: f for f in analyse([thumb, direct, lone], [], matcher, Thresholds(upscaled=False)).files
    }
    assert plain["/s/thumb.jpg"].status == "unknown" and plain["/s/thumb.jpg"].near[0].distance == 40
    assert plain["/s/lone.jpg"].near[0].distance == 44


def test_analysis_does_not_depend_on_threads(bank: MakeBank) -> None:
    """Over 512 images (so the index queries really are split): statuses, hits, groups, series and
    priorities are the same with 1, 2 and 3 threads."""
    rng = np.random.default_rng(3)
    hashes = planted(rng, 150, 5, 40)
    rows = [_row(f"/s/{k:04d}.jpg", bytes(h).hex(), f"m{k}") for k, h in enumerate(hashes)]
    matcher = bank(*[EntryIn("pdq", bytes(h).hex(), series=f"S{k}") for k, h in enumerate(hashes[::15])])

    def digest(a):  # type: ignore[no-untyped-def]
        return (
            [
                (
                    f.row.path,
                    f.status,
                    [(h.value, h.distance) for h in f.hits],
                    [(h.value, h.distance) for h in f.near],
                    f.dup_group,
                    f.series,
                    f.priority,
                    f.reasons,
                    f.via,
                )
                for f in a.files
            ],
            [(s.id, s.members) for s in a.series],
        )

    one = digest(analyse(rows, [], matcher))
    assert sum(1 for f in one[0] if f[1] == "known") > 50 and len(one[1]) > 10
    for threads in (2, 3):
        assert digest(analyse(rows, [], matcher, threads=threads)) == one
