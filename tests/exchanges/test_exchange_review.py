"""The review console's decision reaches the exchange: a reviewer marks a match on an NCMEC entry a false
positive; the bank feedback it writes is queued for the exchange and sent as NCMEC's negative fingerprint
feedback (both databases)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from exchange_helpers import make_setup

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))
from review_helpers import actor, console, photo

from haven.exchanges import feedback, fetch

ANA = actor(1, "ana", "reviewer")


def test_a_false_positive_in_the_review_console_goes_back_to_ncmec(db_url: str, tmp_path: Path) -> None:
    s = make_setup(db_url, "ncmec", count=40, page_size=20)
    cons = console(db_url, tmp_path)
    try:
        fetch(s.xs, s.name, client=s.client())
        i = 4  # an image record: its PDQ is matched by an upload
        pdq = s.mock.data.signals(i)[1][1]
        entry = next(e for e in s.banks.iter_entries(s.bank) if e.value == pdq)
        data = photo(4).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        item = cons.vault.put(
            data,
            name="upload.jpg",
            media_type="image/jpeg",
            context={},
            actor="rule:test",
            source_key=f"sha256:{sha}",
        )
        matches = [{"bank": s.bank, "signal": "pdq", "distance": 3, "entry_id": entry.id, "value": pdq}]
        task = cons.queue.add(
            queue=cons.service.route(matches, known=True),
            priority=3,
            severity=3,
            known=True,
            content_id="c-1",
            sha256=sha,
            vault_item_id=int(item.id),
            payload={"hashes": {"sha256": sha}, "matches": matches, "name": "upload.jpg"},
        )
        cons.service.next_item(ANA)
        assert cons.service.decide(ANA, task, "false_positive") == {"entries": [entry.id]}

        assert feedback.collect(s.xs) == 1
        assert feedback.send(s.xs, clients={s.name: s.client()}) == {"sent": 1}
        assert s.mock.data.feedback == [
            {"member": str(42 + i % 2), "entry": f"e{i}", "type": "PDQ", "vote": "negative"}
        ]
        (row,) = s.xs.feedback(s.name)
        assert row["actor"] == ANA.label and row["opinion"] == "false_positive" and row["status"] == "sent"
    finally:
        cons.close()
        s.close()
