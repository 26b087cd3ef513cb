"""NCMEC hash sharing (XML API, ``https://hashsharing.ncmec.org/hashsharing/v2``), Haven's own client.

Shapes (from python-threatexchange's ``exchanges/clients/ncmec/hash_api.py``, re-expressed):
``GET {base}/v2/entries?from=…&to=…`` → ``<queryResult>`` with ``<images>``/``<videos>`` holding ``<image>``
/``<video>`` entries (``member@id``, ``id``, ``timestamp``, ``classification``, ``fingerprints``,
``feedback``) and ``<deletedImage>``/``<deletedVideo>`` tombstones, plus ``<paging><next>`` (a path with
``start``/``size``/``max``) while more remain. Entries within a time range are not in time order, so the
checkpoint only moves past a range once it is exhausted: mid-range it holds the range and the next page's
path. Feedback: ``PUT {base}/v2/entries/{member}/{id}/{TYPE}/feedback`` with a ``<feedbackSubmission>`` of
``<affirmative/>`` or ``<negative><reasonIds><guid>…`` (the reasons:
``GET {base}/v2/feedback/{TYPE}/reasons``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import httpx

from haven.banks.categories import SCHEMES
from haven.errors import FormatError, RemoteError, RemoteRejectedError, UsageError
from haven.exchanges.clients import ClientSettings, HttpClient, checked_base
from haven.exchanges.types import FeedbackTarget, Page, Update
from haven.reporting.safexml import parse_xml

NS = "https://hashsharing.ncmec.org/hashsharing/v2"
ENVIRONMENTS = {
    "industry": "https://report.cybertip.org/hashsharing",
    "ngo": "https://hashsharing.ncmec.org/npo",
    "exploitative": "https://hashsharing.ncmec.org/exploitative",
    "test-industry": "https://exttest.cybertip.org/hashsharing",
    "test-ngo": "https://hashsharing-test.ncmec.org/npo",
    "test-exploitative": "https://hashsharing-test.ncmec.org/exploitative",
}
#: NCMEC fingerprint element → Haven signal, per entry kind (PhotoDNA, NetClean, TMK … have no Haven signal).
SIGNALS = {"image": {"md5": "md5", "sha1": "sha1", "pdq": "pdq"}, "video": {"md5": "md5", "sha1": "sha1"}}
#: Haven signal → NCMEC fingerprint type in feedback paths.
FEEDBACK_TYPES = {"md5": "MD5", "sha1": "SHA1", "pdq": "PDQ"}
DATE = "%Y-%m-%dT%H:%M:%SZ"
MAX_PAGE_BYTES = 64 << 20


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(DATE)


@functools.lru_cache(maxsize=4096)
def parse_time(text: str | None) -> datetime | None:
    """An NCMEC timestamp (``2017-10-24T15:00:00Z``, milliseconds optional) as a UTC datetime."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip()).astimezone(UTC)
    except ValueError:
        return None


