"""Import/export formats: reference examples, lossless round trips (export → import → export),
malformed input reported with file and line, format detection."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from bank_fixtures import sqlite_store, store  # fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.banks import BankStore, EntryIn, detect_format
from haven.errors import FormatError
from haven_testdata import FORMATS_REF

PDQ = "c4c8ea717e051345376f69602e6758980037f7e176337ad8e9f9bd4a8f76c88c"
# A vPDQ value as python-threatexchange writes it (vpdq_util.vpdq_to_json: "pdq_hex,quality,timestamp"
# strings; its timestamps use Python's ".3" format, "1.0", "1.23e+02"): frames of the reference's
# pattern-sd-grey-bar sample hashes.
VPDQ_PYTX = json.dumps([
    "b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86,100,0.0",
    "92de981be52e894783bc92854edcda89f24b955627b6dff82a8b81052554dbc6,100,1.0",
    "c0a3efc9a963f0a91e9a62392afc65013ba5421f529aafb9af4fa013157467e2,100,1.23e+02",
])


def export(store: BankStore, bank: str, fmt: str) -> str:
    out = io.StringIO()
    store.export_file(bank, out, fmt)
    return out.getvalue()


def round_trip(store: BankStore, bank: str, fmt: str, tmp_path: Path) -> str:
    """Export ``bank``, import that into a new bank, export again: the two exports must be identical."""
    first = export(store, bank, fmt)
    f = tmp_path / f"{bank}.{fmt}.out"
    f.write_text(first, encoding="utf-8")
    store.create_bank(bank + "-rt")
    res = store.import_file(bank + "-rt", f, fmt, force=True)  # whatever the bank held, weak values too
    assert res.errors == 0, res.messages
    second = export(store, bank + "-rt", fmt)
    assert second == first
    return first


def test_vics_cases_example(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("pv", source="Project VIC")
    path = FORMATS_REF / "vics-example.json"
    assert detect_format(path) == "vics"
    res = store.import_file("pv", path)
    assert (res.errors, res.rows_added, res.records_read) == (0, 5, 2)  # md5+sha1+sha256, md5+sha1
    entries = list(store.iter_entries("pv"))
    md5 = entries[0]
    assert (md5.signal, md5.value, md5.category, md5.category_scheme, md5.severity) == \
        ("md5", "e3c27dbbab9a3bbc92418e4bcd13b63d", "1", "projectvic-us", 2)
    assert md5.victim_identified is True and md5.series == "Fictional Series Alpha"
    assert [e.signal for e in entries] == ["md5", "sha1", "sha256", "md5", "sha1"]
    assert entries[2].value == "f6f91937a0f74f18d17894cc6c960ba02a9ce1e45c27eb13d77b7975d38a04a6"
    assert entries[3].severity == 0  # US set: 0 = Non-Pertinent
    text = round_trip(store, "pv", "vics", tmp_path)
    doc = json.loads(text)
    assert doc["@odata.context"].endswith("/US/$metadata#Media")
    assert doc["value"][0]["MediaFiles"][0]["FileName"] == "holiday.jpg"  # kept verbatim


def test_vics_hashset_example_and_photodna_warning(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("pv")
    res = store.import_file("pv", FORMATS_REF / "vics-hashset-example.json")
    assert (res.errors, res.rows_added) == (0, 3)
    e = list(store.iter_entries("pv"))
    assert e[0].category_scheme == "projectvic" and e[0].severity == 2
    assert e[2].category == "0" and e[2].severity is None  # Default country: 0 is ambiguous
    round_trip(store, "pv", "vics", tmp_path)
    f = tmp_path / "pdna.json"
    f.write_text('\ufeff{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/'
                 '$metadata#Media","value":[{"MediaID":9,"Category":1,"MD5":"70a5336e89dd389482ebf618386ccc0b",'
                 '"PhotoDNA":"opaque-base64=="}]}', encoding="utf-8")
    store.create_bank("pdna")
    res = store.import_file("pdna", f)
    assert res.rows_added == 1 and res.warnings == 1 and "PhotoDNA" in res.messages[0]
    assert list(store.iter_entries("pdna"))[0].extra["vics"]["PhotoDNA"] == "opaque-base64=="


def test_pytx_dataset_csv_and_file_collab(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("tx")
    assert detect_format(FORMATS_REF / "te-dataset-example.csv") == "pytx"
    res = store.import_file("tx", FORMATS_REF / "te-dataset-example.csv")
    assert (res.errors, res.rows_added) == (0, 2)
    a, b = store.iter_entries("tx")
    assert (a.signal, a.value, b.signal) == ("pdq", PDQ, "md5")
    assert a.extra == {"pytx": {"collab": "Example File Collab", "tags": "fictional example"}}
    text = round_trip(store, "tx", "pytx", tmp_path)
    assert text.splitlines()[1] == f"pdq,{PDQ},Example File Collab,POSITIVE_CLASS,fictional example"
    store.create_bank("fc")
    assert detect_format(FORMATS_REF / "te-file-collab-example.txt") == "pytx"
    res = store.import_file("fc", FORMATS_REF / "te-file-collab-example.txt")
    assert (res.errors, res.rows_added) == (0, 2)


def test_pytx_opinions_and_classification_tags(store: BankStore, tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("signal_type,signal_str,collab,category,tags\n"
                 f"pdq,{PDQ},c,NEGATIVE_CLASS,\n"
                 f"pdq,{PDQ.replace('c4', 'd4')},c,DISPUTED,x y\n"
                 f"pdq,{PDQ.replace('c4', 'e4')},c,INVESTIGATION_SEED,a1\n"
                 "raw_text,hello,c,POSITIVE_CLASS,\n")
    store.create_bank("tx")
    res = store.import_file("tx", f, "pytx")
    assert res.rows_added == 3 and res.errors == 1 and "line 5" in res.messages[0]
    a, b, c = store.iter_entries("tx")
    assert (a.feedback, b.feedback, c.feedback) == ("false_positive", "disputed", None)
    assert (c.category, c.severity) == ("A1", 4)
    round_trip(store, "tx", "pytx", tmp_path)


def test_hma_jsonl(store: BankStore, tmp_path: Path) -> None:
    ref = json.loads((FORMATS_REF / "hma-bank-content-example.json").read_text())
    body = ref["get_content_response"]["body"]
    f = tmp_path / "bank.jsonl"
    two = {
        "id": 2,
        "signals": {
            "pdq": PDQ.replace("c4", "d4"),
            "video_md5": "70a5336e89dd389482ebf618386ccc0b",
            "vpdq": VPDQ_PYTX,
            "tmk_pdqf": "opaque",
        },
        "note": "two",
    }
    f.write_text(json.dumps(body) + "\n\n" + json.dumps(two) + "\n")
    assert detect_format(f) == "hma"
    store.create_bank("hma")
    res = store.import_file("hma", f)
    assert (res.errors, res.rows_added, res.warnings) == (0, 4, 1)  # tmk_pdqf is not supported → warning
    a, b, c, d = store.iter_entries("hma")
    assert (a.signal, a.note, a.item) == ("pdq", "fictional example", "hma:1")
    # the object's disable_until_ts is kept as the entry's (HMA's 0: disabled until changed)
    assert (a.disable_until_ts, b.disable_until_ts) == (0, None) and not a.matches_at(time.time())
    assert a.extra["hma"]["metadata"]["content_id"] == "example-123"
    assert (b.item, c.item, c.signal, d.signal, d.item) == ("hma:2", "hma:2", "md5", "vpdq", "hma:2")
    assert d.value.endswith(",100,c0a3efc9a963f0a91e9a62392afc65013ba5421f529aafb9af4fa013157467e2,123.000")
    text = round_trip(store, "hma", "hma", tmp_path)
    signals = json.loads(text.splitlines()[1])["signals"]
    assert set(signals) == {"pdq", "video_md5", "vpdq"} and signals["pdq"] == two["signals"]["pdq"]
    frames = json.loads(signals["vpdq"])  # back in python-threatexchange's form, times with 3 decimals
    assert frames[2] == "c0a3efc9a963f0a91e9a62392afc65013ba5421f529aafb9af4fa013157467e2,100,123.000"


def test_pytx_vpdq_rows(store: BankStore, tmp_path: Path) -> None:
    """vPDQ rows of a python-threatexchange dataset (before, skipped with a report) import, match and export
    in pytx's own form; file-collab lines carry them too."""
    f = tmp_path / "tx.csv"
    with f.open("w", newline="") as fh:
        import csv

        w = csv.writer(fh)
        w.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
        w.writerow(["vpdq", VPDQ_PYTX, "c", "POSITIVE_CLASS", ""])
        w.writerow(["video_md5", "70a5336e89dd389482ebf618386ccc0b", "c", "POSITIVE_CLASS", ""])
    store.create_bank("tx")
    res = store.import_file("tx", f, "pytx")
    assert (res.errors, res.rows_added) == (0, 2), res.messages
    v, m = store.iter_entries("tx")
    assert (v.signal, m.signal) == ("vpdq", "md5") and v.value.startswith(",100,b2dc981b")
    text = round_trip(store, "tx", "pytx", tmp_path)
    assert json.loads(next(csv_rows(text))[1])[0] == (
        "b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86,100,0.000")
    lines = tmp_path / "collab.txt"
    lines.write_text(f"vpdq {VPDQ_PYTX}\n")
    store.create_bank("fc")
    assert store.import_file("fc", lines, "pytx").rows_added == 1
    assert [e.value for e in store.iter_entries("fc")] == [v.value]


