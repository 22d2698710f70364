"""The `synthetic` source: a seeded generator of small programs and their inputs.

Why typed composition. A template bank with varied constants teaches a
model the templates; real small functions mix a dozen constructs in any
order. So programs here are composed from typed builders: expression
productions per type (`productions.py`), statements that read and mutate
typed variables (`stmts.py`, `loops.py`), and whole-program features
placed in random slots (`program.py`). Each builder knows the static type
of every variable it touches (`scope.py`), so a method is only called on a
value that has it and structures combine freely: a dict comprehension
inside a recursive helper called from a `while` loop over a popped stack.

Safety is by construction, checked by running. Operations that can fail
are written only where a tracked fact makes them safe (`nums[0]` under
"nums is non-empty", `d[k]` under "k in d") or with their guard; loops
iterate values their body cannot resize, every `while` form has a variable
that moves toward its exit, recursion shrinks its argument, and loop
nesting is budgeted by estimated trip counts. A share of items
(`p_exception`, decided per item) is built to fail on purpose with a named
exception, so traces include uncaught errors. Each candidate is then run
once in-process (`check.py`) with a line-event cap: programs outside the
trace-length band, growing values past a size cap, or ending differently
than planned are regenerated and counted in `Stats`. An exception nobody
planned is a generator bug; the tests keep those at (near) zero, so the
net does not hide one.

Determinism. Only `random.Random(seed)` draws choices. Sets in programs
hold ints only (their order does not depend on hash randomisation; sets
of strings would), dicts keep insertion order, and no iteration in the
generator itself depends on hashing. The same seed gives the same items
in the same order in any process.

Limits. Values are small (ints, strs, lists, dicts, tuples, sets of
those; no floats, classes, generators or imports), programs are single
functions with at most a few helpers, and coverage is of constructs, not
of semantics: the generator cannot know whether a program is *meaningful*.
Cost is about 0.8 ms an item (default knobs), half of it building, a
quarter compiling for the check run, the rest rejected candidates.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from opencwm.data.synthetic.check import FILENAME, run
from opencwm.data.synthetic.coverage import (
    FEATURES,
    REQUIRED,
    coverage,
    coverage_table,
    features_of,
    missing_features,
)
from opencwm.data.synthetic.knobs import PRESETS, Knobs, resolve
from opencwm.data.synthetic.program import build

__all__ = [
    "FEATURES",
    "PRESETS",
    "REQUIRED",
    "Knobs",
    "Stats",
    "SyntheticItem",
    "coverage",
    "coverage_table",
    "features_of",
    "generate",
    "missing_features",
    "resolve",
    "stream",
]


@dataclass(frozen=True)
class SyntheticItem:
    """One generated program: call `entry(<input>)` after running `code`.

    `id` is derived from code and input, so equal items have equal ids
    whatever seed made them. `features` is what `coverage.features_of`
    reads from the code and input; it is computed on first use, because
    parsing and walking the AST (about 0.9 ms) costs as much as generating
    and checking the item does.
    """

    id: str
    code: str
    entry: str
    input: str

    @cached_property
    def features(self) -> frozenset[str]:
        return features_of(self.code, self.input)

    def __post_init__(self) -> None:
        assert self.entry == "f", f"entry must be 'f', got {self.entry!r}"
        assert self.code.endswith("\n"), "code must end with a newline"


@dataclass(slots=True)
class Stats:
    """What the generator threw away, and why (see `stream`)."""

    candidates: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unplanned_errors: Counter[str] = field(default_factory=Counter)  # "Type: message" -> n

    def rate(self, reason: str) -> float:
        return self.rejected[reason] / max(self.candidates, 1)


def item_key(code: str, input: str) -> str:
    """Identity of an item. The generator prints code in one canonical layout,
    so its text is already normalised: equal ASTs mean equal text."""
    return hashlib.sha256(f"{code.strip()}\0{input.strip()}".encode()).hexdigest()


def stream(
    seed: int = 0, knobs: Knobs | str = "medium", stats: Stats | None = None
) -> Iterator[SyntheticItem]:
    """Unique items, forever, in an order fixed by `seed` and `knobs`.

    A candidate is dropped (and counted in `stats.rejected`) when its run is
    outside `knobs.min_lines..max_lines` line events, builds an oversized
    value, raises when it was not built to, or returns / raises something
    else when it was; or when it repeats an earlier item.
    """
    k = resolve(knobs)
    stats = stats if stats is not None else Stats()
    rng = random.Random(seed)
    seen: set[str] = set()
    fail: bool | None = None
    while True:
        if fail is None:  # decided per item, not per candidate: retries keep the plan
            fail = rng.random() < k.p_exception
        cand = build(rng, k, fail)
        stats.candidates += 1
        key = item_key(cand.code, cand.input)
        if key in seen:
            stats.rejected["duplicate"] += 1
            continue
        try:
            code = compile(cand.code, FILENAME, "exec")
        except SyntaxError as exc:  # a generator bug: counted, and tested to be zero
            stats.rejected["syntax"] += 1
            stats.unplanned_errors[f"SyntaxError: {exc}"] += 1
            continue
        out = run(code, cand.args, k.max_lines)
        if out.status == "raised" and cand.expect is None:
            stats.rejected["unplanned_error"] += 1
            stats.unplanned_errors[f"{out.error}: {out.detail}"] += 1
            continue
        reason = _reject(out.status, out.lines, out.error, cand.expect, k)
        if reason:
            stats.rejected[reason] += 1
            continue
        seen.add(key)
        fail = None
        stats.accepted += 1
        yield SyntheticItem(f"synthetic-{key[:16]}", cand.code, "f", cand.input)


def _reject(status: str, lines: int, error: str | None, expect: str | None, k: Knobs) -> str:
    if status in ("too_long", "too_big"):
        return status
    if lines < k.min_lines:
        return "too_short"
    if expect is not None and status == "returned":
        return "did_not_raise"
    if expect is not None and error != expect:
        return "wrong_error"
    return ""


def generate(
    n: int, seed: int = 0, knobs: Knobs | str = "medium", **overrides: object
) -> list[SyntheticItem]:
    """The first `n` items of `stream(seed, knobs)`, with knob `overrides` applied."""
    items: list[SyntheticItem] = []
    if n <= 0:
        return items
    for item in stream(seed, resolve(knobs, **overrides)):
        items.append(item)
        if len(items) == n:
            break
    return items
