"""Programs the halting tests share. A module of its own, since `conftest`
is a name every test folder uses."""

from __future__ import annotations

from opencwm.trace.frame import Trace
from opencwm.tracer.api import TraceConfig, trace_program

CYCLE = """\
def f(n):
    i = 0
    while i != n:
        i = (i + 3) % 12
    return i
"""  # n = 6 halts; n = 5 cycles 0, 3, 6, 9

GROWS = """\
def f(n):
    i = 0
    while i != n:
        i += 3
    return i
"""  # n = 10: i climbs for ever, never repeating

RECURSES = """\
def ping(n):
    return pong(n)


def pong(n):
    return ping(n)
"""

FOR_SAME_VALUES = """\
def f(xs):
    t = 0
    for x in xs:
        t = 0
    return t
"""  # the visible state repeats, yet the hidden iterator moves on: it halts


def run(source: str, entry: str, input: str, frames: int = 300, sandbox=None) -> Trace:
    return trace_program(
        source, entry, input, config=TraceConfig(max_frames=frames, timeout_s=20), sandbox=sandbox
    )
