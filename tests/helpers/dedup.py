"""Providers that de-duplicate, as real ones do, and can crash the sender at the worst moment.

`IdempotentProvider` is an HTTP provider that honours `Idempotency-Key` the way Stripe does: the
first request with a key is delivered and its answer stored; a repeat with the same key and body
gets the stored answer (`Idempotent-Replayed: true`) and delivers nothing; a repeat with another
body is refused (422). `DedupInbox` is an SMTP inbox that drops a message whose `Message-ID` it
has already delivered.

Both take a `crash` callable, run once, after the first delivery was accepted and before the
sender could have finished: the HTTP provider runs it once the 2xx status line and headers are
out but before the body (the sender's `httpx.post` still waits for it); the inbox runs it when the
sender, having had its `250` for the message, sends `QUIT` and waits for the answer. So the crash
always falls inside the window, with no sleep to race.
"""

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as MailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import Envelope

from tests.helpers.http import serve


@dataclass
class IdempotentProvider:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request, as received
    delivered: list[dict[str, Any]] = field(default_factory=list)  # what reached a device
    crash: Callable[[], None] | None = None
    answers: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # key: (body, answer)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the crashed sender hung up
            super().handle_error(request, client_address)


@contextmanager
def idempotent_provider() -> Iterator[IdempotentProvider]:
    state = IdempotentProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key", "")
            with state.lock:  # a repeat waits for the first to be stored
                replayed = key in state.answers
                state.requests.append({"key": key, "json": json.loads(body), "replayed": replayed})
                if replayed:
                    first_body, answer = state.answers[key]
                    if first_body != body:
                        self._answer(422, b'{"error": "idempotency key reused with new params"}')
                    else:
                        self._answer(200, answer, replayed=True)
                    return
                answer = json.dumps({"id": f"msg_{len(state.delivered) + 1}"}).encode()
                state.delivered.append(json.loads(body))
                state.answers[key] = (body, answer)
                crash, state.crash = state.crash, None
                self._answer(200, answer, crash=crash)

        def _answer(
            self, status: int, body: bytes, replayed: bool = False,
            crash: Callable[[], None] | None = None,
        ) -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()  # status line and headers are on the wire now
            if crash:
                crash()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve(Handler, "/v1/push", _QuietServer) as url:
        state.url = url
        yield state


class DedupInbox:
    """An aiosmtpd handler: every message is received, one per Message-ID is delivered."""

    def __init__(self) -> None:
        self.received: list[str] = []  # Message-IDs, one per DATA
        self.delivered: list[MailMessage] = []
        self.crash: Callable[[], None] | None = None
        self._crash_session: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"")
        message_id = str(message["Message-ID"])
        self.received.append(message_id)
        if any(m["Message-ID"] == message_id for m in self.delivered):
            return "250 OK: duplicate dropped"
        self.delivered.append(message)
        if self.crash:
            self._crash_session = session
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Envelope) -> str:
        if session is self._crash_session and self.crash:
            crash, self.crash = self.crash, None
            crash()
        return "221 Bye"
