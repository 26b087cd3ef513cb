"""The evidence vault: content and context encrypted at rest, REPORT Act retention, chain of custody,
signed law-enforcement export packages.

    vault = Vault(engine, KeyRing.load(settings), LocalBlobStore(vs.vault_dir), AuditLog(engine))
    item = vault.put(data, name="a.jpg", media_type="image/jpeg", context={...}, actor="rule:3")
    vault.hold(item.id, reason="subpoena 24-117", actor="user:lee")
    export_package(vault, [item.id], Path("case.zip"), actor="user:lee", reason="LE request 117")
"""

from haven.evidence.package import PackageCheck, export_package, fingerprint, require_valid, verify_package
from haven.evidence.settings import VaultSettings
from haven.evidence.storage import BlobStore, LocalBlobStore
from haven.evidence.vault import ItemInfo, Vault

__all__ = [
    "BlobStore",
    "ItemInfo",
    "LocalBlobStore",
    "PackageCheck",
    "Vault",
    "VaultSettings",
    "export_package",
    "fingerprint",
    "require_valid",
    "verify_package",
]
