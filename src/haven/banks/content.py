"""Contents: the entries of one piece of media, addressed by one number (HMA's *bank content*).

Haven keeps one entry per (signal, value); HMA keeps one *content* per banked media, with a signal of
each type. A content's id is the id of its first entry; the entries banked with it carry
``item = "content:<id>"``, and an entry that no content groups (one added by ``haven bank add``, the
native API or an import) is a content of its own, with its entry id. So every entry has a content id
(``content_id``) without another table, and a bank made through either API is the same bank.

What HMA keeps per content (its note, ``metadata``, ``disable_until_ts``) is set on each of its entries;
matching honours ``disable_until_ts`` for every shell (``Entry.matches_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haven.banks.store import BankStore
from haven.banks.types import ENABLED_TS, Entry, EntryIn
from haven.errors import NotFoundError

PREFIX = "content:"


def content_id(entry_id: int, item: str | None) -> int:
    """The content an entry belongs to: the number in its ``content:<id>`` item, else its own id."""
    if item and item.startswith(PREFIX) and item[len(PREFIX):].isdigit():
        return int(item[len(PREFIX):])
    return entry_id


def content_item(cid: int) -> str:
    return f"{PREFIX}{cid}"


@dataclass
class Content:
    """One content: its id, bank and entries (first entry's note, metadata and disable time stand for all)."""

    id: int
    bank: str
    entries: list[Entry]

    @property
    def note(self) -> str | None:
        return self.entries[0].note

    @property
    def metadata(self) -> dict[str, Any] | None:
        hma = (self.entries[0].extra or {}).get("hma") or {}
        meta = hma.get("metadata") if isinstance(hma, dict) else None
        return meta if isinstance(meta, dict) else None

    @property
    def disable_until_ts(self) -> int:
        ts = self.entries[0].disable_until_ts
        return ENABLED_TS if ts is None else ts

    def values(self) -> dict[str, str]:
        """``{signal: value}``, one per signal (the first entry of each)."""
        out: dict[str, str] = {}
        for e in self.entries:
            out.setdefault(e.signal, e.value)
        return out


def add_content(store: BankStore, bank: str, entries: Sequence[EntryIn], *, actor: str | None = None,
                force: bool = False) -> Content:
    """Bank the signals of one media as one content (entries' note and extra as given). Idempotent as
    ``BankStore.add_entries``: a value the bank already holds is not added again, and the new entries join
    the content of the first held one; returns the content."""
    done = store.add_entries_detail(bank, entries, actor=actor, force=force, strict_category=False)
    held = [i for i, new in done if not new]
    fresh = [i for i, new in done if new]
    if held:
        first = store.get_entry(held[0])
        cid = content_id(first.id, first.item)
    else:
        cid = fresh[0]
    if fresh:
        store.update_entries(fresh, item=content_item(cid), actor=actor)
    return get_content(store, bank, cid)


def get_content(store: BankStore, bank: str, cid: int) -> Content:
    """Content ``cid`` of ``bank`` (NotFoundError when the bank or the content is not there)."""
    entries = [e for e in store.find_entries(bank, ids=[cid], items=[content_item(cid)])
               if content_id(e.id, e.item) == cid]
    if not entries:
        raise NotFoundError(f"content '{cid}' not found")
    return Content(cid, bank, entries)


def update_content(store: BankStore, content: Content, *, actor: str | None = None, **fields: Any) -> Content:
    """Set ``note`` or ``disable_until_ts`` on every entry of a content; returns it as stored."""
    store.update_entries([e.id for e in content.entries], actor=actor, **fields)
    return get_content(store, content.bank, content.id)


def remove_content(store: BankStore, bank: str, cid: int, *, actor: str | None = None) -> int:
    """Delete a content's entries; 1 when it was there, 0 when not (the bank must exist)."""
    try:
        content = get_content(store, bank, cid)
    except NotFoundError:
        store.get_bank(bank)  # a missing bank is still an error
        return 0
    store.remove_entries([e.id for e in content.entries], actor=actor)
    return 1
