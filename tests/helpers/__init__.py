"""What the tests share: servers to talk to, data to load, events to send.

Test modules import from here (or get fixtures from a `conftest.py`), never from another test
module; tests/test_layout.py checks it.
"""
