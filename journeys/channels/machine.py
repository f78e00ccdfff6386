"""Which email opens and clicks a machine made rather than the person: Apple Mail Privacy
Protection fetches every image of a message when it arrives, and mail security gateways
follow every link before the person sees it. Counted as opens and clicks, they make every
Apple Mail user "engaged" and every scanned link "clicked".

Three signs, each enough: the user agent (Apple's proxy sends a bare `Mozilla/5.0`; scanners,
link previews and HTTP libraries name themselves), the address (Apple's 17.0.0.0/8, Microsoft
Exchange Online Protection's ranges, and whatever the operator adds), and the timing (within
TOO_SOON_SECONDS of the message being composed, before a person could have read it). Such
events are still recorded, marked `properties.machine` with the reason, so nothing is lost
and figures can count them apart.
"""

import ipaddress
import re
from collections.abc import Iterable

PRIVACY_PROXY = "privacy_proxy"
LINK_SCANNER = "link_scanner"
TOO_SOON = "too_soon"
TOO_SOON_SECONDS = 10.0

# Apple's proxy: the bare agent, from Apple's own network (published as 17.0.0.0/8)
_APPLE_AGENT = "Mozilla/5.0"
_APPLE = (ipaddress.ip_network("17.0.0.0/8"),)
# Exchange Online Protection, which also runs Safe Links (Microsoft 365 URLs and IP ranges)
_SCANNER_RANGES = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17")
)
_SCANNER_AGENTS = re.compile(
    r"bot\b|crawl|spider|scan|headless|preview|python-|curl/|wget/|go-http-client|okhttp|"
    r"java/|libwww|httpclient|barracuda|mimecast|proofpoint|urldefense|safelinks|"
    r"forcepoint|fireeye|symantec|trendmicro|facebookexternalhit|slack",
    re.IGNORECASE,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def machine_reason(
    *, user_agent: str, address: str | None, seconds_after_send: float,
    extra_ranges: Iterable[Network] = (),
) -> str | None:  # fmt: skip
    """Why this open or click looks made by a machine, or None if it looks like a person's."""
    ip = _address(address)
    agent = user_agent.strip()
    if ip is not None and any(ip in net for net in _APPLE):
        return PRIVACY_PROXY
    if agent == _APPLE_AGENT:
        return PRIVACY_PROXY
    if not agent or _SCANNER_AGENTS.search(agent):
        return LINK_SCANNER
    if ip is not None and any(ip in net for net in (*_SCANNER_RANGES, *extra_ranges)):
        return LINK_SCANNER
    if seconds_after_send < TOO_SOON_SECONDS:
        return TOO_SOON
    return None


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:  # a test client's "testclient", a unix socket
        return None
