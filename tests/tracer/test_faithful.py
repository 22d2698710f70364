"""The tracer is faithful: its frames are what `sys.settrace` sees.

An independent recorder (written here, in-process, no sandbox) records each
event of the traced source with its line, function, depth, locals before
the line (`repr` of each value) and the returned or raised value. The
sandboxed tracer must produce exactly the same sequence.

The recorder follows the tracer's documented conventions only where the
format demands it: names starting with '.' are hidden, reprs are capped at
`repr_cap` chars + '<...>', a decorated function's call frame sits at its
`def` line, and a CPython 'return' event that is an exception propagating
out (here: one that directly follows an 'exception' event of the same
frame) gives no frame. Programs use only plain values (no object
addresses, no sets of strings) so that `repr` in this process and in the
sandbox agree.
"""

from __future__ import annotations

import builtins
import sys

import pytest

from opencwm.trace.source import source_lines
from opencwm.trace.values import DEFAULT_CAP
from opencwm.tracer.api import TraceConfig, trace_program

PROGRAM = "<program>"


class SettraceRecorder:
    """(event, line, func, depth, locals, arg) for each event of `PROGRAM` code."""

    def __init__(self, source: str, cap: int = DEFAULT_CAP) -> None:
        self.lines = source_lines(source)
        self.cap = cap
        self.frames: list[tuple] = []
        self.depth = -1
        self.done = False
        self.last_event: dict[object, str] = {}

    def repr(self, value: object) -> str:
        text = repr(value)
        return text if len(text) <= self.cap else text[: self.cap] + "<...>"

    def locals(self, frame) -> dict[str, str]:
        return {k: self.repr(v) for k, v in frame.f_locals.items() if not k.startswith(".")}

    def add(self, frame, event: str, line: int, locals_: dict, arg: str | None) -> None:
        self.frames.append((event, line, frame.f_code.co_name, self.depth, locals_, arg))
        self.last_event[frame] = event

    def call_line(self, frame) -> int:
        line = frame.f_lineno
        while self.lines[line - 1].lstrip().startswith("@"):
            line += 1
        return line

    def global_trace(self, frame, event, arg):
        if frame.f_code.co_filename != PROGRAM or self.done:
            return None
        self.depth += 1
        self.add(frame, "call", self.call_line(frame), self.locals(frame), None)
        return self.local_trace

    def local_trace(self, frame, event, arg):
        if event == "line":
            self.add(frame, "line", frame.f_lineno, self.locals(frame), None)
        elif event == "exception":
            self.add(frame, "exception", frame.f_lineno, {}, self.repr(arg[1]))
        elif event == "return":
            propagating = self.last_event.get(frame) == "exception"
            if not propagating:
                self.add(frame, "return", frame.f_lineno, {}, self.repr(arg))
            del self.last_event[frame]  # a generator's frame comes back with a new call
            self.depth -= 1
            self.done = self.depth < 0
        return self.local_trace


def record(source: str, entry: str, input: str) -> tuple[str, list[tuple]]:
    """Run `entry(input)` from `source` here under the recorder: (status, frames)."""
    ns = {"__name__": "__program__", "__builtins__": builtins}
    exec(compile(source, PROGRAM, "exec", dont_inherit=True), ns)  # no __future__ of ours
    args, kwargs = eval(f"(lambda *a, **k: (a, k))({input})", ns)
    recorder = SettraceRecorder(source)
    status = "returned"
    sys.settrace(recorder.global_trace)
    try:
        ns[entry](*args, **kwargs)
    except Exception:
        status = "raised"
    finally:
        sys.settrace(None)
    return status, recorder.frames


