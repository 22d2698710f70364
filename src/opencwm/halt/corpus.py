"""The `halting:N` source: N labelled runs, half that halt and half that
do not, each label checked on a real trace before it is stored.

Pairs come from the families in `patterns.py`, taken in turn in a seeded
order; drawing them runs nothing, so a build lists its items at once.
The build's workers then trace each run with `checked_trace`, in parallel
and resumable like any other tracing: in the sandbox under `CHECK` (a
frame budget, not a wall clock, decides the cut, so a busy machine gives
the same corpus), its label checked by `verify.check_label`. A run whose
label does not check out is a bug in a family and stops the build. The
checked trace is the row (a "loops" row is the cut trace, status
`truncated`, with `label` "loops").
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from opencwm.data.benchmarks import SourceError
from opencwm.data.items import Item, item_key
from opencwm.halt.patterns import FAMILIES, Case
from opencwm.halt.verify import LabelError, check_label
from opencwm.trace.frame import Trace
from opencwm.tracer.api import TraceConfig, trace_program

if TYPE_CHECKING:
    from opencwm.sandbox.pool import Sandbox

CHECK = TraceConfig(timeout_s=20.0, max_frames=300, repr_cap=1000)
"""How each run is checked: halting runs here finish in under 300 frames;
looping ones are cut at 300, enough for a state repeat or 20 drift visits."""

MAX_TRIES = 200
"""Draws of one family that may all be duplicates before giving up."""


def halting_items(n: int, seed: int = 0) -> Iterator[Item]:
    """`n` unique labelled items (pairs first halts, then loops; an odd `n`
    ends on a halting one), deterministic for a given seed, not yet traced:
    each carries `check="halting"`, which sends it to `checked_trace`."""
    rng = random.Random(f"halting:{seed}")
    seen: set[str] = set()
    made = 0
    pair = 0
    while made < n:
        order = list(FAMILIES)
        rng.shuffle(order)
        for family in order:
            if made >= n:
                return
            cases = _fresh_pair(family, rng, seen)
            for case in cases[: n - made]:
                id = f"halting-{pair:05d}-{case.pattern}-{case.label}"
                yield Item(
                    id,
                    "halting",
                    case.code,
                    case.entry,
                    case.input,
                    label=case.label,
                    check="halting",
                )
                made += 1
            pair += 1


def _fresh_pair(family, rng: random.Random, seen: set[str]) -> list[Case]:
    """A pair of the family neither of whose runs was made before."""
    for _ in range(MAX_TRIES):
        cases = family(rng)
        keys = [item_key(Item("", "halting", c.code, c.entry, c.input)) for c in cases]
        if len(set(keys)) == len(keys) and not seen.intersection(keys):
            seen.update(keys)
            return cases
    raise SourceError(f"halting: family {family.__name__} ran out of new pairs")


def checked_trace(item: Item, sandbox: Sandbox | None = None) -> Trace:
    """The item's run traced under `CHECK`, its label proven on that trace."""
    trace = trace_program(item.code, item.entry, item.input, config=CHECK, sandbox=sandbox)
    try:
        check_label(item.label or "", trace)
    except LabelError as exc:
        raise SourceError(f"halting: {item.id} ({item.entry}({item.input})): {exc}") from None
    return trace
