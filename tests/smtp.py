"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for delivery tests."""

from __future__ import annotations

import email
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# The server's own account of every command (INFO) says nothing a test needs, and its thread
# goes on writing it between tests, outside their capture.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope, the parsed content and the bytes as received."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    content: bytes = b""


class MailboxHandler:
    """Keep every accepted message; answer listed recipients with the reply the test chose."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: dict[str, str] = {}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = cast(bytes, envelope.content)
        message = cast(EmailMessage, email.message_from_bytes(content, policy=policy.default))
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, content)
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """A controller that may listen on port 0 and learns the port the system chose."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SMTPServer:
    """An SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.handler = MailboxHandler()
        self.port = 0
        self._controller: _Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> None:
        """Listen (on the port of the previous start, if any)."""
        controller = _Controller(
            self.handler, hostname=self.host, port=self.port, server_hostname="smtp.test"
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: connections are refused until start() is called again."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reply_to(self, address: str, reply: str) -> None:
        """Answer RCPT TO for this address with the given reply, e.g. "550 5.1.1 No such user"."""
        self.handler.replies[address] = reply

    def settings(self) -> dict[str, Any]:
        """The MAIL_* settings that deliver to this server."""
        return {
            "MAIL_SMTP_HOST": self.host,
            "MAIL_SMTP_PORT": self.port,
            "MAIL_SMTP_TLS": "none",
            "MAIL_SMTP_USER": "",
            "MAIL_SMTP_PASSWORD": "",
            "MAIL_SMTP_TIMEOUT": 5,
        }


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A loopback SMTP server for the test, stopped afterwards."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()
