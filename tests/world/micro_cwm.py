"""What the world tests share: the program the micro model memorised
(see `conftest.micro_model`) and a free port. A module of its own, since
`conftest` is a name every test folder uses."""

import socket

SRC = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
ENTRY, MEMORISED = "total", "3"


def free_port() -> int:
    """A localhost port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
