"""StopNCII hash exchange (JSON API, ``https://api.stopncii.org/v1``), Haven's own client.

Shapes (from python-threatexchange's ``exchanges/clients/stopncii/api.py``, re-expressed):
``GET {base}/FetchHashes?startTimestamp=…&pageSize=…[&nextPageToken=…]`` with the headers
``Ocp-Apim-Subscription-Key`` and ``x-functions-key`` → ``{count, nextPageToken, nextSetTimestamp,
hasMoreRecords, hashRecords: [{lastModtimestamp, signalType, hashValue, hashStatus, caseNumbers,
CSPFeedbacks}]}``. A record is the hash's whole current state; ``hashStatus`` ``Withdrawn`` or ``Deleted``
is a tombstone. Checkpoint: the start timestamp and, mid-stream, the page token; once ``hasMoreRecords`` is
false, ``nextSetTimestamp``. Feedback: ``POST {base}/SubmitFeedback`` ``{count, hashFeedbacks: [{hashValue,
feedbackValue, tags}]}`` under its own function key (``Blocked`` for a confirmed match, ``NotBlocked`` for a
false positive).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from haven.errors import RemoteError
from haven.exchanges.clients import ClientSettings, HttpClient, checked_base
from haven.exchanges.types import FeedbackTarget, Page, Update

BASE = "https://api.stopncii.org/v1"
SIGNALS = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
TOMBSTONES = {"Withdrawn", "Deleted"}
FEEDBACK_VALUES = {"positive": "Blocked", "negative": "NotBlocked"}


class StopNciiClient(HttpClient):
    type = "stopncii"

    def __init__(self, options: dict[str, Any], credentials: dict[str, str], cs: ClientSettings) -> None:
        base = checked_base(str(options.get("url") or BASE), "StopNCII")
        super().__init__(
            base,
            options,
            cs,
            name="StopNCII",
            headers={"Ocp-Apim-Subscription-Key": credentials.get("subscription_key", "")},
        )
        self.fetch_key = credentials.get("fetch_function_key", "")
        self.feedback_key = credentials.get("feedback_function_key", "")
        self.supports_feedback = bool(self.feedback_key)
        self.page_size = int(options.get("page_size", 800))

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        cp = checkpoint or {}
        start = int(cp.get("start", 0))
        token = str(cp["token"]) if cp.get("partial") and cp.get("token") else ""
        while True:
            params: dict[str, Any] = {"startTimestamp": start, "pageSize": self.page_size}
            if token:
                params["nextPageToken"] = token
            resp = self.request(
                "GET",
                f"{self.base}/FetchHashes",
                params=params,
                headers={"x-functions-key": self.fetch_key},
                label="GET /FetchHashes",
            )
            try:
                body = resp.json()
                records = body.get("hashRecords") or []
                more = bool(body.get("hasMoreRecords"))
                token = body.get("nextPageToken") or ""
                next_start = int(body.get("nextSetTimestamp") or start)
            except (ValueError, AttributeError, TypeError) as exc:
                raise RemoteError(f"unreadable StopNCII FetchHashes answer: {exc}") from None
            updates = [u for u in (self._update(r) for r in records) if u is not None]
            if more and token:
                yield Page(updates, {"start": start, "token": token})
            else:
                yield Page(updates, {"start": next_start}, last=True)
                return

    @staticmethod
    def _update(r: Any) -> Update | None:
        if not isinstance(r, dict) or "hashValue" not in r or "signalType" not in r:
            return None
        signal = SIGNALS.get(str(r["signalType"]))
        status = str(r.get("hashStatus") or "")
        deleted = status in TOMBSTONES
        ts = r.get("lastModtimestamp")
        return Update(
            upstream_id=f"{r['signalType']}:{r['hashValue']}",
            signals=[(signal, str(r["hashValue"]))] if signal and not deleted else [],
            deleted=deleted or signal is None,
            status=status or None,
            upstream_at=datetime.fromtimestamp(int(ts), UTC) if isinstance(ts, int | float) else None,
            feedback={"CSPFeedbacks": r.get("CSPFeedbacks") or [], "caseNumbers": r.get("caseNumbers") or {}},
        )

    def send_feedback(self, target: FeedbackTarget, opinion: str) -> str:
        payload = {
            "count": 1,
            "hashFeedbacks": [
                {"hashValue": target.value, "feedbackValue": FEEDBACK_VALUES[opinion], "tags": []}
            ],
        }
        # A CSP's feedback on a hash is a state, not an event: sending the same one twice changes nothing.
        resp = self.request(
            "POST",
            f"{self.base}/SubmitFeedback",
            json=payload,
            headers={"x-functions-key": self.feedback_key},
            label="POST /SubmitFeedback",
        )
        return f"HTTP {resp.status_code} ({FEEDBACK_VALUES[opinion]})"
