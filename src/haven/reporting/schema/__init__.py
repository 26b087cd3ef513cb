"""Validation against NCMEC's CyberTipline XSD (a packaged copy; see ``SOURCE.md``).

The XSD is compiled once per process. Errors name the offending element by its path in the document
(``/report/incidentSummary/incidentType``) and its line, so a user can find and fix it.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from haven.errors import SchemaError
from haven.reporting.safexml import parse_xml, parse_xml_file

XSD_PATH = Path(__file__).with_name("cyber_tipline.xsd")
_ELEMENT_IN_MESSAGE = re.compile(r"Element '([^']+)'")

_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def _load() -> etree.XMLSchema:
    global _schema
    with _lock:
        if _schema is None:
            # Our own file, but still parsed without network access or entity resolution.
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            _schema = etree.XMLSchema(etree.parse(str(XSD_PATH), parser))
        return _schema


def schema_errors(root: etree._Element) -> list[tuple[str, int | None, str]]:
    """Every violation as ``(element path, line, message)``; empty when the document is valid."""
    schema = _load()
    # lxml's XMLSchema is not safe to use from several threads at once.
    with _lock:
        ok = schema.validate(root.getroottree())
        log = list(schema.error_log) if not ok else []
    out = []
    for e in log:
        element = e.path or ""
        if not element:
            m = _ELEMENT_IN_MESSAGE.search(e.message)
            element = m.group(1) if m else root.tag
        out.append((element, e.line if e.line and e.line > 0 else None, e.message))
    return out


def validate(root: etree._Element, *, path: str | Path | None = None) -> None:
    """Raise ``SchemaError`` naming the first offending element unless ``root`` is valid CyberTipline XML."""
    errors = schema_errors(root)
    if errors:
        element, line, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaError(f"{element}: {message}{more}", path=path, line=line, element=element)


def validate_bytes(data: bytes, *, path: str | Path | None = None) -> etree._Element:
    """Parse safely, validate, and return the root; raise ``FormatError``/``SchemaError`` otherwise."""
    root = parse_xml(data, path=path)
    validate(root, path=path)
    return root


def validate_file(path: str | Path) -> etree._Element:
    """Validate an XML file on disk (a ``<report>``, ``<fileDetails>`` or any root the XSD declares)."""
    root = parse_xml_file(path)
    validate(root, path=path)
    return root
