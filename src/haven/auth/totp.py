"""TOTP two-factor codes (RFC 6238) on ``cryptography``'s implementation, with the time step each code
belongs to, so the caller can refuse a code whose step was already used (replay)."""

from __future__ import annotations

import base64
import hmac
import os
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def secret_to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it when typed in (base32, no padding)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class TotpParams:
    digits: int = 6
    step: int = 30
    drift: int = 1  # accepted steps either side of now

    def _totp(self, secret: bytes) -> TOTP:
        return TOTP(secret, self.digits, SHA1(), self.step)

    def code(self, secret: bytes, at: float | None = None) -> str:
        """The code for time ``at`` (now by default)."""
        return self._totp(secret).generate(int(time.time() if at is None else at)).decode("ascii")

    def match_step(self, secret: bytes, code: str, at: float | None = None) -> int | None:
        """The time step whose code ``code`` is (within the drift window around ``at``), else None."""
        code = "".join(code.split())
        if len(code) != self.digits or not code.isdigit():
            return None
        now = time.time() if at is None else at
        totp = self._totp(secret)
        found = None
        for d in range(-self.drift, self.drift + 1):
            t = int(now) + d * self.step
            # compare every candidate (no early exit) so timing does not tell which step matched
            if hmac.compare_digest(totp.generate(t), code.encode("ascii")):
                found = t // self.step
        return found

    def provisioning_uri(self, secret: bytes, account: str, issuer: str) -> str:
        """The ``otpauth://totp/…`` URI an authenticator app reads from a QR code."""
        return self._totp(secret).get_provisioning_uri(account, issuer)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (a data: URL for an <img>), made on the server by segno."""
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))