# (name, source, entry, input)
PROGRAMS = [
    (
        "for_loop",
        "def g(n):\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        if i % 2:\n"
        "            total += i\n"
        "        else:\n"
        "            total -= 1\n"
        "    return total\n",
        "g",
        "5",
    ),
    (
        "nested_calls",
        "def square(x):\n"
        "    return x * x\n"
        "\n"
        "def add_squares(a, b):\n"
        "    sa = square(a)\n"
        "    sb = square(b)\n"
        "    return sa + sb\n"
        "\n"
        "def g(a, b=2):\n"
        "    s = add_squares(a, b)\n"
        "    return s * 2\n",
        "g",
        "3, b=4",
    ),
    (
        "recursion",
        "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n",
        "fact",
        "6",
    ),
    (
        "exception_caught",
        "def parse(s):\n"
        "    return int(s)\n"
        "\n"
        "def g(items):\n"
        "    out = []\n"
        "    for s in items:\n"
        "        try:\n"
        "            out.append(parse(s))\n"
        "        except ValueError as e:\n"
        "            msg = str(e)\n"
        "            out.append(len(msg))\n"
        "    return out\n",
        "g",
        "['1', 'x', '3']",
    ),
    (
        "exception_uncaught",
        "def check(x):\n"
        "    if x < 0:\n"
        "        raise ValueError(f'negative: {x}')\n"
        "    return x\n"
        "\n"
        "def g(xs):\n"
        "    total = 0\n"
        "    for x in xs:\n"
        "        total += check(x)\n"
        "    return total\n",
        "g",
        "[1, 2, -3, 4]",
    ),
    (
        "try_except_else_finally",
        "def g(x):\n"
        "    log = []\n"
        "    try:\n"
        "        y = 10 // x\n"
        "    except ZeroDivisionError:\n"
        "        log.append('except')\n"
        "        y = None\n"
        "    else:\n"
        "        log.append('else')\n"
        "    finally:\n"
        "        log.append('finally')\n"
        "    return y, log\n",
        "g",
        "0",
    ),
    (
        "generator",
        "def countdown(n):\n"
        "    while n > 0:\n"
        "        yield n\n"
        "        n -= 1\n"
        "    return 'done'\n"
        "\n"
        "def g(n):\n"
        "    acc = []\n"
        "    for v in countdown(n):\n"
        "        acc.append(v * 10)\n"
        "    return acc\n",
        "g",
        "3",
    ),
    (
        "closures",
        "def g(words, k):\n"
        "    scale = k * 2\n"
        "    ranked = sorted(words, key=lambda w: (len(w) * scale, w))\n"
        "    lengths = list(map(lambda w: len(w) + k, ranked))\n"
        "    return ranked, lengths\n",
        "g",
        "['pear', 'fig', 'apple'], 1",
    ),
    (
        "class_and_methods",
        "class Account:\n"
        "    rate = 2\n"
        "\n"
        "    def __init__(self, owner):\n"
        "        self.owner = owner\n"
        "        self.balance = 0\n"
        "\n"
        "    def __repr__(self):\n"
        "        return f'Account({self.__dict__})'\n"
        "\n"
        "    @staticmethod\n"
        "    def valid(amount):\n"
        "        return amount > 0\n"
        "\n"
        "    def deposit(self, amount):\n"
        "        if not self.valid(amount):\n"
        "            return False\n"
        "        self.balance += amount * self.rate\n"
        "        return True\n"
        "\n"
        "def g(name, amounts):\n"
        "    acct = Account(name)\n"
        "    ok = [acct.deposit(a) for a in amounts]\n"
        "    return acct, ok\n",
        "g",
        "'ann', [5, -1, 7]",
    ),
    (
        "comprehensions",
        "def g(n):\n"
        "    squares = [i * i for i in range(n)]\n"
        "    evens = {i: s for i, s in enumerate(squares) if s % 2 == 0}\n"
        "    total = sum(s for s in squares if s > 2)\n"
        "    mods = {s % 3 for s in squares}\n"
        "    return squares, evens, total, mods\n",
        "g",
        "4",
    ),
    (
        "unicode",
        "def g(text):\n"
        "    words = text.split()\n"
        "    shout = [w.upper() for w in words]\n"
        "    joined = '·'.join(shout)\n"
        "    return joined, len(joined)\n",
        "g",
        "'héllo wörld ñandú 日本語 ✓ 🐍 e\\u0301'",
    ),
    (
        "big_ints",
        "def g(n):\n"
        "    big = 7 ** n\n"
        "    neg = -big * 3\n"
        "    digits = len(str(big))\n"
        "    return big // 11, neg % 1000, digits\n",
        "g",
        "200",
    ),
    (
        "floats",
        "def g(x):\n"
        "    a = x / 3\n"
        "    b = 0.1 + 0.2\n"
        "    c = a * 1e300 * 1e10\n"
        "    d = -0.0\n"
        "    e = c - c\n"
        "    return round(a, 4), b, c, d, e, 1e-7, 2.5e16\n",
        "g",
        "1.0",
    ),
    (
        "del_and_global",
        "counter = 0\n"
        "\n"
        "def bump(k):\n"
        "    global counter\n"
        "    counter += k\n"
        "    return counter\n"
        "\n"
        "def g(xs):\n"
        "    tmp = list(xs)\n"
        "    first = tmp[0]\n"
        "    del tmp[0]\n"
        "    del first\n"
        "    for x in tmp:\n"
        "        bump(x)\n"
        "    return counter\n",
        "g",
        "(1, 2, 3)",
    ),
    (
        "early_return",
        "def find(xs, target):\n"
        "    for i, x in enumerate(xs):\n"
        "        if x == target:\n"
        "            return i\n"
        "    return -1\n"
        "\n"
        "def g(xs):\n"
        "    if not xs:\n"
        "        return None\n"
        "    return [find(xs, t) for t in (3, 9)]\n",
        "g",
        "[5, 3, 1]",
    ),
    (
        "while_else",
        "def is_prime(n):\n"
        "    d = 2\n"
        "    while d * d <= n:\n"
        "        if n % d == 0:\n"
        "            break\n"
        "        d += 1\n"
        "    else:\n"
        "        return True\n"
        "    return False\n"
        "\n"
        "def g(limit):\n"
        "    primes = []\n"
        "    n = 2\n"
        "    while len(primes) < limit:\n"
        "        if is_prime(n):\n"
        "            primes.append(n)\n"
        "        n += 1\n"
        "    return primes\n",
        "g",
        "5",
    ),
    (
        "decorated",
        "import functools\n"
        "\n"
        "@functools.cache\n"
        "def fib(n):\n"
        "    if n < 2:\n"
        "        return n\n"
        "    return fib(n - 1) + fib(n - 2)\n",
        "fib",
        "6",
    ),
]


