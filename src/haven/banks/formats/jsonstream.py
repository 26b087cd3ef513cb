"""Read the items of a JSON array one at a time from a text stream, in bounded memory.

Big hash-set files (Project VIC distributions run to hundreds of thousands of records) are one JSON
document; ``json.load`` would hold it all. ``ArrayStream`` keeps a sliding buffer, finds an array by a
key pattern, and decodes one element at a time with ``JSONDecoder.raw_decode``, tracking line numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from haven.errors import FormatError

CHUNK = 1 << 20
MAX_ITEM = 256 << 20  # one array element larger than this is refused


class ArrayStream:
    def __init__(self, stream: IO[str], path: str) -> None:
        self.stream = stream
        self.path = path
        self.buf = ""
        self.pos = 0
        self.line = 1  # line number at self.pos
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        # Drop what is consumed, counting its lines.
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def _advance(self, new_pos: int) -> None:
        self.line += self.buf.count("\n", self.pos, new_pos)
        self.pos = new_pos

    def head(self, size: int = 65536) -> str:
        """The text not yet consumed, reading up to ``size`` characters ahead (for sniffing)."""
        while len(self.buf) - self.pos < size and self._more():
            pass
        return self.buf[self.pos:self.pos + size]

    def seek_pattern(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """Move just past the next match of ``pattern`` (which must end at an array's ``[``)."""
        while True:
            m = pattern.search(self.buf, self.pos)
            if m is not None and m.end() < len(self.buf):
                self._advance(m.end())
                return m
            if not self._more():
                if m is not None:
                    self._advance(m.end())
                return m
            # keep only a tail that could hold a partial match
            if m is None and len(self.buf) - self.pos > 4096:
                self._advance(len(self.buf) - 4096)

    def _skip_ws(self, commas: bool) -> str | None:
        while True:
            n = len(self.buf)
            i = self.pos
            while i < n and (self.buf[i] in " \t\r\n" or (commas and self.buf[i] == ",")):
                i += 1
            self._advance(i)
            if i < n:
                return self.buf[i]
            if not self._more():
                return None

    def items(self) -> Iterator[tuple[int, Any]]:
        """``(line, value)`` for each element of the array whose ``[`` was just consumed."""
        while True:
            c = self._skip_ws(commas=True)
            if c is None:
                raise FormatError("file ends inside a JSON array", path=self.path, line=self.line)
            if c == "]":
                self._advance(self.pos + 1)
                return
            while True:
                try:
                    value, end = self.decoder.raw_decode(self.buf, self.pos)
                except json.JSONDecodeError as exc:
                    # Incomplete element: read more unless the error is in the middle of what we have.
                    if len(self.buf) - self.pos > MAX_ITEM:
                        raise FormatError("JSON element too large", path=self.path, line=self.line) from None
                    cut_short = exc.pos >= len(self.buf) - 1 or exc.msg.startswith("Unterminated string")
                    if cut_short and self._more():
                        continue
                    raise FormatError(f"invalid JSON: {exc.msg}", path=self.path,
                                      line=self.line + self.buf.count("\n", self.pos, exc.pos)) from None
                # A number or literal at the very end of the buffer might be cut short.
                if end >= len(self.buf) and not self.eof and self._more():
                    continue
                break
            line = self.line
            self._advance(end)
            yield line, value


MAX_VALUE = 1 << 20  # one JSON value spread over lines larger than this is refused


def json_values(
    stream: Iterable[str], path: str, *, first_line: int = 0
) -> Iterator[tuple[int, Any] | FormatError]:
    """``(line, value)`` for each JSON value of a stream of them — JSON Lines, or pretty-printed values one
    after another — or a ``FormatError`` naming the line a bad value starts on, after which reading goes on
    at the next line (so one bad line costs only itself). Line numbers count from ``first_line`` + 1."""
    replay: list[tuple[int, str]] = []  # lines to read again after a bad value that spanned several
    pending: list[tuple[int, str]] = []
    lines = ((first_line + n, raw) for n, raw in enumerate(stream, 1))
    while True:
        if replay:
            line, raw = replay.pop(0)
        else:
            nxt = next(lines, None)
            if nxt is None:
                break
            line, raw = nxt
        if not pending and not raw.strip():
            continue
        pending.append((line, raw))
        text = "".join(r for _, r in pending)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # Cut short at the end of what was read: a value spread over several lines; read on.
            if exc.pos >= len(text.rstrip()) and len(text) < MAX_VALUE:
                continue
            yield FormatError(f"invalid JSON: {exc.msg}", path=path, line=pending[0][0])
            replay = pending[1:] + replay
            pending = []
            continue
        yield pending[0][0], value
        pending = []
    if pending:
        yield FormatError("the file ends inside a JSON value", path=path, line=pending[0][0])
