"""Case files (JSON and YAML) and the one builder that turns them into CyberTipline XML."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from report_helpers import CASE

from haven.errors import FileAccessError, FormatError
from haven.reporting.builder import build_file_details, build_report, to_bytes
from haven.reporting.case import Case, case_from_dict, load_case


def test_json_and_yaml_load_the_same_case(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps(CASE))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CASE))
    a, b = load_case(tmp_path / "c.json"), load_case(tmp_path / "c.yaml")
    assert a == b
    assert a.files[1].classification == "B2" and a.reported_user and a.reported_user.ips[0].event == "Upload"


def test_yaml_unquoted_timestamp_and_relative_paths(tmp_path: Path) -> None:
    data = copy.deepcopy(CASE)
    data["files"] = [{"path": "photo.jpg"}]
    text = yaml.safe_dump(data).replace("'2024-01-15T14:30:00Z'", "2024-01-15T14:30:00Z")
    (tmp_path / "c.yml").write_text(text)
    case = load_case(tmp_path / "c.yml")
    assert case.incident.time == "2024-01-15T14:30:00Z"
    assert case.files[0].path == str(tmp_path / "photo.jpg")


def test_round_trip_through_dict() -> None:
    case = case_from_dict(copy.deepcopy(CASE))
    assert case_from_dict(json.loads(json.dumps(case.to_dict()))) == case


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda c: c["reporter"].update(emial="x@example.com"), "reporter: unknown key(s) emial"),
    (lambda c: c["files"][0].update(classification="C9"), "files[0].classification"),
    (lambda c: c["incident"].update(type="Other"), "incident.type"),
    (lambda c: c["incident"].update(time="2024-01-15 14:30"), "has no timezone"),
    (lambda c: c["incident"].pop("time"), "incident.time: required"),
    (lambda c: c["reported_user"]["ips"][0].update(event="Logout"), "reported_user.ips[0].event"),
    (lambda c: c["files"][0].update(viewed_by_esp="yes"), "files[0].viewed_by_esp: expected true or false"),
    (lambda c: c.pop("reporter"), "missing required key reporter"),
    (lambda c: c["internet"][0].update(kind="usenet"), "internet[0].kind"),
    (lambda c: c["files"][1].update(annotations=["cute"]), "files[1].annotations"),
])
def test_bad_cases_name_the_key(mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(CASE)
    mutate(data)
    with pytest.raises(FormatError) as exc:
        case_from_dict(data)
    assert needle in exc.value.message


def test_unreadable_and_malformed_case_files(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        load_case(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"incident": {\n"type": }')
    with pytest.raises(FormatError) as exc:
        load_case(bad)
    assert exc.value.line == 2


def _full_case() -> Case:
    data = copy.deepcopy(CASE)
    data["incident"].update(platform="Example Photos", annotations=["spam"], time_description="upload time")
    data["internet"] += [{"kind": "email", "emails": ["sender@example.com"], "content": "hello"},
                         {"kind": "chat", "chat_client": "Example Chat", "chat_room": "room-1"}]
    data["reported_user"].update(display_names=["Example User"], profile_urls=["https://www.example.com/u/x"],
                                 emails=["user@example.com"], compromised_account=False)
    data["reporter"].update(contact_email="legal@example.com", terms_of_service="https://www.example.com/tos")
    data["files"][0].update(hashes={"md5": "d41d8cd98f00b204e9800998ecf8427e"}, location="https://www.example.com/m/1",
                            uploaded_at="2024-01-15T14:29:00Z", additional_info="note",
                            ip={"ip": "198.51.100.7", "event": "Upload", "port": 443})
    return case_from_dict(data)


def test_full_case_builds_a_valid_report_with_every_section() -> None:
    root = build_report(_full_case())  # validates against the XSD or raises
    xml = to_bytes(root).decode()
    for needle in (
        "<webPageIncident>",
        "<emailIncident>",
        "<chatImIncident>",
        "<reportAnnotations>",
        "<spam>true",
        "<companyTemplate>Example ESP",
        "<contactPerson>",
        "<screenName>example-user",
        "<ipAddress>192.0.2.10",
        "<eventName>Upload",
        "<dateTime>2024-01-15T14:29:00Z",
        "<personOrUserReportedPerson>",
        "<additionalInfo>Fictional test report",
    ):
        assert needle in xml, needle
    assert (
        xml.index("<incidentSummary>")
        < xml.index("<internetDetails>")
        < xml.index("<reporter>")
        < xml.index("<personOrUserReported>")
    )


def test_file_details_carry_hashes_classification_and_flags() -> None:
    f = _full_case().files[0]
    f.hashes["pdq"] = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    xml = to_bytes(build_file_details(4564654, "ab" * 16, f)).decode()
    for needle in (
        "<reportId>4564654",
        "<industryClassification>A1",
        "<fileViewedByEsp>true",
        "<publiclyAvailable>false",
        '<originalFileHash hashType="MD5">d41d8cd98f00b204e9800998ecf8427e',
        '<originalFileHash hashType="PDQ">f8f8',
        "<locationOfFile>https://www.example.com/m/1",
        "<ipCaptureEvent>",
        "<port>443",
    ):
        assert needle in xml, needle
    second = _full_case().files[1]
    assert (
        "<fileAnnotations>\n    <viral>true</viral>" in to_bytes(build_file_details(1, "x", second)).decode()
    )


def test_minimal_case_matches_the_reference_minimal_example() -> None:
    case = case_from_dict(
        {
            "incident": {"time": "2024-01-15T14:30:00Z"},
            "reporter": {
                "first_name": "Jane",
                "last_name": "Example",
                "email": "trust-and-safety@example.com",
            },
        }
    )
    ours = to_bytes(build_report(case)).decode()
    assert (
        "<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>" in ours
    )
    assert "<internetDetails>" not in ours and "<personOrUserReported>" not in ours


def test_times_are_normalised_to_xs_datetime() -> None:
    data = copy.deepcopy(CASE)
    data["incident"]["time"] = "2024-01-15T14:30+02:00"
    data["files"][0]["uploaded_at"] = "2024-01-15T12:00Z"
    case = case_from_dict(data)
    assert (
        case.incident.time == "2024-01-15T14:30:00+02:00"
        and case.files[0].uploaded_at == "2024-01-15T12:00:00Z"
    )
    build_report(case)
