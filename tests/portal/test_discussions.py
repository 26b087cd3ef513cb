"""Discussions with moderation, and e-mail to followers through a real local SMTP server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from portal_builders import approved

from haven.errors import ConflictError
from haven.portal import audit, discussions
from haven.portal.notify import SmtpNotifier, SmtpSettings
from haven.portal.store import PortalStore


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[object]]]:
    from aiosmtpd.controller import Controller

    received: list[object] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_followers_are_mailed_and_moderation_is_recorded(
    sqlite_store: PortalStore, smtp_server: tuple[int, list[object]]
) -> None:
    port, received = smtp_server
    mail = SmtpNotifier(SmtpSettings(host="127.0.0.1", port=port, sender="network@example.org"))
    with sqlite_store.begin() as db:
        starter = approved(db, email="starter@example.org")
        other = approved(db, email="other@example.org")
        mod = approved(db, roles=("moderator",))
        topic = discussions.create_topic(db, starter, "Supporting siblings", "How do you involve siblings?")
        reply = discussions.post(db, other, topic.id, "We run a sibling group.", notifier=mail)
        discussions.hide_post(db, mod, reply.id, "names a school")
        discussions.set_locked(db, mod, topic.id, True)
        with pytest.raises(ConflictError):
            discussions.post(db, other, topic.id, "Still here?")
        assert [p.body for p in discussions.posts(db, topic.id)] == ["How do you involve siblings?"]
        assert {e.event for e in audit.entries(db)} >= {"post.hide", "topic.lock"}
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.rcpt_tos for e in received] == [["starter@example.org"]]  # type: ignore[attr-defined]
    assert b"Supporting siblings" in received[0].content  # type: ignore[attr-defined]


def test_mail_failure_does_not_break_the_action() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    assert (
        SmtpNotifier(SmtpSettings(host="127.0.0.1", port=port, timeout=2)).send("a@example.org", "s", "b")
        is False
    )
