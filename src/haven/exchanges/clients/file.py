"""The ``file`` exchange: python-threatexchange's file collaboration format (``<type> <signal>`` per line,
read by ``haven.banks.formats.pytx``) from a local path or a URL (through the SSRF-guarded fetch).

The checkpoint is the content's SHA-256: the same content again is a no-op. New content is one snapshot
page: its lines are the whole list, so a line that is gone is a tombstone and the bank ends holding exactly
the file's signals (those of this exchange; entries added by other means stay).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from haven.banks.formats import pytx
from haven.banks.formats.base import Record
from haven.errors import FileAccessError, FormatError
from haven.exchanges.clients import ClientSettings
from haven.exchanges.types import FeedbackTarget, Page, Update
from haven.signals import get_signal


class FileClient:
    type = "file"
    supports_feedback = False

    def __init__(self, source: str, cs: ClientSettings) -> None:
        self.source = source
        self.cs = cs

    def _read(self) -> bytes:
        if self.source.startswith(("http://", "https://")):
            from haven.service.ssrf.urlfetch import FetchPolicy, fetch_url

            policy = FetchPolicy(
                max_bytes=self.cs.file_max_bytes,
                timeout=self.cs.timeout,
                allow=FetchPolicy.parse_allow(self.cs.fetch_allow),
            )
            return fetch_url(self.source, policy).data
        p = Path(self.source)
        try:
            if p.stat().st_size > self.cs.file_max_bytes:
                raise FormatError(f"over the {self.cs.file_max_bytes}-byte limit", path=p, code="too_large")
            return p.read_bytes()
        except FileNotFoundError:
            raise FileAccessError("no such file", path=p, code="not_found") from None
        except IsADirectoryError:
            raise FileAccessError("is a directory, not a file", path=p, code="is_directory") from None

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        data = self._read()
        digest = hashlib.sha256(data).hexdigest()
        if checkpoint and checkpoint.get("sha256") == digest:
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text: {exc.reason}", path=self.source) from None
        updates: list[Update] = []
        problems: list[str] = []
        for item in pytx.read(io.StringIO(text), self.source):
            if isinstance(item, FormatError):
                problems.append(f"{self.source}:{item.line}: {item.message}")
                continue
            assert isinstance(item, Record)
            for e in item.entries:
                try:
                    value = get_signal(e.signal).validate(e.value)
                except FormatError:
                    value = e.value  # the apply loop reports it with the others
                updates.append(
                    Update(upstream_id=f"{e.signal} {value}", signals=[(e.signal, value)], status="listed")
                )
        yield Page(
            updates, {"sha256": digest, "lines": len(updates)}, last=True, snapshot=True, problems=problems
        )

    def send_feedback(self, target: FeedbackTarget, opinion: str) -> str:
        raise NotImplementedError("a file exchange takes no feedback")

    def close(self) -> None:
        pass
