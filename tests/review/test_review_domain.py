"""The review console's domain on SQLite and PostgreSQL: routing, queue access, leases, decisions and their
actions, all audited."""

from __future__ import annotations

import json
import threading

import pytest
from review_helpers import Console, actor, photo
from sqlalchemy import text

from haven.errors import ConflictError, NotFoundError, PermissionDeniedError, UsageError
from haven.review.queues import add_route, save_queue

ANA = actor(1, "ana", "reviewer")
BEN = actor(2, "ben", "reviewer")
LEA = actor(3, "lea", "lead")


def test_routing_rules_in_order_first_match_wins(cons: Console) -> None:
    with cons.service.begin() as s:
        save_queue(s, "grave", roles=["lead"], now=cons.clock())
        save_queue(s, "partner", roles=["reviewer"], now=cons.clock())
        add_route(s, "grave", {"min_severity": 4})
        add_route(s, "partner", {"bank": "partner-bank"})
        add_route(s, "grave", {"bank": "partner-bank"})  # after the partner rule: never reached for it
    route = cons.service.route
    assert route([{"bank": "partner-bank", "severity": 4}]) == "grave"
    assert route([{"bank": "partner-bank", "severity": 2}]) == "partner"
    assert route([{"bank": "other", "severity": 2}]) == "default"
    with cons.service.begin() as s:
        add_route(s, "partner", {"known": False}, position=1)
        with pytest.raises(UsageError):
            add_route(s, "partner", {"colour": "red"})
    assert route([], known=False) == "partner"


def test_queue_access_by_role_and_user(cons: Console) -> None:
    with cons.service.begin() as s:
        save_queue(s, "special", roles=[], users=["ana"], now=cons.clock())
    item = cons.enqueue(photo(0).read_bytes(), queue="special")
    assert cons.service.next_item(BEN).reason == "empty"  # ben may not work "special"
    with pytest.raises(PermissionDeniedError):
        cons.service.next_item(BEN, "special")
    got = cons.service.next_item(ANA, "special")
    assert got.item is not None and got.item.id == item
    assert [q.name for q, _ in cons.service.queues(ANA)] == ["default", "special"]
    assert [q.name for q, _ in cons.service.queues(LEA)] == ["default", "escalations"]


def test_leases_order_and_no_two_reviewers_hold_one_item(cons: Console) -> None:
    low = cons.enqueue(photo(0).read_bytes(), severity=1)
    cons.clock.advance(seconds=1)
    high = cons.enqueue(photo(1).read_bytes(), severity=4)
    cons.clock.advance(seconds=1)
    unknown = cons.enqueue(photo(2).read_bytes(), known=False, severity=None)
    order = []
    for who in (ANA, BEN, actor(4, "cy")):
        got = cons.service.next_item(who)
        assert got.item is not None
        order.append(got.item.id)
        assert cons.service.next_item(who).item.id == got.item.id  # one item at a time: the same again
    assert order == [unknown, high, low]
    assert cons.service.next_item(actor(5, "dee")).reason == "empty"
    with pytest.raises(ConflictError):
        cons.service.decide(BEN, unknown, "skip")  # ana's item
    cons.clock.advance(minutes=11)  # ana's lease (10 minutes) ran out: the item is free again
    assert cons.service.next_item(actor(5, "dee")).item.id == unknown
    with pytest.raises(ConflictError):
        cons.service.view(ANA, unknown)


def test_concurrent_next_never_shares(cons: Console) -> None:
    for n in range(6):
        cons.enqueue(photo(n).read_bytes())
    got: list[int] = []
    lock = threading.Lock()

    def work(uid: int) -> None:
        r = cons.service.next_item(actor(10 + uid, f"r{uid}"))
        if r.item is not None:
            with lock:
                got.append(r.item.id)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and len(set(got)) == 6


