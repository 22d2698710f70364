"""Families of (function, input) pairs: one run that halts, one that does not.

Each family returns a pair made the same way with different parameters or
a one-character change, so the two differ as little as the pattern allows
(near-miss pairs: the label turns on a detail a reader must simulate). The
comment in each family says why its loops variant never ends; the corpus
then checks that on a real trace (`verify.check_label`).

Names, constants and inputs are drawn from `rng`, so a seed gives the same
pairs every time.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    pattern: str
    code: str
    entry: str
    input: str
    label: str  # "halts" or "loops"


FUNCS = (
    "walk", "step", "run", "scan", "spin", "drift", "probe", "settle",
    "reduce", "advance", "chase", "crawl", "seek", "loop_to",
)  # fmt: skip
VARS = (
    "i", "j", "k", "n", "m", "x", "y", "a", "b", "c", "d", "p", "q", "r",
    "s", "t", "u", "v", "w", "z", "idx", "pos", "val", "cur", "acc", "lo", "hi",
)  # fmt: skip


def _names(rng: random.Random, k: int) -> list[str]:
    return rng.sample(VARS, k)


def _pair(pattern: str, halts: tuple[str, str], loops: tuple[str, str], entry: str) -> list[Case]:
    return [
        Case(pattern, halts[0], entry, halts[1], "halts"),
        Case(pattern, loops[0], entry, loops[1], "loops"),
    ]


def counter_misses_bound(rng: random.Random) -> list[Case]:
    """`while i != n: i += step`: halts when n - start is a multiple of step;
    one more and i jumps over n and climbs away from it for ever."""
    f = rng.choice(FUNCS)
    i, n = _names(rng, 2)
    start, step, k = rng.randint(0, 9), rng.randint(2, 6), rng.randint(2, 8)
    code = (
        f"def {f}({n}):\n"
        f"    {i} = {start}\n"
        f"    while {i} != {n}:\n"
        f"        {i} += {step}\n"
        f"    return {i}\n"
    )
    bound = start + step * k
    return _pair("counter_misses_bound", (code, str(bound)), (code, str(bound + 1)), f)


def strict_vs_not_equal(rng: random.Random) -> list[Case]:
    """The same misaligned counter under `<` (stops once past n) and under
    `!=` (never equal, so never stops)."""
    f = rng.choice(FUNCS)
    i, n, c = _names(rng, 3)
    step = rng.randint(2, 5)
    bound = step * rng.randint(2, 7) + rng.randint(1, step - 1)
    body = (
        f"def {f}({n}):\n"
        f"    {i} = 0\n"
        f"    {c} = 0\n"
        f"    while {i} OP {n}:\n"
        f"        {i} += {step}\n"
        f"        {c} += 1\n"
        f"    return {c}\n"
    )
    return _pair(
        "strict_vs_not_equal",
        (body.replace("OP", "<"), str(bound)),
        (body.replace("OP", "!="), str(bound)),
        f,
    )


def odd_countdown(rng: random.Random) -> list[Case]:
    """Counting down by two to exactly zero: an odd start steps over it and
    goes negative for ever (off-by-one stride)."""
    f = rng.choice(FUNCS)
    n, c = _names(rng, 2)
    stride = rng.choice((2, 2, 4))
    code = (
        f"def {f}({n}):\n"
        f"    {c} = 0\n"
        f"    while {n} != 0:\n"
        f"        {n} -= {stride}\n"
        f"        {c} += 1\n"
        f"    return {c}\n"
    )
    even = stride * rng.randint(1, 12)
    return _pair("odd_countdown", (code, str(even)), (code, str(even + 1)), f)


def start_parity(rng: random.Random) -> list[Case]:
    """A stride-2 walk to an even bound, started at 0 (halts) or 1 (never
    meets it): one character apart in the code."""
    f = rng.choice(FUNCS)
    i, n, s = _names(rng, 3)
    bound = 2 * rng.randint(2, 15)
    body = (
        f"def {f}({n}):\n"
        f"    {i} = START\n"
        f"    {s} = 0\n"
        f"    while {i} != {n}:\n"
        f"        {s} += {i}\n"
        f"        {i} += 2\n"
        f"    return {s}\n"
    )
    return _pair(
        "start_parity",
        (body.replace("START", "0"), str(bound)),
        (body.replace("START", "1"), str(bound)),
        f,
    )


def search_wraps_around(rng: random.Random) -> list[Case]:
    """A circular search ends when the target is present; when it is absent
    the index goes round the list and the state repeats (exit depends on data)."""
    f = rng.choice(FUNCS)
    xs, t, i = _names(rng, 3)
    data = rng.sample(range(1, 40), rng.randint(3, 7))
    present = rng.choice(data)
    absent = next(v for v in range(present + 1, 99) if v not in data)
    code = (
        f"def {f}({xs}, {t}):\n"
        f"    {i} = 0\n"
        f"    while {xs}[{i}] != {t}:\n"
        f"        {i} = ({i} + 1) % len({xs})\n"
        f"    return {i}\n"
    )
    return _pair(
        "search_wraps_around", (code, f"{data}, {present}"), (code, f"{data}, {absent}"), f
    )


def search_raises_or_wraps(rng: random.Random) -> list[Case]:
    """The same absent target: a plain `i += 1` runs off the end and raises
    IndexError (halts, by an exception); wrapping round never ends."""
    f = rng.choice(FUNCS)
    xs, t, i = _names(rng, 3)
    data = rng.sample(range(1, 40), rng.randint(3, 7))
    absent = next(v for v in range(41, 99) if v not in data)
    head = f"def {f}({xs}, {t}):\n    {i} = 0\n    while {xs}[{i}] != {t}:\n"
    plain = head + f"        {i} = {i} + 1\n    return {i}\n"
    wraps = head + f"        {i} = ({i} + 1) % len({xs})\n    return {i}\n"
    arg = f"{data}, {absent}"
    return _pair("search_raises_or_wraps", (plain, arg), (wraps, arg), f)


def linked_cycle(rng: random.Random) -> list[Case]:
    """Following `nxt` pointers to the end marker -1; redirecting the last
    pointer into the chain makes a cycle the walk never leaves."""
    f = rng.choice(FUNCS)
    nxt, node, last = _names(rng, 3)
    size = rng.randint(3, 8)
    order = list(range(size))
    rng.shuffle(order)
    links = [-1] * size
    for a, b in itertools.pairwise(order):
        links[a] = b
    looped = list(links)
    looped[order[-1]] = rng.choice(order[:-1])
    code = (
        f"def {f}({nxt}, {node}):\n"
        f"    {last} = {node}\n"
        f"    while {node} != -1:\n"
        f"        {last} = {node}\n"
        f"        {node} = {nxt}[{node}]\n"
        f"    return {last}\n"
    )
    return _pair("linked_cycle", (code, f"{links}, {order[0]}"), (code, f"{looped}, {order[0]}"), f)


def mutual_recursion(rng: random.Random) -> list[Case]:
    """Two functions that call each other: with n - 1 on both sides they
    reach the base case; with n + 1 on one side the pair returns to the same
    call for ever (CPython: RecursionError; labelled loops, docs/halting.md)."""
    a, b = rng.sample(FUNCS, 2)
    (n,) = _names(rng, 1)
    base = rng.randint(0, 3)
    tmpl = (
        f"def {a}({n}):\n"
        f"    if {n} <= {base}:\n"
        f"        return 0\n"
        f"    return {b}({n} SIGN 1) + 1\n"
        f"def {b}({n}):\n    if {n} <= {base}:\n        return 1\n    return {a}({n} - 1) + 2\n"
    )
    arg = str(rng.randint(base + 2, base + 12))
    return _pair(
        "mutual_recursion", (tmpl.replace("SIGN", "-"), arg), (tmpl.replace("SIGN", "+"), arg), a
    )


def no_base_case(rng: random.Random) -> list[Case]:
    """Mutual recursion with a base case, and the same pair without it: then
    the second function hands the first its own arguments back."""
    a, b = rng.sample(FUNCS, 2)
    n, acc = _names(rng, 2)
    halts = (
        f"def {a}({n}, {acc}):\n    if {n} == 0:\n        return {acc}\n"
        f"    return {b}({n}, {acc} + 1)\n"
        f"def {b}({n}, {acc}):\n"
        f"    return {a}({n} - 1, {acc})\n"
    )
    loops = (
        f"def {a}({n}, {acc}):\n    return {b}({n}, {acc})\n\n\n"
        f"def {b}({n}, {acc}):\n    return {a}({n}, {acc})\n"
    )
    arg = f"{rng.randint(1, 9)}, 0"
    return _pair("no_base_case", (halts, arg), (loops, arg), a)


def recursion_stride(rng: random.Random) -> list[Case]:
    """Recursion down by two to a base case at zero: odd arguments step
    over it and go negative for ever."""
    f = rng.choice(FUNCS)
    (n,) = _names(rng, 1)
    code = f"def {f}({n}):\n    if {n} == 0:\n        return 0\n    return {f}({n} - 2) + 1\n"
    even = 2 * rng.randint(1, 10)
    return _pair("recursion_stride", (code, str(even)), (code, str(even + 1)), f)


def collatz(rng: random.Random) -> list[Case]:
    """Collatz from a start known to reach 1 quickly: `!= 1` halts; `!= 0`
    (one character) falls into the 4, 2, 1 cycle and the state repeats."""
    f = rng.choice(FUNCS)
    n, top = _names(rng, 2)
    start = rng.choice([v for v in range(2, 60) if _collatz_steps(v) <= 30])
    body = (
        f"def {f}({n}):\n    {top} = {n}\n    while {n} != END:\n        if {n} % 2 == 0:\n"
        f"            {n} = {n} // 2\n        else:\n            {n} = 3 * {n} + 1\n"
        f"        {top} = max({top}, {n})\n    return {top}\n"
    )
    return _pair(
        "collatz", (body.replace("END", "1"), str(start)), (body.replace("END", "0"), str(start)), f
    )


def _collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def shrink_or_grow(rng: random.Random) -> list[Case]:
    """A string processed until short enough: dropping the first character
    shrinks it; appending one (a slip of the slice) grows it for ever."""
    f = rng.choice(FUNCS)
    s, k = _names(rng, 2)
    word = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 9)))
    limit = rng.randint(0, 2)
    body = (
        f"def {f}({s}):\n"
        f"    {k} = 0\n"
        f"    while len({s}) > {limit}:\n"
        f"        {s} = UPDATE\n"
        f"        {k} += 1\n"
        f"    return {k}\n"
    )
    return _pair(
        "shrink_or_grow",
        (body.replace("UPDATE", f"{s}[1:]"), repr(word)),
        (body.replace("UPDATE", f"{s} + {s}[-1]"), repr(word)),
        f,
    )


def queue_refill(rng: random.Random) -> list[Case]:
    """A work queue whose items requeue themselves smaller (x - 1: drains)
    or larger (x + 1, one character: the queue never empties)."""
    f = rng.choice(FUNCS)
    q, x, done = _names(rng, 3)
    items = [rng.randint(1, 4) for _ in range(rng.randint(1, 4))]  # > 0: each requeues
    body = (
        f"def {f}({q}):\n    {done} = 0\n    while len({q}) > 0:\n        {x} = {q}.pop(0)\n"
        f"        if {x} > 0:\n"
        f"            {q}.append({x} SIGN 1)\n"
        f"        {done} += 1\n"
        f"    return {done}\n"
    )
    return _pair(
        "queue_refill",
        (body.replace("SIGN", "-"), str(items)),
        (body.replace("SIGN", "+"), str(items)),
        f,
    )


def digit_sum(rng: random.Random) -> list[Case]:
    """Digit sum by `n //= 10`; `n //= 1` (one character less) never shrinks n."""
    f = rng.choice(FUNCS)
    n, total = _names(rng, 2)
    body = (
        f"def {f}({n}):\n"
        f"    {total} = 0\n"
        f"    while {n} > 0:\n"
        f"        {total} += {n} % 10\n"
        f"        {n} //= DIV\n"
        f"    return {total}\n"
    )
    arg = str(rng.randint(10, 99999))
    return _pair("digit_sum", (body.replace("DIV", "10"), arg), (body.replace("DIV", "1"), arg), f)


def subtractive_gcd(rng: random.Random) -> list[Case]:
    """Euclid by subtraction halts on positive inputs; with a zero it
    subtracts nothing and the state repeats."""
    f = rng.choice(FUNCS)
    a, b = _names(rng, 2)
    code = (
        f"def {f}({a}, {b}):\n    while {a} != {b}:\n        if {a} > {b}:\n"
        f"            {a} -= {b}\n        else:\n            {b} -= {a}\n    return {a}\n"
    )
    x, y = rng.randint(2, 60), rng.randint(1, 9)
    return _pair("subtractive_gcd", (code, f"{x}, {y}"), (code, f"{x}, 0"), f)


def binary_search_slip(rng: random.Random) -> list[Case]:
    """`lo = mid + 1` narrows the range; `lo = mid` stalls once lo and hi are
    neighbours and the target lies above (the state repeats)."""
    f = rng.choice(FUNCS)
    xs, t, lo, hi, mid = _names(rng, 5)
    data = sorted(rng.sample(range(0, 50), rng.randint(3, 8)))
    body = (
        f"def {f}({xs}, {t}):\n    {lo} = 0\n    {hi} = len({xs}) - 1\n    while {lo} < {hi}:\n"
        f"        {mid} = ({lo} + {hi}) // 2\n        if {xs}[{mid}] < {t}:\n"
        f"            {lo} = {mid}UPDATE\n"
        f"        else:\n"
        f"            {hi} = {mid}\n"
        f"    return {lo}\n"
    )
    arg = f"{data}, {data[-1] + rng.randint(1, 9)}"
    return _pair(
        "binary_search_slip",
        (body.replace("UPDATE", " + 1"), arg),
        (body.replace("UPDATE", ""), arg),
        f,
    )


def skip_without_advance(rng: random.Random) -> list[Case]:
    """`continue` before the index moves: harmless when no item is skipped,
    stuck on the first negative item otherwise (one minus sign apart)."""
    f = rng.choice(FUNCS)
    xs, i, total = _names(rng, 3)
    code = (
        f"def {f}({xs}):\n    {i} = 0\n    {total} = 0\n    while {i} < len({xs}):\n"
        f"        if {xs}[{i}] < 0:\n            continue\n        {total} += {xs}[{i}]\n"
        f"        {i} += 1\n    return {total}\n"
    )
    data = [rng.randint(1, 20) for _ in range(rng.randint(2, 6))]
    bad = list(data)
    bad[rng.randrange(len(bad))] *= -1
    return _pair("skip_without_advance", (code, str(data)), (code, str(bad)), f)


FAMILIES: tuple[Callable[[random.Random], list[Case]], ...] = (
    counter_misses_bound,
    strict_vs_not_equal,
    odd_countdown,
    start_parity,
    search_wraps_around,
    search_raises_or_wraps,
    linked_cycle,
    mutual_recursion,
    no_base_case,
    recursion_stride,
    collatz,
    shrink_or_grow,
    queue_refill,
    digit_sum,
    subtractive_gcd,
    binary_search_slip,
    skip_without_advance,
)
