"""Discussion per topic: members post, moderators hide posts and lock topics (both recorded), followers of a
topic get an e-mail for each new post."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.errors import ConflictError, InputError, NotFoundError
from haven.portal import audit
from haven.portal.actors import MODERATORS, Actor
from haven.portal.models import Member, Post, Subscription, Topic
from haven.portal.notify import Notifier
from haven.portal.store import fetch


def create_topic(
    db: Session, actor: Actor, title: str, body: str, *, notifier: Notifier | None = None
) -> Topic:
    actor.require("member", *MODERATORS)
    if not title.strip():
        raise InputError("title is required", code="missing_field")
    topic = Topic(title=title.strip()[:300], created_by=actor.member_id)
    db.add(topic)
    db.flush()
    post(db, actor, topic.id, body, notifier=notifier)
    follow(db, actor, topic.id)
    return topic


def get_topic(db: Session, topic_id: int) -> Topic:
    return fetch(db, Topic, topic_id, "topic")


def topics(db: Session) -> list[tuple[Topic, int]]:
    """Topics with their count of visible posts, newest first."""
    counts = (
        select(Post.topic_id, func.count().label("n"))
        .where(Post.hidden.is_(False))
        .group_by(Post.topic_id)
        .subquery()
    )
    rows = db.execute(
        select(Topic, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.topic_id == Topic.id)
        .order_by(Topic.id.desc())
    ).all()
    return [(t, int(n)) for t, n in rows]


def posts(db: Session, topic_id: int, *, include_hidden: bool = False) -> list[Post]:
    query = select(Post).where(Post.topic_id == topic_id).order_by(Post.id)
    if not include_hidden:
        query = query.where(Post.hidden.is_(False))
    return list(db.scalars(query))


def post(db: Session, actor: Actor, topic_id: int, body: str, *, notifier: Notifier | None = None) -> Post:
    actor.require("member", *MODERATORS)
    topic = get_topic(db, topic_id)
    if topic.locked and not actor.is_moderator:
        raise ConflictError("this topic is locked", code="locked")
    if not body.strip():
        raise InputError("write something", code="missing_field")
    row = Post(topic_id=topic.id, author_id=actor.member_id, body=body.strip()[:10000])
    db.add(row)
    db.flush()
    if notifier is not None:
        followers = db.scalars(
            select(Member)
            .join(Subscription, Subscription.member_id == Member.id)
            .where(
                Subscription.topic_id == topic.id,
                Member.id != actor.member_id,
                Member.status == "approved",
                Member.notify_email.is_(True),
            )
        )
        for m in followers:
            if m.email:
                notifier.send(
                    m.email,
                    f'New post in "{topic.title}"',
                    "A member posted in a topic you follow. Log in to the recovery network to read it.",
                )
    return row


def follow(db: Session, actor: Actor, topic_id: int) -> None:
    get_topic(db, topic_id)
    if (
        db.scalar(
            select(Subscription.id).where(
                Subscription.topic_id == topic_id, Subscription.member_id == actor.member_id
            )
        )
        is None
    ):
        db.add(Subscription(topic_id=topic_id, member_id=actor.member_id))
        db.flush()


def hide_post(db: Session, actor: Actor, post_id: int, reason: str) -> Post:
    actor.require(*MODERATORS)
    row = db.get(Post, post_id)
    if row is None:
        raise NotFoundError(f"no post {post_id}")
    if not reason.strip():
        raise InputError("give a reason", code="missing_field")
    row.hidden, row.hidden_reason = True, reason.strip()[:500]
    audit.record(
        db, "post.hide", actor, f"post:{row.id}", {"reason": row.hidden_reason, "topic": row.topic_id}
    )
    return row


def set_locked(db: Session, actor: Actor, topic_id: int, locked: bool) -> Topic:
    actor.require(*MODERATORS)
    topic = get_topic(db, topic_id)
    topic.locked = locked
    audit.record(db, "topic.lock" if locked else "topic.unlock", actor, f"topic:{topic.id}", {})
    return topic
