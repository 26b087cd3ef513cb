"""The signal contract battery: every registered signal, and the toy signals of the plug-in test, go
through the same checks — a new signal is one module and its registration, tested here without new code.

Checks: a plain stored name; canonical examples that round-trip (validate, encode/decode, API pattern);
bad values refused; distance is zero on itself and symmetric; values computed from media; and, through a
real SQLite bank, each example matched by the Matcher's look-up for its kind, exported and imported again.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from haven.banks import BankStore, EntryIn
from haven.errors import FormatError
from haven.hashing import hash_bytes, hash_file
from haven.matching import Matcher
from haven.signals import (
    BytesHasher,
    DecodedImage,
    HashOptions,
    ImageHasher,
    Input,
    LookupKind,
    SignalType,
    all_signals,
    register,
    unregister,
)
from haven.signals.base import NAME
from haven.signals.registry import RESERVED

sys.path.insert(0, str(Path(__file__).parent / "toy_plugin"))
import haven_toy_signals  # the plug-in test's package, here only as classes

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
SIGNALS: list[type[SignalType]] = [*all_signals(), haven_toy_signals.AverageHash, haven_toy_signals.Crc32]
ids = [s.name for s in SIGNALS]


@pytest.fixture
def registered(request: pytest.FixtureRequest) -> Iterator[type[SignalType]]:
    """The signal under test, registered for the test if it is not already (the toy ones)."""
    sig: type[SignalType] = request.param
    added = sig not in all_signals()
    if added:
        register(sig)
    try:
        yield sig
    finally:
        if added:
            unregister(sig.name)


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_name_is_a_plain_stored_key(sig: type[SignalType]) -> None:
    assert NAME.fullmatch(sig.name) and sig.name not in RESERVED
    assert isinstance(sig.lookup, LookupKind) and isinstance(sig.input, Input)
    assert 0 <= sig.default_threshold <= sig.max_threshold
    if sig.lookup is LookupKind.EXACT:
        assert sig.max_threshold == 0
    assert sig.description


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_examples_are_canonical_and_round_trip(sig: type[SignalType]) -> None:
    examples = sig.examples()
    assert len(examples) >= 2 and len(set(examples)) == len(examples)
    for v in examples:
        assert sig.validate(v) == v and sig.is_canonical(v) and len(v) <= sig.max_length
        assert sig.validate(f"  {v.upper()}\n") == v  # any case and surrounding space in, canonical out
        assert sig.decode(sig.encode(v)) == v
        assert re.fullmatch(sig.value_pattern(), v.upper())


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_bad_values_are_refused(sig: type[SignalType]) -> None:
    v = sig.examples()[0]
    for bad in ("", "   ", "zz", v + "0", v[:-1], "g" * len(v), v[:2] + " " + v[3:], None, 12345):
        with pytest.raises(FormatError):
            sig.validate(bad)  # type: ignore[arg-type]
        assert not sig.is_canonical(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_weak_values_are_named(sig: type[SignalType]) -> None:
    """``weak_value`` says why a value would match unrelated content: a byte signal's digest of zero bytes
    (every empty file), and any value below a rated signal's quality floor; a real value is not weak."""
    real = sig.examples()[-1]
    assert sig.weak_value(real) is None
    if issubclass(sig, BytesHasher):
        reason = sig.weak_value(sig.new_digest().hexdigest())
        assert isinstance(reason, str) and reason
    if sig.min_quality is not None:
        assert isinstance(sig.weak_value(real, sig.min_quality - 1), str)
        assert sig.weak_value(real, sig.min_quality) is None


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_distance_on_examples(sig: type[SignalType]) -> None:
    a, b = sig.examples()[:2]
    assert sig.distance(a, a) == 0 and sig.matches(a, a)
    assert sig.distance(a, b) == sig.distance(b, a) > 0


@pytest.mark.parametrize("sig", SIGNALS, ids=ids)
def test_values_from_media(sig: type[SignalType]) -> None:
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    data = photo.read_bytes()
    if sig.input is Input.BYTES:
        assert issubclass(sig, BytesHasher)
        whole, parts = sig.new_digest(), sig.new_digest()
        whole.update(data)
        for k in range(0, len(data), 4093):  # streamed in odd-sized blocks: the same value
            parts.update(data[k:k + 4093])
        assert whole.hexdigest() == parts.hexdigest() and sig.validate(whole.hexdigest())
    elif sig.input is Input.IMAGE:
        assert issubclass(sig, ImageHasher)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            pixels = np.asarray(im.convert("RGB"))
        h = sig.hash_image(DecodedImage(pixels, pixels.shape[1], pixels.shape[0]), HashOptions())
        again = sig.hash_image(DecodedImage(pixels.copy(), pixels.shape[1], pixels.shape[0]), HashOptions())
        assert sig.validate(h.value) == h.value == again.value
        if sig.min_quality is not None:
            assert h.quality is not None and 0 <= h.quality <= 100


