"""Video matching: generated variants of a banked video (re-encoded, half size, the middle 60 %, inside a
longer unrelated video) are found, unrelated videos are not; each bank's frame-set rule (python-
threatexchange's for compatibility); the index gives the brute-force rule's numbers; the reference's own
sample hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import haven_videos as hv
from haven.banks import BankStore, EntryIn
from haven.hashing import hash_file
from haven.index.frames import FrameSetIndex
from haven.matching import Matcher
from haven.signals import Frame, FrameRule, PdqSignal, VpdqSignal
from haven.signals.frames import compare
from haven_testdata import SHARED


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """vPDQ values of a 20 s slideshow (a slow pan across each photo) and its variants, and of unrelated
    slideshows. (The middle 60 % is cut at whole seconds: on a pan, PDQ drifts ~4 bits a frame.)"""
    d = tmp_path_factory.mktemp("videos")
    base = hv.slideshow(d / "base.mp4", hv.photos(0, 10), pan=True)
    made = {
        "base": base,
        "reencoded": hv.transcode(base, d / "reencoded.mp4", fps=30, crf=35),
        "half": hv.transcode(base, d / "half.mp4", size=(160, 120)),
        "middle": hv.transcode(base, d / "middle.mp4", start=4.0, end=16.0),
        "embedded": hv.concat(
            d / "embedded.mp4",
            [hv.slideshow(d / "a.mp4", hv.photos(40, 6)), base, hv.slideshow(d / "b.mp4", hv.photos(50, 6))],
        ),
        "unrelated": hv.slideshow(d / "unrelated.mp4", hv.photos(20, 8)),
        "unrelated2": hv.slideshow(d / "unrelated2.mp4", hv.photos(60, 12), seconds_each=1.5, fps=30),
    }
    return {k: hash_file(p, ("vpdq",)).hashes["vpdq"] for k, p in made.items()}


def test_variants_match_and_unrelated_videos_do_not(videos: dict[str, str], sqlite_url: str) -> None:
    with BankStore(sqlite_url) as store:
        store.create_bank("known")
        (base_id,) = store.add_entries("known", [EntryIn("vpdq", videos["base"], category="A1")])
        matcher = Matcher(store, auto_refresh=None)
        for name in ("base", "reencoded", "half", "middle", "embedded"):
            (found,) = matcher.match_many("vpdq", [videos[name]])
            assert [m.entry_id for m in found] == [base_id], name
            m = found[0].to_dict()
            assert m["signal"] == "vpdq" and m["matched_frames"] > 0
            assert max(m["query_pct"], m["compared_pct"]) >= 80 and found[0].distance <= 20
        (clip,) = matcher.match_many("vpdq", [videos["middle"]])
        assert clip[0].detail and clip[0].detail["query_pct"] == 100 and clip[0].detail["compared_pct"] < 80
        (comp,) = matcher.match_many("vpdq", [videos["embedded"]])
        assert comp[0].detail and comp[0].detail["compared_pct"] == 100 and comp[0].detail["query_pct"] < 80
        for name in ("unrelated", "unrelated2"):
            assert matcher.match_many("vpdq", [videos[name]]) == [[]], name


def test_each_bank_has_its_rule(videos: dict[str, str], sqlite_url: str) -> None:
    """python-threatexchange's rule (query >= 80 %, both sides) finds the clip but not the compilation;
    Meta's README example (compared >= 80 %) the other way round; Haven's default both."""
    with BankStore(sqlite_url) as store:
        store.create_bank("haven")
        store.create_bank("pytx", thresholds={"vpdq.both": 1, "vpdq.query_pct": 80, "vpdq.compared_pct": 0})
        store.create_bank("readme", thresholds={"vpdq.both": 1, "vpdq.query_pct": 0, "vpdq.compared_pct": 80})
        store.create_bank("strict", thresholds={"vpdq": 0})
        for bank in ("haven", "pytx", "readme", "strict"):
            store.add_entries(bank, [EntryIn("vpdq", videos["base"])])
        matcher = Matcher(store, auto_refresh=None)

        def banks(name: str) -> set[str]:
            return {m.bank for m in matcher.match_many("vpdq", [videos[name]])[0]}

        assert banks("middle") == {"haven", "pytx"}
        assert banks("embedded") == {"haven", "readme"}
        assert banks("base") == {"haven", "pytx", "readme", "strict"}
        assert "strict" not in banks("reencoded")  # no frame of the re-encode is bit-identical
        store.update_bank("strict", thresholds={"vpdq": 31})
        matcher.refresh()
        assert "strict" in banks("reencoded")
        with pytest.raises(Exception, match="vpdq.query_pct must be an integer 0-100"):
            store.update_bank("haven", thresholds={"vpdq.query_pct": 101})
        with pytest.raises(Exception, match="no option"):
            store.update_bank("haven", thresholds={"vpdq.nope": 1})


def test_a_video_with_no_usable_frame_matches_nothing_and_divides_by_nothing() -> None:
    flat = ";".join(f"{n},10,{'0' * 64},{n:.3f}" for n in range(3))
    m = VpdqSignal.compare_values(flat, flat.replace(",10,", ",100,"))
    assert (m.query_pct, m.compared_pct, m.matched) == (0.0, 0.0, False)
    index = FrameSetIndex(VpdqSignal.frames, PdqSignal.make_index)
    index.add([1], [flat])
    assert index.match([flat], FrameRule()) == [[]]


def test_no_frame_in_common_never_matches_even_at_zero_percent() -> None:
    """Found by the property test below: at 0 % the percentages alone would match two unrelated videos
    (0 ≥ 0), which the index, finding no frame in common, never offers."""
    a, b = f"0,100,{'0' * 64},0.000", f"0,100,{'f' * 64},0.000"
    loose = FrameRule(distance=31, quality=0, query_pct=0, compared_pct=0)
    assert not compare(VpdqSignal.frames(a), VpdqSignal.frames(b), loose, PdqSignal.distance).matched
    assert compare(VpdqSignal.frames(a), VpdqSignal.frames(a), loose, PdqSignal.distance).matched
    index = FrameSetIndex(VpdqSignal.frames, PdqSignal.make_index)
    index.add([1], [b])
    assert index.match([a], loose) == [[]]


HEX = st.integers(min_value=0, max_value=2**256 - 1)


def _near(base: int, bits: list[int]) -> str:
    v = base
    for b in bits:
        v ^= 1 << b
    return f"{v:064x}"


@st.composite
def frame_sets(draw: st.DrawFn, pool: list[int]) -> str:
    n = draw(st.integers(1, 8))
    frames = []
    for k in range(n):
        base = draw(st.sampled_from(pool))
        flips = draw(st.lists(st.integers(0, 255), max_size=40))
        frames.append(Frame(_near(base, flips), draw(st.integers(0, 100)), float(k)))
    return VpdqSignal.validate(
        ";".join(f"{k},{f.quality},{f.hash},{f.timestamp:.3f}" for k, f in enumerate(frames))
    )


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    pool=st.lists(HEX, min_size=1, max_size=4, unique=True),
    distance=st.integers(0, 64),
    quality=st.integers(0, 100),
    q=st.integers(0, 100),
    c=st.integers(0, 100),
    both=st.booleans(),
)
def test_the_index_gives_the_rule_by_brute_force(
    data: st.DataObject, pool: list[int], distance: int, quality: int, q: int, c: int, both: bool
) -> None:
    banked = [data.draw(frame_sets(pool)) for _ in range(4)]
    query = data.draw(frame_sets(pool))
    rule = FrameRule(distance=distance, quality=quality, query_pct=q, compared_pct=c, both=both)
    index = FrameSetIndex(VpdqSignal.frames, PdqSignal.make_index)
    index.add(list(range(10, 14)), banked)
    index.remove([12])
    got = dict(index.match([query], rule)[0])
    for i, value in zip(range(10, 14), banked, strict=True):
        want = compare(VpdqSignal.frames(query), VpdqSignal.frames(value), rule, PdqSignal.distance)
        if i == 12 or not want.matched:
            assert i not in got
        else:
            assert got[i] == want


REF = SHARED / "reference" / "vpdq" / "sample-hashes"
# Same source, same framing: the chair clips with their bar (re-encoded, grey, sepia, small logo), the
# chair without bars at two sizes, the pattern clip inside its longer version, the pattern with its bar.
SAME_SOURCE = [
    {
        "chair-19-sd-bar",
        "chair-20-sd-bar",
        "chair-22-sd-grey-bar",
        "chair-22-sd-sepia-bar",
        "chair-22-with-small-logo-bar",
        "chair-orig-22-sd-bar",
    },
    {"chair-orig-22-fhd-no-bar", "chair-orig-22-hd-no-bar"},
    {"pattern-hd-no-bar", "pattern-longer-no-bar"},
    {"pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar"},
]


def one_a_second(value: str) -> str:
    """The frames of an every-frame value at each whole second (the default sampling)."""
    kept, due = [], 0.0
    for f in value.split(";"):
        if float(f.rsplit(",", 1)[1]) >= due - 1e-9:
            kept.append(f)
            due = int(float(f.rsplit(",", 1)[1])) + 1
    return ";".join(kept)


def test_the_reference_sample_hashes(sqlite_url: str) -> None:
    """Every sample hash of the reference (every frame), banked, queried with each one at 1 frame/s: the
    same source with the same framing matches — across re-encodes, grey/sepia, a small logo, a clip and its
    longer version; bars added or removed, a large logo or other content do not."""
    names = sorted(p.stem for p in REF.glob("*.txt") if not p.stem.endswith("128x128"))
    values = {n: VpdqSignal.validate((REF / f"{n}.txt").read_text()) for n in names}
    with BankStore(sqlite_url) as store:
        store.create_bank("samples")
        ids = store.add_entries("samples", [EntryIn("vpdq", values[n], note=n) for n in names])
        name_of = dict(zip(ids, names, strict=True))
        matcher = Matcher(store, auto_refresh=None)
        for n in names:
            found = {
                name_of[m.entry_id]
                for m in matcher.match_many("vpdq", [one_a_second(values[n])])[0]
                if m.entry_id is not None
            }
            group = next((g for g in SAME_SOURCE if n in g), {n})
            assert found == group, n


def test_a_hashed_video_banks_as_its_entries(sqlite_url: str, tmp_path: Path) -> None:
    """What `haven bank add NAME FILE…` builds from a hashed file (``entries_from_hash``): a video gives its
    digests and its vPDQ, and the same file then matches on both."""
    from haven.banks.types import entries_from_hash

    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(80, 3))
    result = hash_file(video)
    entries = entries_from_hash(result, category="A1")
    assert [e.signal for e in entries] == list(result.hashes) and {"md5", "vpdq"} <= set(result.hashes)
    with BankStore(sqlite_url) as store:
        store.create_bank("files")
        store.add_entries("files", entries)
        found = Matcher(store, auto_refresh=None).match_result(hash_file(video))
    assert {m.signal for m in found} == set(result.hashes)  # every value it was banked by
