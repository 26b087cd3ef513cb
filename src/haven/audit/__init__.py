"""The tamper-evident audit log: append-only, hash-chained, verifiable, anchored outside the database.

from haven.audit import AuditLog
audit = AuditLog(engine)
audit.record("vault.reveal", actor="user:ana", target="vault:12", detail={"reason": "review"})
result = audit.verify(read_anchors(path))     # result.ok, result.problem.kind / .seq
"""

from haven.audit.anchors import Anchor, append_anchor, read_anchors
from haven.audit.chain import Problem
from haven.audit.hooks import security_events
from haven.audit.log import AuditLog, Entry, VerifyResult

__all__ = [
    "Anchor",
    "AuditLog",
    "Entry",
    "Problem",
    "VerifyResult",
    "append_anchor",
    "read_anchors",
    "security_events",
]
