"""E-mail notifications over SMTP: decisions on an application, new posts in a followed topic, a case study
approved or returned. Sending never blocks or breaks the action that caused it: a failure is logged."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger("haven.portal.notify")


class Notifier(Protocol):
    def send(self, to: str, subject: str, body: str) -> bool: ...


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes. ``host`` empty means e-mail is off (messages are only logged)."""

    host: str = ""
    port: int = 25
    sender: str = "recovery-network@localhost"
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0


class SmtpNotifier:
    """Sends one plain-text message per call; returns whether the server accepted it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> bool:
        s = self.settings
        if not s.host:
            log.info("e-mail is off; not sent to %s: %s", to, subject)
            return False
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body + "\n\n-- \nThe recovery network (Haven). Change notifications under Account.\n")
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("e-mail to %s failed: %s", to, exc)
            return False
        return True


class MemoryNotifier:
    """Keeps messages in a list (tests and the demo without a mail server)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> bool:
        self.sent.append((to, subject, body))
        return True
