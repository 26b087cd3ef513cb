"""The one hardened XML parser every document Haven reads goes through (responses, files to validate).

Threats refused: external entities (XXE: local files, network), entity-expansion bombs ("billion
laughs", quadratic blow-up), DTD loading, network access, and over-large input. A document with a
DOCTYPE is refused outright: no CyberTipline document needs one, so refusing is simpler and safer
than trying to make a DTD harmless.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from haven.errors import FileAccessError, FormatError

#: Reports and fileDetails are small; 16 MiB leaves room for long free-text fields.
MAX_XML_BYTES = 16 * 1024 * 1024

# Matched before parsing (cheap, and catches bombs before libxml2 sees them). The post-parse check on
# ``docinfo`` covers encodings (UTF-16 …) where these bytes do not appear literally.
_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe and keep their error log.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(
    data: bytes, *, path: str | Path | None = None, max_bytes: int = MAX_XML_BYTES
) -> etree._Element:
    """Parse ``data`` safely and return its root element; raise ``FormatError`` for hostile or malformed
    XML."""
    if len(data) > max_bytes:
        raise FormatError(
            f"XML document is {len(data)} bytes, over the {max_bytes}-byte limit", path=path, code="too_large"
        )
    if _DANGEROUS.search(data):
        raise FormatError(
            "XML with a DOCTYPE or entity declaration is refused (no DTDs or entities allowed)",
            path=path,
            code="xml_forbidden",
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno and exc.lineno > 0 else None
        raise FormatError(f"malformed XML: {exc.msg}", path=path, line=line) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FormatError("XML with a DOCTYPE is refused", path=path, code="xml_forbidden")
    for node in root.iter(etree.Entity):  # an unresolved entity reference survived: refuse it
        raise FormatError(f"XML entity reference &{node.name}; is refused", path=path, code="xml_forbidden")
    return root


def parse_xml_file(path: str | Path, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Read and safely parse an XML file (size-checked before reading it all)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise FormatError(
                f"XML file is {size} bytes, over the {max_bytes}-byte limit", path=p, code="too_large"
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise FileAccessError("no such file", path=p, code="not_found") from None
    except IsADirectoryError:
        raise FileAccessError("is a directory", path=p, code="is_directory") from None
    except PermissionError:
        raise FileAccessError("permission denied", path=p, code="permission_denied") from None
    return parse_xml(data, path=p, max_bytes=max_bytes)
