"""A real SMTP server for the tests: aiosmtpd on a free loopback port, collecting messages."""

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message as MailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from journeys.config.settings import Settings
from tests.helpers.ports import free_port


class Inbox:
    def __init__(self, refuse: bool = False) -> None:
        self.messages: list[MailMessage] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 Message accepted"


@contextmanager
def serve(box: Inbox) -> Iterator[tuple[Inbox, int]]:
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def settings_for(sqlite_url: str, port: int) -> Settings:
    return Settings(database_url=sqlite_url, smtp_host="127.0.0.1", smtp_port=port, quiet_hours="",
                    signing_key="sign-me", public_url="http://shop.test",
                    email_from="Shop <news@shop.test>")  # fmt: skip
