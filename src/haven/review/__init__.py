"""The review console's domain (no web imports): queues and their access, ordered routing rules, items
handed out under leases, decisions and their actions, reviewer wellness (derived previews, reveals with a
reason, exposure counters, a daily cap, break prompts) and the dashboard's numbers. Its web pages are
``haven.review.web``.

    service = ReviewService(engine, audit, reviews, vault=runtime.vault, reports=runtime.report_service,
                            banks=lambda: store)
    got = service.next_item(actor)            # Next(item) or Next(None, "cap" | "break" | "empty")
    service.decide(actor, got.item.id, "confirm", classification="A1")
"""

from haven.review.config import CLASSIFICATIONS, ReviewConfig
from haven.review.routing import Facts
from haven.review.service import DECISIONS, ItemView, Next, ReviewService

__all__ = ["CLASSIFICATIONS", "DECISIONS", "Facts", "ItemView", "Next", "ReviewConfig", "ReviewService"]