@pytest.mark.parametrize("registered", SIGNALS, ids=ids, indirect=True)
def test_hash_file_gives_the_signal_when_asked(registered: type[SignalType]) -> None:
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    if registered.input not in (Input.BYTES, Input.IMAGE):
        pytest.skip("computed from video")
    result = hash_file(photo, (registered.name,))
    assert list(result.hashes) == [registered.name]
    assert hash_bytes(photo.read_bytes(), "same", (registered.name,)).hashes == result.hashes
    out = result.to_dict()
    assert out[registered.name] == result.hashes[registered.name]
    if registered.min_quality is not None:
        assert out[registered.quality_key()] == result.quality[registered.name]


@pytest.mark.parametrize("registered", SIGNALS, ids=ids, indirect=True)
def test_banked_examples_are_matched_exported_and_imported(registered: type[SignalType], sqlite_url: str,
                                                            tmp_path: Path) -> None:
    """Each example, banked, is found by the Matcher at distance 0 through its signal's look-up kind, and
    a Haven-CSV export imported into another bank holds the same values."""
    sig = registered
    examples = sig.examples()
    with BankStore(sqlite_url) as store:
        store.create_bank("battery")
        # force: some examples are weak on purpose (the digests of b"" are test vectors).
        ids_ = store.add_entries("battery", [EntryIn(sig.name, v.upper()) for v in examples], force=True)
        matcher = Matcher(store, auto_refresh=None)
        found = matcher.match_many(sig.name, examples)
        for entry_id, v, matches in zip(ids_, examples, found, strict=True):
            own = [m for m in matches if m.entry_id == entry_id]
            assert own and own[0].distance == 0 and own[0].value == v and own[0].signal == sig.name
        store.set_feedback(ids_[0], "false_positive")  # switched off: no longer matched
        matcher.refresh()
        assert all(m.entry_id != ids_[0] for m in matcher.match_many(sig.name, examples[:1])[0])

        out = tmp_path / "battery.csv"
        with out.open("w", encoding="utf-8", newline="") as fh:
            assert store.export_file("battery", fh, "csv").written == len(examples)
        store.create_bank("again")
        result = store.import_file("again", out, "csv", force=True)
        assert result.rows_added == len(examples) and result.errors == 0
        assert sorted(e.value for e in store.iter_entries("again")) == sorted(examples)


@pytest.mark.parametrize("sig", [s for s in SIGNALS if s.lookup is LookupKind.DISTANCE],
                         ids=[s.name for s in SIGNALS if s.lookup is LookupKind.DISTANCE])
def test_distance_index_add_query_remove(sig: type[SignalType]) -> None:
    index = sig.make_index()
    examples = sig.examples()
    index.add(np.arange(10, 10 + len(examples), dtype=np.int64), examples)
    assert len(index) == len(examples)
    counts, got, dists = index.query_flat(examples, 0)
    assert counts.tolist() == [1] * len(examples) and got.tolist() == list(range(10, 10 + len(examples)))
    assert dists.tolist() == [0] * len(examples)
    a, b = examples[:2]
    counts, got, dists = index.query_flat([a], sig.distance(a, b))
    assert 11 in got.tolist() and dists.tolist()[got.tolist().index(11)] == sig.distance(a, b)
    index.remove([10])
    assert len(index) == len(examples) - 1 and 10 not in index.query_flat([a], sig.max_threshold)[1].tolist()


@pytest.mark.parametrize("registered", [haven_toy_signals.AverageHash], ids=["ahash"], indirect=True)
def test_index_that_is_never_saved_is_rebuilt_beside_a_saved_manifest(
    registered: type[SignalType], sqlite_url: str, tmp_path: Path
) -> None:
    """A saved manifest covers the indexes that can be saved (PDQ); entries of a signal whose index cannot
    be (the toy's) are read from the database when a new Matcher maps the manifest."""
    a, pdq = registered.examples()[0], all_signals()[0].examples()[0]
    with BankStore(sqlite_url) as store:
        store.create_bank("b")
        store.add_entries("b", [EntryIn(registered.name, a), EntryIn("pdq", pdq)])
        Matcher(store, index_dir=tmp_path / "idx").save_index()
        again = Matcher(store, index_dir=tmp_path / "idx")
        assert again.loaded_from.endswith("index-manifest.json")
        assert {m.signal for m in again.match_hashes({registered.name: a, "pdq": pdq})} == {"ahash", "pdq"}
