"""A real HTTP provider for the tests: a loopback server that records requests and answers
with the statuses it is told to."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Provider:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200


@contextmanager
def provider() -> Iterator[Provider]:
    state = Provider(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "raw": body,
                 "json": json.loads(body), "at": time.monotonic()}
            )  # fmt: skip
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    with serve(Handler, "/send") as url:
        state.url = url
        yield state


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler],
    path: str,
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields the URL of `path` on it."""
    server = server_class(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn serving an ASGI app on a free port, in a thread of this process: its
    "127.0.0.1:port", until the block ends."""
    import uvicorn

    from tests.helpers.ports import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="off")  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)
