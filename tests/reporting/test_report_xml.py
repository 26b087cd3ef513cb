"""Hardened XML parsing and XSD validation, in Python and through ``haven report validate``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from report_helpers import NCMEC_REF

from haven.errors import FileAccessError, FormatError, SchemaError
from haven.reporting.safexml import parse_xml
from haven.reporting.schema import XSD_PATH, validate_bytes, validate_file

EXAMPLES = sorted(NCMEC_REF.glob("example-*.xml"))

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<report>&lol9;</report>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report><additionalInfo>&x;</additionalInfo></report>"""
XXE_NET = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><report/>"""
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"x" * 50_000 + b'">]><r>' + b"&a;" * 50_000 + b"</r>"
)


def test_packaged_xsd_is_the_reference_copy() -> None:
    assert XSD_PATH.read_bytes() == (NCMEC_REF / "cyber_tipline.xsd").read_bytes()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_reference_examples_are_valid(path: Path) -> None:
    assert validate_file(path).tag in ("report", "fileDetails")


@pytest.mark.parametrize(
    "doc",
    [BOMB, XXE, XXE_NET, QUADRATIC, XXE.decode().encode("utf-16")],
    ids=["billion-laughs", "xxe-file", "xxe-network", "quadratic", "utf16-xxe"],
)
def test_hostile_documents_are_refused_quickly(doc: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(FormatError) as exc:
        parse_xml(doc)
    assert time.perf_counter() - started < 0.5
    assert exc.value.code == "xml_forbidden"
    assert "root:" not in exc.value.message  # nothing from /etc/passwd leaked into the error


def test_oversized_and_malformed_documents() -> None:
    with pytest.raises(FormatError) as big:
        parse_xml(b"<report>" + b"x" * 100 + b"</report>", max_bytes=50)
    assert big.value.code == "too_large"
    with pytest.raises(FormatError) as bad:
        parse_xml(b"<report>\n<incidentSummary>\n</report>")
    assert bad.value.line == 3 and "malformed" in bad.value.message


def test_missing_file_is_a_file_access_error(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        validate_file(tmp_path / "nope.xml")


def _variant(name: str, old: str, new: str) -> bytes:
    text = (NCMEC_REF / name).read_text()
    assert old in text
    return text.replace(old, new).encode()


BROKEN = [
    (
        "missing-incidentType",
        "example-minimal.xml",
        "<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>",
        "",
        "/report/incidentSummary/incidentDateTime",
    ),
    (
        "bad-incidentType",
        "example-minimal.xml",
        "Child Pornography (possession, manufacture, and distribution)",
        "Something else",
        "/report/incidentSummary/incidentType",
    ),
    (
        "bad-dateTime",
        "example-minimal.xml",
        "2024-01-15T14:30:00Z",
        "15/01/2024",
        "/report/incidentSummary/incidentDateTime",
    ),
    ("unknown-element", "example-full.xml", "legalURL>", "legalUrl>", "/report/reporter/legalUrl"),
    (
        "bad-boolean",
        "example-fileDetails.xml",
        "<fileViewedByEsp>false",
        "<fileViewedByEsp>nope",
        "/fileDetails/fileViewedByEsp",
    ),
    (
        "missing-hashType",
        "example-fileDetails.xml",
        ' hashType="MD5"',
        "",
        "/fileDetails/originalFileHash[1]",
    ),
    (
        "bad-reportId",
        "example-fileDetails.xml",
        "<reportId>4564654",
        "<reportId>abc",
        "/fileDetails/reportId",
    ),
]


@pytest.mark.parametrize(("label", "name", "old", "new", "element"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_variants_name_the_element(label: str, name: str, old: str, new: str, element: str) -> None:
    with pytest.raises(SchemaError) as exc:
        validate_bytes(_variant(name, old, new))
    assert exc.value.element == element
    assert element in exc.value.message and exc.value.line is not None


def test_element_order_matters() -> None:
    text = (NCMEC_REF / "example-full.xml").read_text()
    reporter = text[text.index("  <reporter>") : text.index("  </reporter>\n") + len("  </reporter>\n")]
    moved = text.replace(reporter, "").replace("  <incidentSummary>", reporter + "  <incidentSummary>")
    with pytest.raises(SchemaError) as exc:
        validate_bytes(moved.encode())
    assert exc.value.element == "/report/reporter"  # reporter before incidentSummary is out of sequence


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from haven.cli.main import app

    runner = CliRunner()
    ok = runner.invoke(app, ["report", "validate", *map(str, EXAMPLES)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.count("valid <") == len(EXAMPLES)
    broken = tmp_path / "broken.xml"
    broken.write_bytes(_variant("example-full.xml", "legalURL>", "legalUrl>"))
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    bad = runner.invoke(app, ["report", "validate", "--json", str(EXAMPLES[0]), str(broken), str(bomb)])
    assert bad.exit_code == 2, bad.output
    lines = bad.stdout.splitlines()
    assert '"valid": true' in lines[0]
    assert '"element": "/report/reporter/legalUrl"' in lines[1] and '"code": "schema_invalid"' in lines[1]
    assert '"code": "xml_forbidden"' in lines[2]
