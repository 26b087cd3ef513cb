"""Law-enforcement export packages: a zip of content, context and custody log, with a manifest of SHA-256
hashes signed with Ed25519, so a recipient holding Haven's published public key can check that nothing
was changed, added or removed.

Layout::

    manifest.json          format, who exported, when, why; items; {path: {sha256, size}} for every file
    manifest.sig           Ed25519 signature of manifest.json's exact bytes (raw 64 bytes)
    public_key.pem         the signing key's public half (check its fingerprint against the published one)
    items/<id>/content     the preserved bytes (the original file name is in context.json)
    items/<id>/context.json  the item's facts and its context records
    items/<id>/custody.json  every audit entry about the item, with its chain position and hash
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from haven.errors import FormatError, IntegrityError
from haven.evidence.models import SigningKey
from haven.evidence.vault import Vault

FORMAT = "haven-evidence-package/1"
_SIGNING_CONTEXT = b"haven-vault-export-signing-key"
_FIXED = {"manifest.json", "manifest.sig", "public_key.pem"}


def fingerprint(public_pem: str | bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what an organisation publishes for recipients."""
    key = serialization.load_pem_public_key(
        public_pem.encode() if isinstance(public_pem, str) else public_pem
    )
    assert isinstance(key, Ed25519PublicKey)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signing_key(vault: Vault) -> tuple[Ed25519PrivateKey, str]:
    """The current export signing key (created, sealed by the master key ring, on first use) and its PEM."""
    with vault.sessions() as s:
        row = s.scalars(
            select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id.desc())
        ).first()
        if row is None:
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            pem = (
                private.public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            )
            row = SigningKey(
                public_key=pem,
                sealed_private_key=vault.ring.seal(raw, context=_SIGNING_CONTEXT),
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.commit()
            vault.audit.record(
                "vault.signing_key_created", "system", "vault", {"fingerprint": fingerprint(pem)}
            )
        raw = vault.ring.open(row.sealed_private_key, context=_SIGNING_CONTEXT)
        return Ed25519PrivateKey.from_private_bytes(raw), row.public_key


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_package(
    vault: Vault, item_ids: list[int], out: Path, *, actor: str, reason: str, recipient: str | None = None
) -> dict[str, Any]:
    """Write the package for ``item_ids`` to ``out`` (refuses to overwrite); returns its manifest.

    Each item's export is recorded in the audit log *before* its custody log is taken, so the package's
    custody log ends with the export itself.
    """
    if not item_ids:
        raise FormatError("an export needs at least one vault item", code="empty_export")
    if out.exists():
        raise FormatError("refusing to overwrite an existing file", path=out, code="exists")
    private, public_pem = signing_key(vault)
    files: dict[str, bytes] = {}
    items = []
    for item_id in item_ids:
        info = vault.info(item_id)
        records = vault.context(item_id, actor=actor)
        content = vault.read(item_id, actor=actor, purpose=f"export: {reason}", event="vault.export")
        custody = [e.to_dict() for e in vault.audit.entries(target=f"vault:{item_id}")]
        base = f"items/{item_id}"
        files[f"{base}/content"] = content
        files[f"{base}/context.json"] = json.dumps(
            {"item": info.to_dict(), "records": records}, indent=2, sort_keys=True, ensure_ascii=False
        ).encode()
        files[f"{base}/custody.json"] = json.dumps(
            custody, indent=2, sort_keys=True, ensure_ascii=False
        ).encode()
        items.append(
            {"id": item_id, "name": info.name, "sha256": info.sha256, "md5": info.md5, "size": info.size}
        )
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "exported_by": actor,
        "reason": reason,
        "recipient": recipient,
        "items": items,
        "signing_key_fingerprint": fingerprint(public_pem),
        "files": {p: {"sha256": _sha(b), "size": len(b)} for p, b in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", manifest_bytes)
        zf.writestr("manifest.sig", private.sign(manifest_bytes))
        zf.writestr("public_key.pem", public_pem)
        for path, data in sorted(files.items()):
            zf.writestr(path, data)
    tmp.replace(out)
    return manifest


@dataclass(frozen=True)
class PackageCheck:
    ok: bool
    fingerprint: str | None
    items: int
    files: int
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_package(path: Path, *, public_key_pem: bytes | None = None) -> PackageCheck:
    """Check a package: the signature over the manifest (with ``public_key_pem`` if given, else the key the
    package carries — then compare ``fingerprint`` with the published one), every file's hash and size,
    and that no file is missing or added."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return PackageCheck(False, None, 0, 0, f"not a readable package: {exc}")
    with zf:
        names = [i.filename for i in zf.infolist()]
        if len(names) != len(set(names)):
            return PackageCheck(False, None, 0, 0, "the archive holds two files with the same name")
        missing = _FIXED - set(names)
        if missing:
            return PackageCheck(False, None, 0, 0, f"missing {', '.join(sorted(missing))}")
        manifest_bytes = zf.read("manifest.json")
        carried = zf.read("public_key.pem")
        pem = public_key_pem or carried
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            return PackageCheck(False, None, 0, 0, "the public key is not a PEM public key")
        if not isinstance(key, Ed25519PublicKey):
            return PackageCheck(False, None, 0, 0, "the public key is not an Ed25519 key")
        fp = fingerprint(pem)
        try:
            key.verify(zf.read("manifest.sig"), manifest_bytes)
        except InvalidSignature:
            return PackageCheck(
                False,
                fp,
                0,
                0,
                "the manifest's signature does not verify: the manifest was "
                "changed, or signed by another key",
            )
        manifest = json.loads(manifest_bytes)
        if manifest.get("format") != FORMAT:
            return PackageCheck(False, fp, 0, 0, f"unknown package format {manifest.get('format')!r}")
        listed: dict[str, dict[str, Any]] = manifest["files"]
        extra = set(names) - _FIXED - set(listed)
        if extra:
            return PackageCheck(False, fp, 0, 0, f"files not in the manifest: {', '.join(sorted(extra))}")
        for name, want in sorted(listed.items()):
            if name not in names:
                return PackageCheck(False, fp, 0, 0, f"{name} is listed in the manifest but missing")
            data = zf.read(name)
            if len(data) != want["size"] or _sha(data) != want["sha256"]:
                return PackageCheck(False, fp, 0, 0, f"{name} does not match its hash in the manifest")
        return PackageCheck(True, fp, len(manifest["items"]), len(listed), None)


def require_valid(path: Path, *, public_key_pem: bytes | None = None) -> PackageCheck:
    """``verify_package`` that raises ``IntegrityError`` on a bad package."""
    check = verify_package(path, public_key_pem=public_key_pem)
    if not check.ok:
        raise IntegrityError(f"{path}: package refused: {check.problem}")
    return check
