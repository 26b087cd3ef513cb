"""Property: any case that passes the case checks builds XML that is valid against the XSD (or is refused with
a
FormatError naming the field) — the builder never produces an invalid report and never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.errors import SchemaError
from haven.reporting.builder import build_file_details, build_report
from haven.reporting.case import (
    CLASSIFICATIONS,
    FILE_ANNOTATIONS,
    INCIDENT_TYPES,
    IP_EVENTS,
    REPORT_ANNOTATIONS,
    case_from_dict,
)

text = st.text(max_size=30)
opt_text = st.none() | text
times = st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.isoformat())
ip = st.fixed_dictionaries(
    {"ip": st.text(min_size=1, max_size=20)},
    optional={
        "event": st.sampled_from(IP_EVENTS),
        "time": times,
        "port": st.integers(0, 65535),
        "possible_proxy": st.booleans(),
    },
)
case_strategy = st.fixed_dictionaries(
    {
        "incident": st.fixed_dictionaries(
            {"type": st.sampled_from(INCIDENT_TYPES), "time": times},
            optional={
                "platform": opt_text,
                "description": opt_text,
                "annotations": st.lists(st.sampled_from(REPORT_ANNOTATIONS)),
            },
        ),
        "reporter": st.fixed_dictionaries(
            {"email": st.text(min_size=1, max_size=30)},
            optional={"first_name": opt_text, "company": opt_text, "contact_phone": opt_text},
        ),
        "internet": st.lists(
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["web_page", "email", "chat"])},
                optional={
                    "urls": st.lists(text, max_size=2),
                    "emails": st.lists(text, max_size=2),
                    "chat_room": opt_text,
                    "content": opt_text,
                    "third_party_hosted": st.booleans(),
                },
            ),
            max_size=3,
        ),
        "reported_user": st.fixed_dictionaries(
            {},
            optional={
                "screen_name": opt_text,
                "ips": st.lists(ip, max_size=2),
                "display_names": st.lists(text, max_size=2),
            },
        ),
        "files": st.lists(
            st.fixed_dictionaries(
                {"path": st.just("/x/photo.jpg")},
                optional={
                    "classification": st.sampled_from(CLASSIFICATIONS),
                    "annotations": st.lists(st.sampled_from(FILE_ANNOTATIONS)),
                    "viewed_by_esp": st.booleans(),
                    "ip": ip,
                    "original_name": opt_text,
                },
            ),
            min_size=1,
            max_size=2,
        ),
    }
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_strategy)
def test_checked_cases_always_build_valid_xml(data: dict) -> None:
    case = case_from_dict(data)
    try:
        build_report(case)  # raises SchemaError if the XML is invalid — which must never happen
        for f in case.files:
            build_file_details(1, "ab" * 16, f, file_name="photo.jpg")
    except SchemaError as exc:
        # Only text that XML cannot carry (control characters) may be refused, and it must name the element.
        assert "characters XML cannot carry" in exc.message and exc.element and exc.element.startswith("/"), (
            exc
        )


def test_control_characters_are_refused_naming_the_element() -> None:
    case = case_from_dict(
        {
            "incident": {"time": "2024-01-15T14:30:00Z"},
            "reporter": {"first_name": "Ja\x00ne", "email": "a@example.com"},
        }
    )
    try:
        build_report(case)
    except SchemaError as exc:
        assert exc.element == "/report/reporter/reportingPerson/firstName"
    else:
        raise AssertionError("a NUL byte reached the XML")
