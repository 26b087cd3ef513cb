"""Constants and helpers shared by the reporting tests (imported as ``report_helpers``)."""

from __future__ import annotations

from pathlib import Path

from haven.reporting.mock import MockNcmec

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
NCMEC_REF = PHOTOS.parents[1] / "reference" / "ncmec"

USER, PASSWORD = "haven-tests", "s3cret-Pa55word-for-tests"
# Fixed keys for tests only: a legacy Fernet key (migration tests) and a master key (HAVEN_MASTER_KEY).
SECRET_KEY = "rJ0H2m0q3mD2f1x9r5Qe6h1Yk3V0bXw8c7nZ4sT2uLw="
MASTER_KEY = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY="

CASE = {
    "incident": {"type": "Child Pornography (possession, manufacture, and distribution)",
                 "time": "2024-01-15T14:30:00Z", "description": "Fictional test report over benign photos."},
    "reporter": {"first_name": "Jane", "last_name": "Example", "email": "trust-and-safety@example.com",
                 "company": "Example ESP", "legal_url": "https://www.example.com/legal"},
    "internet": [{"kind": "web_page", "urls": ["https://www.example.com/u/example-user/post/0000"]}],
    "reported_user": {"esp_identifier": "user-000000", "screen_name": "example-user",
                      "ips": [{"ip": "192.0.2.10", "event": "Upload", "time": "2024-01-15T14:29:00Z"}]},
    "files": [
        {"path": str(PHOTOS / "0105.jpg"), "classification": "A1", "viewed_by_esp": True,
         "publicly_available": False},
        {"path": str(PHOTOS / "0222.png"), "classification": "B2", "annotations": ["viral"],
         "original_name": "IMG_0222.png"},
    ],
}



def finished(mock: MockNcmec) -> list[dict]:
    return [r for r in mock.reports() if r["state"] == "finished"]
