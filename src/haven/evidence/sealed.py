"""What the vault and the actions keep sealed under the master key ring, registered with ``haven.secrets``
so that ``haven secrets rotate`` re-seals it and ``retire`` waits until none is under the old key: the
vault items' data keys (32 bytes each: content is never re-encrypted), the export signing key, webhook
secrets in rules, and uploads staged for a pending action."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.config import Settings
from haven.secrets import KeyRing, SealedData, register_sealed
from haven.store.db import in_transaction


class _Blob:
    """One sealed blob: how to read it, its context, how to write it back."""

    def __init__(self, value: bytes, context: bytes, store: Callable[[bytes], None]) -> None:
        self.value, self.context, self.store = value, context, store


def _setter(row: Any, attr: str) -> Callable[[bytes], None]:
    def store(value: bytes) -> None:
        setattr(row, attr, value)

    return store


def _blobs(s: Session) -> Iterator[_Blob]:
    from haven.actions.engine import staged_context
    from haven.actions.models import RuleRow, StagedContent
    from haven.actions.store import secret_context
    from haven.evidence import crypto
    from haven.evidence.models import SigningKey, VaultItem
    from haven.evidence.package import _SIGNING_CONTEXT

    for item in s.scalars(select(VaultItem).where(VaultItem.wrapped_key.is_not(None))):
        yield _Blob(
            bytes(item.wrapped_key or b""),
            crypto.key_context(item.uid),
            _setter(item, "wrapped_key"),
        )
    for key in s.scalars(select(SigningKey)):
        yield _Blob(
            bytes(key.sealed_private_key),
            _SIGNING_CONTEXT,
            _setter(key, "sealed_private_key"),
        )
    for staged in s.scalars(select(StagedContent)):
        yield _Blob(
            bytes(staged.sealed),
            staged_context(staged.uid),
            _setter(staged, "sealed"),
        )
    for rule in s.scalars(select(RuleRow)):
        for i, action in enumerate(rule.actions):
            if action.get("secret_sealed"):

                def store(v: bytes, rule: Any = rule, i: int = i) -> None:
                    actions = [dict(a) for a in rule.actions]
                    actions[i]["secret_sealed"] = base64.b64encode(v).decode()
                    rule.actions = actions

                yield _Blob(
                    base64.b64decode(action["secret_sealed"]), secret_context(str(action["url"])), store
                )


def _usage(ring: KeyRing, settings: Settings) -> dict[str, int]:
    counts: dict[str, int] = in_transaction(
        settings.resolved_database_url, lambda s: dict(Counter(ring.sealed_with(b.value) for b in _blobs(s)))
    )
    return counts


def _reseal(ring: KeyRing, settings: Settings) -> int:
    def work(s: Session) -> int:
        changed = 0
        for blob in list(_blobs(s)):
            after = ring.reseal(blob.value, context=blob.context)
            if after != blob.value:
                blob.store(after)
                changed += 1
        return changed

    return int(in_transaction(settings.resolved_database_url, work))


register_sealed(SealedData(name="vault-and-actions", usage=_usage, reseal=_reseal))