def _local(el: Any) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _feedback(fb: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if fb is None:
        return out
    for sentiment in fb:
        if not isinstance(sentiment.tag, str):
            continue
        members = [m.get("id") for m in sentiment.iter() if isinstance(m.tag, str) and _local(m) == "member"]
        reasons = [
            r.get("name") for r in sentiment.iter() if isinstance(r.tag, str) and _local(r) == "reason"
        ]
        item: dict[str, Any] = {
            "sentiment": _local(sentiment).replace("Feedback", ""),
            "type": sentiment.get("type"),
            "members": members,
        }
        if reasons:
            item["reasons"] = reasons
        out.append(item)
    return out


_US = frozenset(SCHEMES["us-industry"])
_ENTRY_TAGS = {
    "image": (False, "image"),
    "video": (False, "video"),
    "deletedImage": (True, "image"),
    "deletedVideo": (True, "video"),
}


#: An entry's children that the client reads, by local name → their slot in ``_fields``' list.
_FIELDS = ("member", "id", "classification", "fingerprints", "feedback", "timestamp")


def _text(el: Any) -> str:
    return (el.text or "").strip() if el is not None else ""


def parse_entries(data: bytes) -> tuple[list[Update], str]:
    """A ``queryResult`` page → (updates, the next page's path or "")."""
    root = parse_xml(data, max_bytes=MAX_PAGE_BYTES)
    if _local(root) != "queryResult":
        raise RemoteError(f"NCMEC sent <{_local(root)}> where <queryResult> was expected")
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    # Tags compared whole (namespace included): one dict look-up per element instead of string surgery.
    entry_tags = {f"{ns}{k}": v for k, v in _ENTRY_TAGS.items()}
    fp_names = {kind: {f"{ns}{k}": v for k, v in names.items()} for kind, names in SIGNALS.items()}
    slot_of = {f"{ns}{t}": i for i, t in enumerate(_FIELDS)}
    groups = (f"{ns}images", f"{ns}videos")
    updates: list[Update] = []
    for group in root:
        if group.tag not in groups:
            continue
        for entry in group:
            what = entry_tags.get(entry.tag)
            if what is None:
                continue  # a comment, or an element this client does not know
            deleted, kind = what
            # One pass over the entry's children (the first of each name counts, as ``find`` would).
            found: list[Any] = [None] * len(_FIELDS)
            for child in entry:
                i = slot_of.get(child.tag)
                if i is not None and found[i] is None:
                    found[i] = child
            member_el, id_el, class_el, fps, fb, time_el = found
            member_id = member_el.get("id") if member_el is not None else None
            entry_id = _text(id_el)
            if not entry_id or member_id is None:
                raise RemoteError(f"NCMEC <{_local(entry)}> without <id> or <member id=…>")
            classification = _text(class_el) or None
            signals: list[tuple[str, str]] = []
            if fps is not None:
                names = fp_names[kind]
                for fp in fps:
                    signal = names.get(fp.tag)
                    if signal is not None:
                        value = _text(fp)
                        if value:
                            signals.append((signal, value))
            updates.append(
                Update(
                    upstream_id=f"{member_id}/{entry_id}",
                    signals=signals,
                    deleted=deleted,
                    member=f"{member_id} {member_el.text or ''}".strip(),
                    classification=classification,
                    scheme="us-industry" if classification and classification.upper() in _US else None,
                    status="deleted" if deleted else kind,
                    upstream_at=parse_time(time_el.text if time_el is not None else None),
                    feedback=(_feedback(fb) or None) if fb is not None and len(fb) else None,
                    # The feedback call's member and entry ids are the upstream id's two halves.
                )
            )
    nxt = root.findtext(f"{ns}paging/{ns}next")
    return updates, (nxt or "").strip()


class NcmecHashClient(HttpClient):
    type = "ncmec"
    supports_feedback = True

    def __init__(
        self, options: dict[str, Any], credentials: dict[str, str], cs: ClientSettings, clock: Any = time.time
    ) -> None:
        if options.get("url"):
            base = checked_base(str(options["url"]), "NCMEC")
        else:
            env = str(options.get("environment", "test-industry")).lower()
            if env not in ENVIRONMENTS:
                raise UsageError(f"unknown NCMEC environment {env!r}; use one of {', '.join(ENVIRONMENTS)}")
            base = ENVIRONMENTS[env]
        super().__init__(
            base,
            options,
            cs,
            name="NCMEC",
            auth=httpx.BasicAuth(credentials.get("username", ""), credentials.get("password", "")),
        )
        self.lag = int(options.get("lag", 5))  # seconds kept behind the present: entries still being written
        self.negative_reason = options.get("negative_reason")
        self.clock = clock
        self._reasons: dict[str, list[tuple[str, str]]] = {}

    def _get_page(self, path_or_params: str | dict[str, str]) -> tuple[list[Update], str]:
        if isinstance(path_or_params, str):
            if not path_or_params.startswith("/"):
                raise RemoteError(f"NCMEC paging link {path_or_params[:80]!r} is not a path on its server")
            resp = self.request("GET", self.base + path_or_params, label="GET /v2/entries (next page)")
        else:
            resp = self.request(
                "GET", f"{self.base}/v2/entries", params=path_or_params, label="GET /v2/entries"
            )
        try:
            return parse_entries(resp.content)
        except FormatError as exc:
            raise RemoteError(f"unreadable NCMEC page: {exc.message}") from None

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        cp = checkpoint or {}
        start = int(cp.get("from", 0))
        if cp.get("partial") and cp.get("next"):
            end = int(cp["to"])
            updates, nxt = self._get_page(str(cp["next"]))
        else:
            end = int(self.clock()) - self.lag
            if end <= start:
                return
            updates, nxt = self._get_page({"from": iso(start), "to": iso(end)})
        while True:
            if nxt:
                yield Page(updates, {"from": start, "to": end, "next": nxt})
            else:
                yield Page(updates, {"from": end}, last=True)
                return
            updates, nxt = self._get_page(nxt)

    def _reason(self, fp_type: str) -> str:
        if self.negative_reason:
            return str(self.negative_reason)
        if fp_type not in self._reasons:
            resp = self.request(
                "GET", f"{self.base}/v2/feedback/{fp_type}/reasons", label="GET /v2/feedback/reasons"
            )
            root = parse_xml(resp.content)
            self._reasons[fp_type] = [
                (r.get("guid"), r.get("name"))
                for r in root.iter()
                if isinstance(r.tag, str) and _local(r) == "reason"
            ]
        reasons = self._reasons[fp_type]
        if len(reasons) == 1:
            return reasons[0][0]
        raise RemoteRejectedError(
            f"NCMEC offers {len(reasons)} negative-feedback reasons for {fp_type}; choose one with "
            f"`haven exchange set NAME --option negative_reason=GUID`: "
            + "; ".join(f"{g} {n}" for g, n in reasons)
        )

    def send_feedback(self, target: FeedbackTarget, opinion: str) -> str:
        fp_type = FEEDBACK_TYPES.get(target.signal)
        if fp_type is None:
            raise NotImplementedError(f"NCMEC takes no feedback on {target.signal}")
        member, _, entry = target.upstream_id.partition("/")
        if opinion == "positive":
            vote = "<affirmative/>"
        else:
            vote = f"<negative><reasonIds><guid>{escape(self._reason(fp_type))}</guid></reasonIds></negative>"
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<feedbackSubmission xmlns="{NS}">{vote}</feedbackSubmission>'
        )
        # PUT replaces this member's feedback on the fingerprint: sending it twice is harmless, so retried.
        resp = self.request(
            "PUT",
            f"{self.base}/v2/entries/{member}/{entry}/{fp_type}/feedback",
            content=body.encode(),
            headers={"Content-Type": "application/xml; charset=utf-8"},
            label="PUT /v2/entries/…/feedback",
        )
        return f"HTTP {resp.status_code} ({'affirmative' if opinion == 'positive' else 'negative'} {fp_type})"
