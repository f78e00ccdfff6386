"""Free loopback ports for the servers the tests start.

Ports come from below the kernel's ephemeral range: a port taken from that range (bind to 0) can
be handed, between the test's choice and the server's bind, to an outgoing connection or to
another server's own `:0` bind (the Temporal dev server picks several), and the server then fails
to start. Each port is handed out once per test session.
"""

import random
import socket
from pathlib import Path

_given: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    low = _ephemeral_low()
    if low > 12000:
        for _ in range(200):
            port = random.randrange(10000, low)
            if port not in _given and _bindable(port):
                _given.add(port)
                return port
    with socket.socket() as s:  # no room below the ephemeral range: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
