"""The case file: what a reviewer knows about one incident, as JSON or YAML (format in docs/reporting.md).

A case names the incident, the reporter, the internet context, the reported user and the files. It is
checked strictly on load (unknown keys, wrong types and bad values are errors naming the key) so that a
typo never silently drops information from a legal report.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from haven.errors import FileAccessError, FormatError

INCIDENT_TYPES = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
DEFAULT_INCIDENT_TYPE = INCIDENT_TYPES[0]
CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
IP_EVENTS = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
REPORT_ANNOTATIONS = ("sextortion", "csamSolicitation", "minorToMinorInteraction", "spam",
                      "sadisticOnlineExploitation")
FILE_ANNOTATIONS = ("animeDrawingVirtualHentai", "potentialMeme", "viral", "possibleSelfProduction",
                    "physicalHarm", "violenceGore", "bestiality", "liveStreaming", "infant", "generativeAi")
INTERNET_KINDS = ("web_page", "email", "chat")


@dataclass
class Incident:
    type: str = DEFAULT_INCIDENT_TYPE
    time: str = ""  # ISO 8601 with a timezone
    time_description: str | None = None
    platform: str | None = None
    escalate: str | None = None  # reason text; only when the report must be escalated
    annotations: list[str] = field(default_factory=list)
    description: str | None = None  # free text, goes to the report's additionalInfo


@dataclass
class Reporter:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None
    contact_first_name: str | None = None
    contact_last_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None


@dataclass
class InternetDetail:
    kind: str = "web_page"
    urls: list[str] = field(default_factory=list)  # web_page
    emails: list[str] = field(default_factory=list)  # email
    chat_client: str | None = None  # chat
    chat_room: str | None = None  # chat
    content: str | None = None  # email / chat
    third_party_hosted: bool | None = None  # web_page
    additional_info: str | None = None


@dataclass
class IpEvent:
    ip: str = ""
    event: str | None = None
    time: str | None = None
    port: int | None = None
    possible_proxy: bool | None = None


@dataclass
class ReportedUser:
    esp_identifier: str | None = None
    esp_service: str | None = None
    screen_name: str | None = None
    display_names: list[str] = field(default_factory=list)
    profile_urls: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    ips: list[IpEvent] = field(default_factory=list)
    compromised_account: bool | None = None
    additional_info: str | None = None


@dataclass
class CaseFile:
    path: str = ""  # a FileSource URI: a local path now, an evidence-vault reference later
    original_name: str | None = None
    location: str | None = None  # URL where it was found
    uploaded_at: str | None = None  # when the user uploaded it to the platform
    viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    classification: str | None = None  # A1 / A2 / B1 / B2
    annotations: list[str] = field(default_factory=list)
    ip: IpEvent | None = None
    additional_info: str | None = None
    # Filled by Haven at create time (md5, sha1, sha256, pdq).
    hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class Case:
    incident: Incident
    reporter: Reporter
    internet: list[InternetDetail] = field(default_factory=list)
    reported_user: ReportedUser | None = None
    files: list[CaseFile] = field(default_factory=list)
    additional_info: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that ``case_from_dict`` reads back unchanged (used to store the case)."""
        return asdict(self)


