"""TOTP (RFC 6238): the RFC's test vectors, the drift window, wrong codes, and replay refused."""

from __future__ import annotations

import pytest
from auth_helpers import PASSWORD, FakeClock, code_at, user_secret

from haven.auth import Auth
from haven.auth.totp import TotpParams, new_secret, secret_to_base32

RFC_SECRET = b"12345678901234567890"
# RFC 6238 Appendix B, the SHA-1 column (8 digits).
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
               (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("t", "code"), RFC_VECTORS)
def test_rfc6238_vectors(t: int, code: str) -> None:
    p = TotpParams(digits=8)
    assert p.code(RFC_SECRET, t) == code
    assert p.match_step(RFC_SECRET, code, t) == t // 30


def test_window_and_wrong_codes() -> None:
    p, s, t = TotpParams(), new_secret(), 1_700_000_015.0
    step = int(t) // 30
    assert p.match_step(s, p.code(s, t), t) == step
    assert p.match_step(s, p.code(s, t - 30), t) == step - 1  # one step of drift either way
    assert p.match_step(s, p.code(s, t + 30), t) == step + 1
    assert p.match_step(s, p.code(s, t - 60), t) is None
    assert p.match_step(s, p.code(s, t + 60), t) is None
    good = p.code(s, t)
    assert p.match_step(s, good[:3] + " " + good[3:], t) == step  # spaces as apps show them
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for bad in (wrong, "", "12345", "1234567", "abcdef", good + "0"):
        assert p.match_step(s, bad, t) is None


def test_provisioning_uri_and_secret_text() -> None:
    s = new_secret()
    assert len(s) == 20 and len(secret_to_base32(s)) == 32
    uri = TotpParams().provisioning_uri(s, "alice (staff)", "Haven")
    assert uri.startswith("otpauth://totp/Haven:alice%20%28staff%29?")
    assert f"secret={secret_to_base32(s)}" in uri


def test_stored_code_valid_wrong_and_replayed(auth: Auth, clock: FakeClock) -> None:
    user, _ = auth.add_user("staff", "lena", ["lead"], password=PASSWORD)
    secret = new_secret()
    auth.users.set_totp(user.id, secret, step=0)
    assert user_secret(auth, user.id) == secret
    code = code_at(secret, clock.now)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert not auth.users.verify_totp(user.id, wrong)
    assert auth.users.verify_totp(user.id, code)
    assert not auth.users.verify_totp(user.id, code), "the same code twice is a replay"
    clock.advance(20)  # still the same time step
    assert not auth.users.verify_totp(user.id, code)
    clock.advance(30)  # the next step: the used code is still inside the drift window, and still refused
    assert TotpParams().match_step(secret, code, clock.now.timestamp()) is not None
    assert not auth.users.verify_totp(user.id, code)
    assert auth.users.verify_totp(user.id, code_at(secret, clock.now))  # the new step's code works, once
    assert not auth.users.verify_totp(user.id, code_at(secret, clock.now))


def test_secret_is_sealed_at_rest(auth: Auth) -> None:
    from haven.auth.models import UserRow

    user, _ = auth.add_user("staff", "ines", ["admin"], password=PASSWORD)
    secret = new_secret()
    auth.users.set_totp(user.id, secret, step=0)
    with auth.engine.connect() as conn:
        blob = bytes(conn.execute(UserRow.__table__.select()).one().totp_secret)
    assert secret not in blob and secret_to_base32(secret).encode() not in blob
    assert blob.startswith(b"HVS1")  # a haven.secrets seal, bound to this user's id


def test_optional_totp_set_up_while_signed_in(auth: Auth, clock) -> None:  # type: ignore[no-untyped-def]
    from haven.auth.totp import TotpParams
    from haven.errors import AuthError, ConflictError

    auth.add_user("portal", "opt-in", ["member"], password=PASSWORD)
    token = auth.login.start("portal", "opt-in", PASSWORD).token
    enrolment = auth.start_totp(token, "portal")
    assert auth.start_totp(token, "portal").secret == enrolment.secret  # same pending secret on reload
    import base64

    secret = base64.b32decode(enrolment.secret + "=" * (-len(enrolment.secret) % 8))
    with pytest.raises(AuthError):
        right = TotpParams().code(secret, clock().timestamp())
        auth.confirm_totp(token, "portal", "000000" if right != "000000" else "111111")
    user = auth.confirm_totp(token, "portal", TotpParams().code(secret, clock().timestamp()))
    assert user.totp_enrolled
    with pytest.raises(ConflictError):
        auth.start_totp(token, "portal")
    assert auth.login.start("portal", "opt-in", PASSWORD).step == "totp"  # every sign-in now asks for a code
