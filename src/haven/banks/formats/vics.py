"""Project VIC VICS JSON (OData): the ``#Media`` hash set and the ``#Cases`` case export.

Each Media gives an MD5 entry (mandatory), an SHA-1 entry when present, and SHA-1/SHA-256 entries from
``AlternativeHashes``. ``Category`` maps to severity by the country in ``@odata.context`` (US tag set,
or the generic Project VIC table where category 0 is ambiguous). ``PhotoDNA`` values are kept as opaque
data with a warning: Haven cannot match PhotoDNA. The whole Media object is stored with the MD5 entry so
that export gives it back unchanged. Export always writes a VICS 2.0 ``#Media`` hash set.
Facts from /work/shared/reference/formats/README.md (CATP, C4A, GLEAPP, IPED, AUT-PV).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from haven.banks.categories import vics_scheme
from haven.banks.formats.base import Record, WriteStats, bool_text, parse_bool
from haven.banks.formats.jsonstream import ArrayStream
from haven.banks.types import Entry, EntryIn
from haven.errors import FormatError
from haven.signals import Md5Signal, Sha1Signal, Sha256Signal

# VICS 2.0's hash fields and the Haven signals they hold: MD5 keys a Media (mandatory), SHA1 has a
# field of its own, other hashes sit in AlternativeHashes by HashName. A signal with no VICS field is
# left out of an export, with a warning naming it.
KEY = Md5Signal.name
OWN_FIELDS = {"SHA1": Sha1Signal.name}
ALTERNATIVE = {"SHA1": Sha1Signal.name, "SHA256": Sha256Signal.name}
EXPORTED = {KEY, *OWN_FIELDS.values(), *ALTERNATIVE.values()}

name = "vics"
description = "Project VIC VICS JSON (OData #Media hash set or #Cases export)"
CONTEXT = re.compile(r'"@?odata\.(?:context|metadata)"\s*:\s*"([^"]*)"')
VALUE = re.compile(r'"value"\s*:\s*\[')
MEDIA = re.compile(r'"Media"\s*:\s*\[')
COUNTRY = re.compile(r"DataModels/[^/]+\.xml/([^/]+)/")
CONTEXT_OUT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{country}/$metadata#Media"
PHOTODNA_WARNING = "PhotoDNA values are kept as opaque data only; Haven cannot match PhotoDNA"


def looks_like(head: str) -> bool:
    return bool(CONTEXT.search(head[:8192])) and "ProjectVic" in head[:8192]


def _media_record(line: int, media: Any, country: str | None, path: str) -> Record | FormatError:
    if not isinstance(media, dict):
        return FormatError("Media must be a JSON object", path=path, line=line)
    md5 = media.get("MD5")
    if not isinstance(md5, str) or not md5.strip():
        return FormatError("Media has no MD5 (mandatory in VICS)", path=path, line=line)
    try:
        victim = parse_bool(media.get("VictimIdentified"), what="VictimIdentified")
    except FormatError as exc:
        return FormatError(exc.message, path=path, line=line)
    cat = media.get("Category")
    if cat is not None and not isinstance(cat, int | str):
        return FormatError(f"Category must be a number, got {cat!r:.40}", path=path, line=line)
    series = media.get("Series")
    if series is not None and not isinstance(series, str):
        series = json.dumps(series, ensure_ascii=False)
    item = f"vics:{media.get('MediaID', md5)}"
    common: dict[str, Any] = {
        "category": None if cat is None else str(cat),
        "category_scheme": vics_scheme(country),
        "series": series,
        "victim_identified": victim,
        "item": item,
    }
    extra: dict[str, Any] = {"vics": media}
    if country:
        extra["vics_country"] = country
    entries = [EntryIn(signal=KEY, value=md5, extra=extra, **common)]
    for field, signal in OWN_FIELDS.items():
        if isinstance(media.get(field), str) and media[field].strip():
            entries.append(EntryIn(signal=signal, value=media[field], **common))
    for alt in media.get("AlternativeHashes") or []:
        hname = str(alt.get("HashName", "")).replace("-", "").upper() if isinstance(alt, dict) else ""
        alt_signal = ALTERNATIVE.get(hname)
        if alt_signal is not None and isinstance(alt.get("HashValue"), str):
            if any(e.signal == alt_signal for e in entries):
                continue  # the Media's own field already gave it
            entries.append(EntryIn(signal=alt_signal, value=alt["HashValue"], **common))
    warnings = [f"line {line}: {PHOTODNA_WARNING}"] if media.get("PhotoDNA") else []
    return Record(line, entries, warnings)


def read(stream: IO[str], path: str) -> Iterator[Record | FormatError]:
    arr = ArrayStream(stream, path)
    head = arr.head()
    m = CONTEXT.search(head)
    context = m.group(1) if m else ""
    cm = COUNTRY.search(context)
    country = cm.group(1) if cm else None
    if context.endswith("#Cases"):
        found = False
        while arr.seek_pattern(MEDIA) is not None:
            found = True
            for line, media in arr.items():
                yield _media_record(line, media, country, path)
        if not found:
            raise FormatError("VICS #Cases file without any 'Media' array", path=path, line=1)
        return
    if arr.seek_pattern(VALUE) is None:
        raise FormatError('not VICS JSON: no "value": [ array', path=path, line=1)
    for line, obj in arr.items():
        if isinstance(obj, dict) and "MD5" not in obj and isinstance(obj.get("Media"), list):
            for media in obj["Media"]:  # a case in a file without a #Cases context
                yield _media_record(line, media, country, path)
        else:
            yield _media_record(line, obj, country, path)


def _build(group: list[Entry], media_id: int) -> dict[str, Any] | None:
    for e in group:
        if e.signal == KEY and e.extra and isinstance(e.extra.get("vics"), dict):
            return dict(e.extra["vics"])
    md5 = next((e for e in group if e.signal == KEY), None)
    if md5 is None:
        return None
    obj: dict[str, Any] = {"MediaID": media_id}
    if md5.category_scheme and md5.category_scheme.startswith("projectvic") and md5.category is not None:
        obj["Category"] = int(md5.category) if md5.category.isdigit() else md5.category
    elif md5.severity is not None and md5.severity >= 2:
        obj["Category"] = 1  # Child Abuse Material: the only VICS category that severity ≥ 2 maps to
    obj["MD5"] = md5.value.upper()
    for field, signal in OWN_FIELDS.items():
        own = next((e for e in group if e.signal == signal), None)
        if own is not None:
            obj[field] = own.value.upper()
    if md5.victim_identified is not None:
        obj["VictimIdentified"] = bool_text(md5.victim_identified)
    if md5.series:
        obj["Series"] = md5.series
    alts = [
        {"MD5": obj["MD5"], "HashName": hname, "HashValue": e.value}
        for hname, signal in ALTERNATIVE.items()
        if signal not in OWN_FIELDS.values()
        for e in group
        if e.signal == signal
    ]
    if alts:
        obj["AlternativeHashes"] = alts
    return obj


def write(entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats:
    stats = WriteStats()
    wrote_head = False
    media_id = 0
    group: list[Entry] = []

    def flush() -> None:
        nonlocal wrote_head, media_id
        if not group:
            return
        obj = _build(group, media_id + 1)
        if obj is None:
            for e in group:
                stats.skip(f"entry {e.id}: {e.signal} without an MD5 in its item cannot be a VICS Media")
        else:
            media_id += 1
            if not wrote_head:
                country = next(
                    (e.extra["vics_country"] for e in group if e.extra and "vics_country" in e.extra),
                    "Default",
                )
                out.write(
                    json.dumps({"@odata.context": CONTEXT_OUT.format(country=country)})[:-1] + ',"value":[\n'
                )
                wrote_head = True
            else:
                out.write(",\n")
            out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
            stats.written += len(group)
        group.clear()

    for e in entries:
        if e.signal not in EXPORTED:
            stats.skip(f"entry {e.id}: VICS has no {e.signal.upper()} field")
            continue
        if not (group and e.item is not None and e.item == group[0].item):
            flush()
        group.append(e)
    flush()
    if not wrote_head:
        out.write(json.dumps({"@odata.context": CONTEXT_OUT.format(country="Default")})[:-1] + ',"value":[\n')
    out.write("\n]}\n")
    return stats