def csv_rows(text: str):  # type: ignore[no-untyped-def]
    import csv

    rows = csv.reader(io.StringIO(text))
    next(rows)
    return rows


def test_haven_csv_lossless_for_every_field(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("h")
    store.add_entries(
        "h",
        [
            EntryIn(
                "pdq",
                PDQ,
                quality=77,
                category="B2",
                series='S, "quoted"\nnext line',
                victim_identified=False,
                note="ünïcode, comma",
                item="it-1",
                feedback="disputed",
                extra={"k": [1, "two"]},
            ),
            EntryIn(
                "sha256", "f6f91937a0f74f18d17894cc6c960ba02a9ce1e45c27eb13d77b7975d38a04a6", category="C"
            ),
        ],
    )
    text = round_trip(store, "h", "csv", tmp_path)
    a = list(store.iter_entries("h-rt"))[0]
    assert (a.quality, a.category, a.severity, a.victim_identified, a.feedback, a.extra) == (
        77,
        "B2",
        2,
        False,
        "disputed",
        {"k": [1, "two"]},
    )
    assert a.series == 'S, "quoted"\nnext line'
    assert text.startswith("signal,value,quality,category,category_scheme,severity,")


def test_cross_format_vics_through_haven_csv(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("pv")
    store.import_file("pv", FORMATS_REF / "vics-example.json")
    csv_file = tmp_path / "pv.csv"
    csv_file.write_text(export(store, "pv", "csv"))
    store.create_bank("pv2")
    store.import_file("pv2", csv_file)
    assert export(store, "pv2", "vics") == export(store, "pv", "vics")


text_st = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), min_size=1, max_size=20
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pdq", "md5", "sha1", "sha256"]),
            st.randoms(use_true_random=False),
            text_st,
            st.one_of(st.none(), st.sampled_from(["A1", "B", "3", "x"])),
            st.one_of(st.none(), st.booleans()),
            st.one_of(st.none(), st.integers(0, 100)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_haven_csv_round_trip_property(sqlite_store: BankStore, tmp_path_factory, rows) -> None:  # type: ignore[no-untyped-def]
    lengths = {"pdq": 64, "md5": 32, "sha1": 40, "sha256": 64}
    tmp = tmp_path_factory.mktemp("rt")
    entries = [
        EntryIn(
            sig,
            "".join(rnd.choice("0123456789abcdef") for _ in range(lengths[sig])),
            quality=q if sig == "pdq" else None,
            category=cat,
            series=txt,
            note=txt,
            victim_identified=vic,
            extra={"t": txt} if txt else None,
        )
        for sig, rnd, txt, cat, vic, q in rows
    ]
    name = f"p{len(sqlite_store.list_banks())}"
    sqlite_store.create_bank(name)
    # Any label and quality: this is about the CSV round trip, not about what a hand add accepts.
    sqlite_store.add_entries(name, entries, force=True, strict_category=False)
    text = round_trip(sqlite_store, name, "csv", tmp)
    store_entries = list(sqlite_store.iter_entries(name + "-rt"))
    assert [(e.signal, e.value, e.series, e.extra) for e in store_entries] == [
        (e.signal, e.value, e.series or None, e.extra) for e in entries
    ]
    assert text.count("\n") >= len(entries)


def test_malformed_rows_reported_with_line_and_skipped(store: BankStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(
        "signal,value,quality,category\n"
        f"pdq,{PDQ},90,A1\n"
        "pdq,nothex,90,\n"
        f"pdq,{PDQ},abc,\n"
        f"md5,{'a' * 32}\n"
        "\n"
        f"sha1,{'b' * 40},,\n"
        f"nosuch,{'b' * 40},,\n"
        f"pdq,{PDQ},101,\n"
    )
    store.create_bank("b")
    errors: list[FormatError] = []
    res = store.import_file("b", f, on_error=errors.append)
    assert res.rows_added == 2 and res.errors == 5
    assert [e.line for e in errors] == [3, 4, 5, 8, 9]
    assert all(e.path == str(f) for e in errors)
    assert "line 3" in errors[0].message and str(f) in errors[0].message
    assert [e.value for e in store.iter_entries("b")] == [PDQ, "b" * 40]


def test_broken_vics_json_names_the_line(store: BankStore, tmp_path: Path) -> None:
    f = tmp_path / "broken.json"
    f.write_text(
        '{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata'
        '#Media","value":[\n{"MD5":"70a5336e89dd389482ebf618386ccc0b","Category":1},\n'
        '{"MD5":"zz"},\n{"Category":2},\n{"MD5": "70a5336e89dd389482ebf618386ccc0b" "Category":1}\n]}'
    )
    store.create_bank("b")
    with pytest.raises(FormatError) as info:
        store.import_file("b", f, batch_size=1)
    assert info.value.line == 5
    # The good record before the break was committed in its own batch; the bad ones were skipped.
    assert [i.errors for i in store.list_imports("b")] == [2]
    assert len(list(store.iter_entries("b"))) == 1


def test_vics_streams_large_files_across_chunks(sqlite_store: BankStore, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from haven.banks.formats import jsonstream

    monkeypatch.setattr(jsonstream, "CHUNK", 97)  # force elements to straddle buffer boundaries
    media = [
        {"MediaID": i, "Category": i % 5, "MD5": f"{i:032x}", "Comments": "x" * (i % 300)} for i in range(400)
    ]
    f = tmp_path / "big.json"
    f.write_text(
        '{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/'
        '$metadata#Media",\n"value":[\n' + ",\n".join(json.dumps(m) for m in media) + "\n]}"
    )
    sqlite_store.create_bank("big")
    res = sqlite_store.import_file("big", f, batch_size=64)
    assert (res.errors, res.rows_added) == (0, 400)
    assert [e.extra["vics"] for e in sqlite_store.iter_entries("big")] == media


def test_detection_and_unknown_format(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("hello world\n")
    with pytest.raises(FormatError):
        detect_format(f)
    g = tmp_path / "h.csv"
    g.write_text("signal,value\n")
    assert detect_format(g) == "csv"


def test_hma_json_array_and_bare_pytx_lines(sqlite_store: BankStore, tmp_path: Path) -> None:
    arr = tmp_path / "list.json"
    arr.write_text(
        json.dumps([{"id": 7, "signals": {"pdq": PDQ}}, {"id": 8, "signals": {"raw_text": "x"}}], indent=2)
    )
    sqlite_store.create_bank("h")
    res = sqlite_store.import_file("h", arr, "hma")
    assert (res.rows_added, res.errors) == (1, 1)
    assert res.messages[0].startswith(f"{arr}: line 8: no signal Haven supports")  # where object 2 starts
    bare = tmp_path / "bare.txt"
    bare.write_text(f"# comment\n{PDQ}\n70a5336e89dd389482ebf618386ccc0b\n\nnot a hash line at all\n")
    sqlite_store.create_bank("p")
    errs: list[FormatError] = []
    res = sqlite_store.import_file("p", bare, "pytx", on_error=errs.append)
    assert res.rows_added == 2 and [e.line for e in errs] == [5]
    assert [e.signal for e in sqlite_store.iter_entries("p")] == ["pdq", "md5"]
