"""The review console's web pages (``/review``), on ``haven.auth`` (realm ``staff``)."""

from haven.review.web.app import mount_review

__all__ = ["mount_review"]
