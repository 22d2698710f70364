"""Control flow for decoding: every real step is among the lines allowed."""

from __future__ import annotations

import pytest

from opencwm.tracer.api import trace_program
from opencwm.world.constrain import ScopeLines

TRICKY = '''def f(xs, limit):
    """A docstring runs no line."""
    total = 0
    seen = {
        'a': 1,
        'b': 2,
    }
    i = 0
    while True:
        i += 1
        if i > limit:
            break
        elif i % 2:
            continue
        else:
            pass
    for x in xs:
        try:
            total += 10 // x
        except ZeroDivisionError as exc:
            total -= 1
        except TypeError:
            continue
        else:
            total += 1
        finally:
            seen['a'] += 1
    with open('/dev/null') as fh:
        fh.read()
    squares = [y * y for y in xs if y]
    pick = sorted(xs, key=lambda v: -v if v else 0)
    def inner(n):
        return n + total
    return inner(len(squares)) + len(pick) + len(seen)
'''


@pytest.mark.parametrize("args", ["[1, 0, 2], 5", "[3, 'x', 0], 2", "[], 0"])
def test_every_real_step_is_allowed(args):
    """Loops with break/continue, try/except/else/finally, with, a multi-line
    literal, comprehensions and lambdas (activations on one line), a nested
    function: each frame that follows a call or line frame of its activation
    names a line `ScopeLines.after` allows for its event."""
    trace = trace_program(TRICKY, "f", args)
    assert trace.status in ("returned", "raised"), trace.reason
    lines = ScopeLines(trace.source)
    checked = 0
    for a, b in zip(trace.frames, trace.frames[1:], strict=False):
        if b.event == "call" or a.event not in ("call", "line") or a.depth != b.depth:
            continue
        allowed = lines.after(a.event, a.source)
        assert allowed is not None and b.source in allowed[b.event], (a.source, b.event, b.source)
        checked += 1
    assert checked >= 15


def test_the_allowed_lines_are_few():
    lines = ScopeLines(TRICKY)
    assert lines.after("call", "def f(xs, limit):")["line"] == {"    total = 0"}
    assert lines.after("line", "    total = 0")["line"] == {
        "    seen = {",
        "        'a': 1,",
        "        'b': 2,",
        "    }",
    }  # a multi-line literal may report any of its lines first
    assert lines.after("line", "            break")["line"] == {"    for x in xs:"}
    assert "    while True:" in lines.after("line", "            pass")["line"]
    handler = lines.after("line", "            total += 10 // x")["line"]
    assert {"        except ZeroDivisionError as exc:", "        except TypeError:"} <= handler
    assert "        return n + total" not in lines.after("line", "    def inner(n):")["line"]
