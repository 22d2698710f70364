"""The `halting:N` source: N labelled runs, half that halt and half that
do not, each label checked on a real trace before it is yielded.

Pairs come from the families in `patterns.py`, taken in turn in a seeded
order. Each run is traced in the sandbox under `CHECK` (a frame budget,
not a wall clock, decides the cut, so a busy machine gives the same
corpus) and its label is checked by `verify.check_label`; a run whose
label does not check out is a bug in a family and stops the build. The
checked trace travels with the item, so the pipeline stores it as is (a
"loops" row is the cut trace, status `truncated`, with `label` "loops").
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from opencwm.data.benchmarks import SourceError
from opencwm.data.items import Item, item_key
from opencwm.halt.patterns import FAMILIES, Case
from opencwm.halt.verify import LabelError, check_label
from opencwm.tracer.api import TraceConfig, trace_program

CHECK = TraceConfig(timeout_s=20.0, max_frames=300, repr_cap=1000)
"""How each run is checked: halting runs here finish in under 300 frames;
looping ones are cut at 300, enough for a state repeat or 20 drift visits."""

MAX_TRIES = 200
"""Draws of one family that may all be duplicates before giving up."""


def halting_items(n: int, seed: int = 0) -> Iterator[Item]:
    """`n` unique labelled items (pairs first halts, then loops; an odd `n`
    ends on a halting one), deterministic for a given seed."""
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
                yield _checked(case, f"halting-{pair:05d}-{case.pattern}-{case.label}")
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


def _checked(case: Case, id: str) -> Item:
    trace = trace_program(case.code, case.entry, case.input, config=CHECK)
    try:
        check_label(case.label, trace)
    except LabelError as exc:
        raise SourceError(f"halting: {id} ({case.entry}({case.input})): {exc}") from None
    return Item(id, "halting", case.code, case.entry, case.input, trace=trace, label=case.label)
