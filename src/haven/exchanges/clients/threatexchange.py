"""Meta's ThreatExchange (Graph API ``/threat_updates``), Haven's own client.

Shapes (from python-threatexchange's ``exchanges/clients/fb_threatexchange/api.py`` and
``threat_updates.py``, re-expressed): ``GET {base}/{privacy_group}/threat_updates/?access_token=…&start_time=…
&stop_time=…&limit=…&fields=…`` → ``{data: [{id, indicator, type, last_updated, should_delete, tags, status,
descriptors: {data: [{id, …}]}}], paging: {next}}``; ``should_delete`` is a tombstone. Checkpoint: the range's
start and, mid-range, the ``next`` link (which must stay on the API's host: it carries the token); after the
last page, the range's end. Feedback: a reaction on the record's descriptor, ``POST {base}/{descriptor_id}``
with ``reactions=HELPFUL`` (confirmed) or ``NOT_HELPFUL`` (false positive).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from haven.errors import RemoteError, UsageError
from haven.exchanges.clients import ClientSettings, HttpClient, checked_base
from haven.exchanges.types import FeedbackTarget, Page, Update

BASE = "https://graph.facebook.com/v21.0"
SIGNALS = {
    "HASH_PDQ": "pdq",
    "HASH_MD5": "md5",
    "HASH_VIDEO_MD5": "md5",
    "HASH_SHA1": "sha1",
    "HASH_SHA256": "sha256",
}
FIELDS = "id,indicator,type,creation_time,last_updated,should_delete,tags,status,descriptors"
REACTIONS = {"positive": "HELPFUL", "negative": "NOT_HELPFUL"}


class ThreatExchangeClient(HttpClient):
    type = "threatexchange"
    supports_feedback = True

    def __init__(
        self, options: dict[str, Any], credentials: dict[str, str], cs: ClientSettings, clock: Any = time.time
    ) -> None:
        base = checked_base(str(options.get("url") or BASE), "ThreatExchange")
        super().__init__(base, options, cs, name="ThreatExchange")
        if not options.get("privacy_group"):
            raise UsageError("a threatexchange exchange needs --privacy-group ID")
        self.group = str(options["privacy_group"])
        self.token = credentials.get("access_token", "")
        self.page_size = int(options.get("page_size", 500))
        self.types = str(options.get("types") or ",".join(SIGNALS))
        self.clock = clock

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[list[Update], str]:
        if urlsplit(url).netloc != urlsplit(self.base).netloc:
            raise RemoteError(
                "ThreatExchange paging link leaves the API's host; not followed (it carries the token)"
            )
        resp = self.request("GET", url, params=params, label="GET /threat_updates")
        try:
            body = resp.json()
            data = body.get("data") or []
            nxt = (body.get("paging") or {}).get("next") or ""
        except (ValueError, AttributeError) as exc:
            raise RemoteError(f"unreadable ThreatExchange threat_updates answer: {exc}") from None
        return [u for u in (self._update(r) for r in data) if u is not None], str(nxt)

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        cp = checkpoint or {}
        start = int(cp.get("start", 0))
        if cp.get("partial") and cp.get("next"):
            stop = int(cp["stop"])
            updates, nxt = self._get(str(cp["next"]), None)
        else:
            stop = int(self.clock())
            if stop <= start:
                return
            updates, nxt = self._get(
                f"{self.base}/{self.group}/threat_updates/",
                {
                    "access_token": self.token,
                    "start_time": start,
                    "stop_time": stop,
                    "limit": self.page_size,
                    "fields": FIELDS,
                    "types": self.types,
                },
            )
        while True:
            if nxt:
                yield Page(updates, {"start": start, "stop": stop, "next": nxt})
            else:
                yield Page(updates, {"start": stop}, last=True)
                return
            updates, nxt = self._get(nxt, None)

    @staticmethod
    def _update(r: Any) -> Update | None:
        if not isinstance(r, dict) or "id" not in r:
            return None
        signal = SIGNALS.get(str(r.get("type", "")))
        descriptors = (r.get("descriptors") or {}).get("data") or []
        deleted = bool(r.get("should_delete")) or signal is None
        ts = r.get("last_updated")
        tags = r.get("tags") or []
        return Update(
            upstream_id=str(r["id"]),
            signals=[(signal, str(r.get("indicator", "")))] if signal and not deleted else [],
            deleted=deleted,
            member=str(descriptors[0].get("owner", {}).get("id"))
            if descriptors and descriptors[0].get("owner")
            else None,
            status=r.get("status"),
            upstream_at=datetime.fromtimestamp(int(str(ts)), UTC) if str(ts or "").isdigit() else None,
            feedback={"tags": tags} if tags else None,
            extra={"descriptor_id": str(descriptors[0]["id"])}
            if descriptors and "id" in descriptors[0]
            else None,
        )

    def send_feedback(self, target: FeedbackTarget, opinion: str) -> str:
        descriptor = target.extra.get("descriptor_id")
        if not descriptor:
            raise NotImplementedError("this ThreatExchange record came without a descriptor to react to")
        # A reaction is set, not added: posting it twice leaves one reaction.
        resp = self.request(
            "POST",
            f"{self.base}/{descriptor}",
            data={"access_token": self.token, "reactions": REACTIONS[opinion]},
            label="POST /{descriptor} reactions",
        )
        return f"HTTP {resp.status_code} ({REACTIONS[opinion]})"
