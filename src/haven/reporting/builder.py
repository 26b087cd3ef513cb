"""The one builder that turns a ``Case`` into CyberTipline XML (``<report>`` and per-file ``<fileDetails>``).

Element order follows the XSD's ``xs:sequence`` exactly; optional parts are left out when the case has
no value for them. Every document is validated against the XSD before it leaves this module.
"""

from __future__ import annotations

from lxml import etree

from haven.errors import SchemaError
from haven.reporting.case import Case, CaseFile, InternetDetail, IpEvent, ReportedUser, Reporter
from haven.reporting.schema import validate

# Hash names as sent in ``originalFileHash/@hashType`` (a free string in the XSD).
HASH_TYPES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "pdq": "PDQ"}


def _add(parent: etree._Element, tag: str, value: object | None, **attrs: str) -> etree._Element | None:
    if value is None or value == "":
        return None
    el = etree.SubElement(parent, tag, **attrs)
    try:
        el.text = _text(value)
    except ValueError:  # NUL or control characters: XML 1.0 cannot carry them
        path = "/" + "/".join(e.tag for e in reversed([el, *el.iterancestors()]))
        parent.remove(el)
        raise SchemaError(f"{path}: text contains characters XML cannot carry (NUL or control characters)",
                          element=path) from None
    return el


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _person(parent: etree._Element, tag: str, first: str | None, last: str | None,
            phone: str | None, email: str | None) -> None:
    el = etree.SubElement(parent, tag)
    _add(el, "firstName", first)
    _add(el, "lastName", last)
    _add(el, "phone", phone)
    _add(el, "email", email)


def _ip_event(parent: etree._Element, tag: str, ev: IpEvent) -> None:
    el = etree.SubElement(parent, tag)
    _add(el, "ipAddress", ev.ip)
    _add(el, "eventName", ev.event)
    _add(el, "dateTime", ev.time)
    _add(el, "possibleProxy", ev.possible_proxy)
    _add(el, "port", ev.port)


def _internet(parent: etree._Element, d: InternetDetail) -> None:
    wrapper = etree.SubElement(parent, "internetDetails")
    if d.kind == "web_page":
        attrs = (
            {} if d.third_party_hosted is None else {"thirdPartyHostedContent": _text(d.third_party_hosted)}
        )
        el = etree.SubElement(wrapper, "webPageIncident", **attrs)
        for url in d.urls:
            _add(el, "url", url)
    elif d.kind == "email":
        el = etree.SubElement(wrapper, "emailIncident")
        for addr in d.emails:
            _add(el, "emailAddress", addr)
        _add(el, "content", d.content)
    else:  # chat
        el = etree.SubElement(wrapper, "chatImIncident")
        _add(el, "chatClient", d.chat_client)
        _add(el, "chatRoomName", d.chat_room)
        _add(el, "content", d.content)
    _add(el, "additionalInfo", d.additional_info)


def _reporter(parent: etree._Element, r: Reporter) -> None:
    el = etree.SubElement(parent, "reporter")
    _person(el, "reportingPerson", r.first_name, r.last_name, r.phone, r.email)
    if r.contact_first_name or r.contact_last_name or r.contact_email or r.contact_phone:
        _person(
            el, "contactPerson", r.contact_first_name, r.contact_last_name, r.contact_phone, r.contact_email
        )
    _add(el, "companyTemplate", r.company)
    _add(el, "termsOfService", r.terms_of_service)
    _add(el, "legalURL", r.legal_url)


def _reported_user(parent: etree._Element, u: ReportedUser) -> None:
    el = etree.SubElement(parent, "personOrUserReported")
    if u.emails:
        person = etree.SubElement(el, "personOrUserReportedPerson")
        for addr in u.emails:
            _add(person, "email", addr)
    _add(el, "espIdentifier", u.esp_identifier)
    _add(el, "espService", u.esp_service)
    _add(el, "compromisedAccount", u.compromised_account)
    _add(el, "screenName", u.screen_name)
    for name in u.display_names:
        _add(el, "displayName", name)
    for url in u.profile_urls:
        _add(el, "profileUrl", url)
    for ev in u.ips:
        _ip_event(el, "ipCaptureEvent", ev)
    _add(el, "additionalInfo", u.additional_info)


def build_report(case: Case) -> etree._Element:
    """The ``<report>`` document for ``/submit``, validated against the XSD (raises ``SchemaError``)."""
    root = etree.Element("report")
    summary = etree.SubElement(root, "incidentSummary")
    inc = case.incident
    _add(summary, "incidentType", inc.type)
    _add(summary, "platform", inc.platform)
    _add(summary, "escalateToHighPriority", inc.escalate)
    if inc.annotations:
        ann = etree.SubElement(summary, "reportAnnotations")
        for name in sorted(set(inc.annotations)):
            _add(ann, name, True)
    _add(summary, "incidentDateTime", inc.time)
    _add(summary, "incidentDateTimeDescription", inc.time_description)
    for d in case.internet:
        _internet(root, d)
    _reporter(root, case.reporter)
    if case.reported_user is not None:
        _reported_user(root, case.reported_user)
    notes = [t for t in (inc.description, case.additional_info) if t]
    _add(root, "additionalInfo", "\n\n".join(notes) if notes else None)
    validate(root)
    return root


def build_file_details(
    report_id: int, file_id: str, f: CaseFile, *, file_name: str | None = None
) -> etree._Element:
    """The ``<fileDetails>`` document for ``/fileinfo`` after ``/upload`` returned ``file_id``
    (``file_name``: the name the file was uploaded under)."""
    root = etree.Element("fileDetails")
    _add(root, "reportId", report_id)
    _add(root, "fileId", file_id)
    _add(root, "fileName", file_name)
    _add(root, "originalFileName", f.original_name)
    _add(root, "uploadedToEspTimestamp", f.uploaded_at)
    _add(root, "locationOfFile", f.location)
    _add(root, "fileViewedByEsp", f.viewed_by_esp)
    _add(root, "publiclyAvailable", f.publicly_available)
    if f.annotations:
        ann = etree.SubElement(root, "fileAnnotations")
        for name in sorted(set(f.annotations)):
            _add(ann, name, True)
    _add(root, "industryClassification", f.classification)
    for algo, hash_type in HASH_TYPES.items():
        if f.hashes.get(algo):
            _add(root, "originalFileHash", f.hashes[algo], hashType=hash_type)
    if f.ip is not None:
        _ip_event(root, "ipCaptureEvent", f.ip)
    _add(root, "additionalInfo", f.additional_info)
    validate(root)
    return root


def to_bytes(root: etree._Element) -> bytes:
    """Serialise as UTF-8 with an XML declaration (the body NCMEC expects)."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