DATACLASS = (
    "from dataclasses import dataclass\n"
    "\n"
    "@dataclass\n"
    "class Point:\n"
    "    x: int\n"
    "    y: int = 0\n"
    "\n"
    "    def moved(self, dx):\n"
    "        return Point(self.x + dx, self.y)\n"
    "\n"
    "def g(x):\n"
    "    p = Point(x)\n"
    "    return p.moved(2)\n"
)


@pytest.mark.parametrize(
    ("source", "entry", "input"),
    [pytest.param(*p[1:], id=p[0]) for p in PROGRAMS]
    + [pytest.param(DATACLASS, "g", "1", id="dataclass")],
)
def test_trace_matches_settrace(sandbox, source, entry, input):
    status, expected = record(source, entry, input)
    trace = trace_program(source, entry, input, config=TraceConfig(timeout_s=10), sandbox=sandbox)
    assert trace.status == status, trace.reason
    got = [(f.event, f.line, f.func, f.depth, f.locals, f.arg) for f in trace.frames]
    assert got == expected


def test_recorder_sees_every_program_line():
    """The reference itself works: a straight-line program gives one frame per line."""
    status, frames = record("def g(a):\n    b = a + 1\n    return b\n", "g", "1")
    assert status == "returned"
    assert frames == [
        ("call", 1, "g", 0, {"a": "1"}, None),
        ("line", 2, "g", 0, {"a": "1"}, None),
        ("line", 3, "g", 0, {"a": "1", "b": "2"}, None),
        ("return", 3, "g", 0, {}, "2"),
    ]


def test_result_of_an_exception_raised_through_finally(sandbox):
    src = "def g():\n    try:\n        1 / 0\n    finally:\n        x = 2\n"
    trace = trace_program(src, "g", sandbox=sandbox)
    assert trace.status == "raised"
    assert trace.result == "ZeroDivisionError('division by zero')"
