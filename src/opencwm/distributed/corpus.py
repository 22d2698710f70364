"""The `distributed:N` source: N generated systems, each labelled with how
its run ends ("ok", "deadlock", "inconsistent").

Items are drawn from `random.Random(f"distributed:{seed}")`, kinds taken in
turn, so a build lists the same items for the same `--seed`. The label is
found by running the system here (`systems.outcome`, milliseconds each);
the build's workers trace it in the sandbox like any other item, and the
traced run ends the same way (the scheduler is seeded by the item's input).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from opencwm.data.items import Item, item_key
from opencwm.distributed.systems import KINDS, System, generate, outcome

MAX_TRIES = 200


def distributed_items(n: int, seed: int = 0) -> Iterator[Item]:
    """`n` unique labelled systems, deterministic for a given seed."""
    rng = random.Random(f"distributed:{seed}")
    kinds = sorted(KINDS)
    seen: set[str] = set()
    for i in range(n):
        system = _fresh(rng, kinds[i % len(kinds)], seen)
        end, _ = outcome(system.code, system.seed)
        yield Item(item_id(i, system), "distributed", system.code, "main", system.input, label=end)


def item_id(i: int, system: System) -> str:
    """`distributed-00007-gossip-lost-n4`: what the eval reports by."""
    return f"distributed-{i:05d}-{system.kind}-{system.bug}-n{system.nodes}"


def parse_id(id: str) -> tuple[str, str, int]:
    """(kind, bug, node count) back from an item id."""
    middle, _, n = id.removeprefix("distributed-")[6:].rpartition("-n")
    kind = next(k for k in KINDS if middle.startswith(k + "-"))
    return kind, middle[len(kind) + 1 :], int(n)


def _fresh(rng: random.Random, kind: str, seen: set[str]) -> System:
    for _ in range(MAX_TRIES):
        system = generate(rng, kind)
        key = item_key(Item("", "distributed", system.code, "main", system.input))
        if key not in seen:
            seen.add(key)
            return system
    raise RuntimeError(f"distributed: kind {kind} ran out of new systems")
