"""Which opens and clicks a machine made: by agent, by address and by timing; a person's
mail client, even behind Gmail's image proxy, is a person."""

import ipaddress

import pytest

from journeys.channels.machine import LINK_SCANNER, PRIVACY_PROXY, TOO_SOON, machine_reason

SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML,"
          " like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")  # fmt: skip
GMAIL = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com"
         " GoogleImageProxy)")  # fmt: skip
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"


@pytest.mark.parametrize(
    ("agent", "address", "seconds", "reason"),
    [
        (SAFARI, "198.51.100.7", 3600, None),
        (GMAIL, "66.249.84.1", 120, None),  # Gmail fetches when the person opens
        (OUTLOOK, "198.51.100.7", 60, None),
        ("Mozilla/5.0", "198.51.100.7", 3600, PRIVACY_PROXY),  # Apple's bare agent
        (SAFARI, "17.58.100.3", 3600, PRIVACY_PROXY),  # from Apple's network
        ("python-requests/2.32", "198.51.100.7", 3600, LINK_SCANNER),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0", "198.51.100.7", 900, LINK_SCANNER),
        ("Barracuda Sentinel (EE)", "198.51.100.7", 900, LINK_SCANNER),
        ("", "198.51.100.7", 900, LINK_SCANNER),  # every mail client names itself
        (SAFARI, "40.107.22.9", 3600, LINK_SCANNER),  # Exchange Online Protection
        (SAFARI, "2001:db8::5", 3, TOO_SOON),  # no one reads a mail in three seconds
        (SAFARI, None, 11, None),
    ],
)
def test_machine_reason(
    agent: str, address: str | None, seconds: float, reason: str | None
) -> None:
    assert machine_reason(user_agent=agent, address=address, seconds_after_send=seconds) == reason


def test_an_operators_range_marks_its_scanner() -> None:
    gateway = [ipaddress.ip_network("203.0.113.0/24")]
    seen = {"user_agent": SAFARI, "address": "203.0.113.9", "seconds_after_send": 600}
    assert machine_reason(**seen) is None  # type: ignore[arg-type]
    assert machine_reason(**seen, extra_ranges=gateway) == LINK_SCANNER  # type: ignore[arg-type]