def test_confirm_drafts_report_with_vault_file_and_audits(cons: Console) -> None:
    data = photo(3).read_bytes()
    item = cons.enqueue(data)
    assert cons.service.next_item(ANA).item.id == item
    with pytest.raises(UsageError):
        cons.service.decide(ANA, item, "confirm")  # no classification
    detail = cons.service.decide(ANA, item, "confirm", classification="A2", note="clear case")
    report = cons.reports.get(detail["report"])
    assert report["state"] == "draft"
    assert report["files"][0]["uri"] == f"vault:{detail['vault_item']}"
    import hashlib

    assert report["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    with cons.engine.connect() as conn:
        case = json.loads(
            conn.execute(
                text("SELECT case_json FROM reports WHERE id = :i"), {"i": detail["report"]}
            ).scalar_one()
        )
    assert case["files"][0]["classification"] == "A2" and case["reporter"]["email"] == "safety@example.org"
    assert cons.vault.info(detail["vault_item"]).report_id == detail["report"]
    assert any(
        r["kind"] == "review" and r["data"]["classification"] == "A2"
        for r in cons.vault.context(detail["vault_item"], actor="test")
    )
    entries = cons.audit.entries(target=f"review:{item}")
    assert [e.event for e in entries] == ["review.lease", "review.confirm"]
    assert entries[-1].detail["classification"] == "A2" and entries[-1].detail["report"] == detail["report"]
    assert cons.audit.verify().ok
    assert cons.queue.get(item).state == "done"
    with pytest.raises(ConflictError):
        cons.service.decide(ANA, item, "confirm", classification="A2")


def test_false_positive_disables_the_bank_entry(cons: Console) -> None:
    data = photo(4).read_bytes()
    item = cons.enqueue(data, bank="partner")
    entry = cons.queue.get(item).payload["matches"][0]["entry_id"]
    assert cons.banks.get_entry(entry).active
    cons.service.next_item(ANA)
    assert cons.service.decide(ANA, item, "false_positive") == {"entries": [entry]}
    e = cons.banks.get_entry(entry)
    assert not e.active and e.feedback == "false_positive" and e.feedback_by == ANA.label
    assert [x.event for x in cons.audit.entries(target=f"review:{item}")][-1] == "review.false_positive"


def test_escalate_goes_to_leads_and_skip_gives_back(cons: Console) -> None:
    first = cons.enqueue(photo(5).read_bytes())
    second = cons.enqueue(photo(6).read_bytes())
    assert cons.service.next_item(ANA).item.id == first
    cons.service.decide(ANA, first, "escalate", note="not sure")
    assert cons.queue.get(first).queue == "escalations"
    assert cons.service.next_item(ANA).item.id == second  # reviewers never get escalations
    cons.service.decide(ANA, second, "skip")
    assert cons.service.next_item(ANA).reason == "empty"  # ana skipped it: not handed to her again
    assert cons.service.next_item(BEN).item.id == second
    assert cons.service.next_item(LEA).item.id == first
    view = cons.service.view(LEA, first)
    assert view.queue.name == "escalations" and view.earlier[0]["decision"] == "escalate"
    with pytest.raises(ConflictError):
        cons.service.decide(LEA, first, "escalate")
    cons.service.comment(LEA, first, "looked at it with legal")
    assert cons.service.view(LEA, first).comments[0]["text"] == "looked at it with legal"
    events = [e.event for e in cons.audit.entries(event_prefix="review.")]
    assert events.count("review.escalate") == 1 and events.count("review.skip") == 1
    assert "review.comment" in events


def test_item_view_shows_entries_context_and_earlier_decisions(cons: Console) -> None:
    data = photo(7).read_bytes()
    first = cons.enqueue(data)
    cons.service.next_item(ANA)
    cons.service.decide(ANA, first, "confirm", classification="B1")
    again = cons.queue.add(
        queue="default",
        sha256=cons.queue.get(first).sha256,
        vault_item_id=cons.queue.get(first).vault_item_id,
        payload=cons.queue.get(first).payload,
        content_id="again",
    )
    cons.service.next_item(BEN)
    view = cons.service.view(BEN, again)
    assert view.matches[0]["entry"]["bank"] == "ncmec" and view.matches[0]["entry"]["created_by"] == "test"
    assert view.context["kind"] == "upload" and view.context["name"] == "upload.jpg"
    assert [(e["decision"], e["classification"]) for e in view.earlier] == [("confirm", "B1")]
    assert not view.revealed and view.blur == 10


def test_manual_escalation_goes_before_known_content_and_is_routed(cons: Console) -> None:
    from review_helpers import actor as staff

    known = cons.enqueue(photo(8).read_bytes(), severity=4)
    with cons.service.begin() as s:
        save_queue(s, "found", roles=["reviewer"], now=cons.clock())
        add_route(s, "found", {"known": False})
    data = photo(9).read_bytes()
    item = cons.service.submit(
        staff(7, "mo", "reviewer"), data, name="found.jpg", media_type="image/jpeg", note="reported by a user"
    )
    task = cons.queue.get(item)
    assert task.queue == "found" and not task.known and task.vault_item_id is not None
    assert cons.vault.read(task.vault_item_id, actor="test", purpose="test") == data
    assert cons.service.next_item(ANA).item.id == item  # unknown before the severity-4 known item
    assert cons.service.next_item(BEN).item.id == known
    assert cons.audit.entries(event="review.submit")[0].target == f"review:{item}"


def test_review_branch_downgrades_and_upgrades_again(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from haven.store.db import alembic_config, make_engine, upgrade_database

    command.downgrade(alembic_config(db_url), "review@0000_base")
    engine = make_engine(db_url)
    assert "review_queues" not in inspect(engine).get_table_names()
    upgrade_database(db_url)
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT name FROM review_queues ORDER BY name"))]
    engine.dispose()
    assert names == ["default", "escalations"]


def test_one_reviewer_asking_at_once_gets_one_item_counted_once(cons: Console) -> None:
    for n in range(4):
        cons.enqueue(photo(n).read_bytes())
    got: list[int] = []

    def ask() -> None:
        r = cons.service.next_item(ANA)
        if r.item is not None:
            got.append(r.item.id)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and len(set(got)) == 1  # a double click, two tabs: the same one item
    held = [t for t in cons.queue.items() if t.lease_owner == ANA.label]
    assert [t.id for t in held] == got[:1]
    assert cons.service.today(ANA).items_seen == 1


def test_a_hash_only_item_is_decided_without_content(cons: Console) -> None:
    item = cons.queue.add(queue="default", payload={"matches": [{"bank": "ncmec", "signal": "md5"}]},
                          content_id="hash-only")
    cons.service.next_item(ANA)
    assert cons.service.view(ANA, item).kind == "none"
    with pytest.raises(NotFoundError):
        cons.service.preview(ANA, item)
    with pytest.raises(UsageError):  # a report needs the content
        cons.service.decide(ANA, item, "confirm", classification="A1")
    cons.service.decide(ANA, item, "false_positive")
    assert cons.queue.get(item).decision == "false_positive"


def test_opening_the_item_renews_its_lease(cons: Console) -> None:
    item = cons.enqueue(photo(9).read_bytes())
    cons.service.next_item(ANA)
    cons.clock.advance(minutes=8)
    assert cons.service.view(ANA, item).lease_seconds == 600
    cons.clock.advance(minutes=8)  # 16 minutes after the lease began: still ana's
    assert cons.service.next_item(BEN).reason == "empty"
    cons.clock.advance(minutes=3)
    assert cons.service.next_item(BEN).item.id == item
