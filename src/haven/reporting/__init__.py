"""NCMEC CyberTipline reporting: case files → validated report XML → exactly-once submission.

See docs/reporting.md for the case-file format, the state machine and the mock server.
"""

from haven.reporting.builder import build_file_details, build_report, to_bytes
from haven.reporting.case import (
    Case,
    CaseFile,
    Incident,
    InternetDetail,
    IpEvent,
    ReportedUser,
    Reporter,
    load_case,
)
from haven.reporting.client import NcmecClient, NcmecRejectedError, OutcomeUnknownError
from haven.reporting.files import FileSource, LocalFileSource
from haven.reporting.service import ReportService

__all__ = [
    "Case",
    "CaseFile",
    "FileSource",
    "Incident",
    "InternetDetail",
    "IpEvent",
    "LocalFileSource",
    "NcmecClient",
    "NcmecRejectedError",
    "OutcomeUnknownError",
    "ReportService",
    "Reporter",
    "ReportedUser",
    "build_file_details",
    "build_report",
    "load_case",
    "to_bytes",
]