_NESTED: dict[type, dict[str, Any]] = {
    Case: {
        "incident": Incident,
        "reporter": Reporter,
        "internet": [InternetDetail],
        "reported_user": ReportedUser,
        "files": [CaseFile],
    },
    ReportedUser: {"ips": [IpEvent]},
    CaseFile: {"ip": IpEvent},
}


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise FormatError(
            f"{where or 'case'}: expected a mapping, got {type(data).__name__}", code="bad_case"
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise FormatError(f"{where or 'case'}: unknown key(s) {', '.join(unknown)}", code="bad_case")
    kwargs: dict[str, Any] = {}
    nested = _NESTED.get(cls, {})
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        spec = nested.get(key)
        if value is None:  # same as leaving the key out
            continue
        if isinstance(spec, list):
            if not isinstance(value, list):
                raise FormatError(f"{path}: expected a list", code="bad_case")
            kwargs[key] = [_build(spec[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
        elif spec is not None:
            kwargs[key] = _build(spec, value, path)
        else:
            kwargs[key] = _scalar(value, known[key].type, path)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required nested part is missing
        raise FormatError(f"{where or 'case'}: {exc}", code="bad_case") from None


def _scalar(value: Any, type_name: Any, path: str) -> Any:
    t = str(type_name)
    if t.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FormatError(f"{path}: expected a list of strings", code="bad_case")
        return value
    if t.startswith("dict"):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise FormatError(f"{path}: expected a mapping of strings", code="bad_case")
        return {str(k).lower(): v.lower() for k, v in value.items()}
    if t.startswith("bool"):
        if not isinstance(value, bool):
            raise FormatError(f"{path}: expected true or false", code="bad_case")
        return value
    if t.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FormatError(f"{path}: expected an integer", code="bad_case")
        return value
    if isinstance(value, datetime):  # YAML turns unquoted timestamps into datetimes
        return _iso(value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise FormatError(f"{path}: expected text", code="bad_case")
    return str(value)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


def _check_time(value: str | None, path: str, *, required: bool = False) -> str | None:
    """Check an ISO 8601 date-time with a zone; return it in the canonical form xs:dateTime accepts."""
    if not value:
        if required:
            raise FormatError(f"{path}: required (ISO 8601 date-time with a timezone)", code="bad_case")
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FormatError(f"{path}: {value!r} is not an ISO 8601 date-time", code="bad_case") from None
    if parsed.tzinfo is None:
        raise FormatError(f"{path}: {value!r} has no timezone (add Z or +hh:mm)", code="bad_case")
    return _iso(parsed)  # e.g. "2024-01-15T14:30Z" becomes "2024-01-15T14:30:00Z"


def _check_choice(value: str | None, choices: tuple[str, ...], path: str) -> None:
    if value is not None and value not in choices:
        raise FormatError(f"{path}: {value!r} is not one of {', '.join(choices)}", code="bad_case")


def check_case(case: Case) -> Case:
    """Check the values the XSD constrains, with errors that name the case-file key, not the XML element."""
    _check_choice(case.incident.type, INCIDENT_TYPES, "incident.type")
    case.incident.time = _check_time(case.incident.time, "incident.time", required=True) or ""
    for a in case.incident.annotations:
        _check_choice(a, REPORT_ANNOTATIONS, "incident.annotations")
    r = case.reporter
    if not (r.email or r.phone or r.first_name or r.last_name):
        raise FormatError(
            "reporter: give at least an email or phone for the reporting person", code="bad_case"
        )
    for i, d in enumerate(case.internet):
        _check_choice(d.kind, INTERNET_KINDS, f"internet[{i}].kind")
    user = case.reported_user
    for i, ev in enumerate(user.ips if user else []):
        if not ev.ip:
            raise FormatError(f"reported_user.ips[{i}].ip: required", code="bad_case")
        _check_choice(ev.event, IP_EVENTS, f"reported_user.ips[{i}].event")
        ev.time = _check_time(ev.time, f"reported_user.ips[{i}].time")
    for i, f in enumerate(case.files):
        where = f"files[{i}]"
        if not f.path:
            raise FormatError(f"{where}.path: required", code="bad_case")
        _check_choice(f.classification, CLASSIFICATIONS, f"{where}.classification")
        f.uploaded_at = _check_time(f.uploaded_at, f"{where}.uploaded_at")
        for a in f.annotations:
            _check_choice(a, FILE_ANNOTATIONS, f"{where}.annotations")
        if f.ip is not None:
            _check_choice(f.ip.event, IP_EVENTS, f"{where}.ip.event")
            f.ip.time = _check_time(f.ip.time, f"{where}.ip.time")
    return case


def case_from_dict(data: Any) -> Case:
    """Build and check a ``Case`` from parsed JSON/YAML."""
    if isinstance(data, dict) and "incident" not in data:
        raise FormatError("case: missing required key incident", code="bad_case")
    if isinstance(data, dict) and "reporter" not in data:
        raise FormatError("case: missing required key reporter", code="bad_case")
    return check_case(_build(Case, data, ""))


def load_case(path: str | Path) -> Case:
    """Read a case file (``.json``, ``.yaml`` or ``.yml``); relative file paths are taken from its folder."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileAccessError("no such file", path=p, code="not_found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise FileAccessError(str(exc), path=p) from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FormatError(f"invalid YAML: {exc}", path=p, line=mark.line + 1 if mark else None) from None
    try:
        case = case_from_dict(data)
    except FormatError as exc:
        raise FormatError(exc.message, path=p, code=exc.code) from None
    for f in case.files:
        fp = Path(f.path)
        if "://" not in f.path and not fp.is_absolute():
            f.path = str((p.parent / fp).resolve())
    return case
