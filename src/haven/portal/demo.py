"""A demo recovery network for ``make run`` and screenshots: a moderator account (one-time password), and
invented content: library resources, a training-needs survey with an open round, a published assessment
instrument, a discussion topic. Every person and text in it is made up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from haven.auth import Auth
from haven.portal import assessments, discussions, library, members, surveys
from haven.portal.actors import Actor
from haven.portal.models import Member, Survey
from haven.portal.store import PortalStore

DEMO_MODERATOR = "moderator@example.org"

INSTRUMENT = {
    "scale": {"min": 0, "max": 3, "labels": {"en": ["not at all", "a little", "quite a lot", "very much"]}},
    "domains": [
        {
            "key": "safety",
            "title": {"en": "Safety", "fr": "Sécurité"},
            "items": [
                {
                    "key": "safe_home",
                    "text": {"en": "Feels unsafe at home", "fr": "Ne se sent pas en sécurité chez soi"},
                },
                {
                    "key": "safe_online",
                    "text": {
                        "en": "Fears the images will resurface",
                        "fr": "Craint que les images ne réapparaissent",
                    },
                },
            ],
        },
        {
            "key": "wellbeing",
            "title": {"en": "Emotional wellbeing", "fr": "Bien-être émotionnel"},
            "items": [
                {
                    "key": "shame",
                    "text": {"en": "Shame or self-blame", "fr": "Honte ou auto-culpabilisation"},
                },
                {"key": "sleep", "text": {"en": "Sleep problems", "fr": "Troubles du sommeil"}},
            ],
        },
        {
            "key": "connection",
            "title": {"en": "Connection", "fr": "Liens"},
            "items": [
                {
                    "key": "trusted_adult",
                    "text": {"en": "Has a trusted adult to talk to", "fr": "A un adulte de confiance"},
                    "reverse": True,
                },
                {
                    "key": "school",
                    "text": {"en": "Avoids school or friends", "fr": "Évite l'école ou les amis"},
                },
            ],
        },
    ],
    "thresholds": [
        {"domain": "safety", "at_least": 4, "label": "safety: high need"},
        {"domain": "total", "at_least": 12, "label": "overall: high need"},
    ],
}

TRAINING_NEEDS: list[dict[str, Any]] = [
    {
        "key": "trained_risk",
        "type": "single",
        "text": {
            "en": "Have you had training to assess online risk?",
            "fr": "Avez-vous été formé(e) à évaluer les risques en ligne ?",
        },
        "options": [
            {"key": "yes", "text": {"en": "Yes", "fr": "Oui"}},
            {"key": "no", "text": {"en": "No", "fr": "Non"}},
        ],
    },
    {
        "key": "want",
        "type": "multi",
        "text": {
            "en": "Which training would help you most?",
            "fr": "Quelles formations vous aideraient le plus ?",
        },
        "options": [
            {"key": "risk", "text": {"en": "Assessing online risk", "fr": "Évaluer les risques en ligne"}},
            {"key": "recovery", "text": {"en": "Recovery support", "fr": "Accompagner le rétablissement"}},
            {
                "key": "interview",
                "text": {
                    "en": "Talking with children about images",
                    "fr": "Parler des images avec les enfants",
                },
            },
        ],
    },
    {
        "key": "confidence",
        "type": "scale",
        "min": 1,
        "max": 5,
        "text": {
            "en": "How confident are you supporting a child after online abuse? (1-5)",
            "fr": "Quelle est votre aisance pour accompagner un enfant après un abus en ligne ? (1-5)",
        },
    },
    {"key": "notes", "type": "text", "text": {"en": "Anything else?", "fr": "Autre chose ?"}},
]

RESOURCES = [
    (
        "Supporting a child after online sexual abuse: first steps",
        "guide",
        "all",
        ["recovery", "first response"],
        "## Believe and reassure\n\nTell the child it is not their fault. Explain what happens next, "
        "in words they "
        "understand.\n\n## Agree one lead professional\n\nRepeated questioning harms recovery; share one "
        "chronology across agencies.",
    ),
    (
        "Talking with parents when images were shared",
        "guideline",
        "parents",
        ["parents", "family"],
        "Parents often blame themselves. Offer them support of their own, separate from the child's "
        "sessions, and "
        "explain how images are removed and hashed so that they are blocked when re-uploaded.",
    ),
    (
        "What helps recovery: a research summary",
        "research_summary",
        "all",
        ["research", "recovery"],
        "Studies of children harmed online point to the same protective factors: being believed, "
        "a trusted adult, "
        "predictable support after the criminal case closes, and information about the images.",
    ),
]


@dataclass
class DemoAccount:
    username: str
    one_time_password: str | None  # None when the account existed already


def seed(store: PortalStore, auth: Auth) -> DemoAccount:
    """Create the demo moderator and content once; later calls change nothing."""
    existing = auth.users.find("portal", DEMO_MODERATOR)
    once = None
    if existing is None:
        user, once = auth.add_user("portal", DEMO_MODERATOR, ["moderator"], actor="portal demo")
        user_id = user.id
    else:
        user_id = existing.id
    with store.begin() as db:
        mod = db.scalar(select(Member).where(Member.user_id == user_id))
        if mod is None:
            mod = members.apply(
                db,
                members.Application(
                    name="Demo Moderator",
                    email=DEMO_MODERATOR,
                    organisation="Haven demo",
                    profession="ngo",
                    country="GB",
                    languages=("en", "fr"),
                    referee_name="Demo Referee",
                    referee_email="referee@example.org",
                    statement="The demo moderator of a local recovery network.",
                ),
                user_id=user_id,
            )
            mod.status = "approved"
            db.flush()
        actor = Actor(member_id=mod.id, roles=("moderator",))
        if db.scalar(select(Survey.id).where(Survey.key == "training_needs")) is None:
            _content(db, actor)
    return DemoAccount(DEMO_MODERATOR, once)


def _content(db: Any, actor: Actor) -> None:
    for title, kind, audience, tags, body in RESOURCES:
        library.create(
            db,
            actor,
            title=title,
            kind=kind,
            country="XX",
            language="en",
            audience=audience,
            tags=tags,
            markdown=body,
        )
    survey = surveys.create(
        db,
        actor,
        key="training_needs",
        kind="training_needs",
        title={"en": "Training needs of the network", "fr": "Besoins de formation du réseau"},
        questions=TRAINING_NEEDS,
    )
    surveys.open_round(db, actor, survey.id, "first round")
    inst = assessments.create(db, actor, "recovery_needs", "Recovery needs (demo instrument)", INSTRUMENT)
    assessments.publish(db, actor, inst.id)
    discussions.create_topic(
        db,
        actor,
        "Supporting siblings after a disclosure",
        "How do your teams involve brothers and sisters? What has worked?",
    )
