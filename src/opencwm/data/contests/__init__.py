"""The `contests:N` source: whole competitive-programming solutions.

Each item is a script the way contest solutions are written: it reads `T`
test cases from standard input and loops over them, each case solved by
one of the problem families in `families.py` (array sums, prefix sums,
counting, two pointers, coin-change DP, LIS, strings, gcd and a sieve,
sorting by a key, a grid simulation, binary search). The script is traced
whole (entry `<module>`), so its traces are long: the point of the
source is the long-trace policy (docs/evaluation.md, "Long traces").

Shape. A case's body runs inline in the test loop, or in a `solve()`
function called once per case (callers' state then matters after each
return); input is read with `input()` or with `sys.stdin.readline`.
Length. Each item draws a work budget log-uniformly, then the number of
cases and a per-case size from it, so traces spread from a few dozen
frames to about two thousand (the build's default frame limit is 2,000:
a few of the largest draws are cut there and go to `rejected`; raise
`--max-frames` to keep them).
Determinism. Only `random.Random` seeded from the seed draws choices, and
nothing is run while drawing, so a build lists its items at once.
"""

from __future__ import annotations

import math
import random
import textwrap
from collections.abc import Iterator

from opencwm.data.contests.families import FAMILIES
from opencwm.data.items import Item, item_key

MIN_WORK, MAX_WORK = 15, 1000
"""The work budget's range (about elements handled, over all cases); a
unit costs two to four frames."""


def contest_items(n: int, seed: int = 0) -> Iterator[Item]:
    """`n` unique items, families taken in turn in a seeded order."""
    rng = random.Random(f"contests:{seed}")
    seen: set[str] = set()
    names = sorted(FAMILIES)
    made = 0
    while made < n:
        rng.shuffle(names)
        for name in names[: n - made]:
            code, stdin = draw(name, rng)
            item = Item(f"contests-{made:05d}-{name}", "contests", code, "<module>", "", stdin)
            key = item_key(item)
            if key in seen:
                continue
            seen.add(key)
            made += 1
            yield item


def draw(family: str, rng: random.Random) -> tuple[str, str]:
    """One script of `family` and its standard input."""
    work = int(math.exp(rng.uniform(math.log(MIN_WORK), math.log(MAX_WORK))))
    cases = rng.randint(1, min(6, max(1, work // 8)))
    body, lines = FAMILIES[family](rng, max(2, work // cases), cases)
    loop = rng.choice(["_", "case", "tc"])
    if rng.random() < 0.5:
        code = f"T = int(input())\nfor {loop} in range(T):\n{textwrap.indent(body, '    ')}"
    else:
        # T is read before the `def`: a script's first line is its call frame's
        # line, and a `def` there reads as the callee's (trace/resolve.py)
        code = (
            f"T = int(input())\n\n\ndef solve():\n{textwrap.indent(body, '    ')}\n\n"
            f"for {loop} in range(T):\n    solve()\n"
        )
    if rng.random() < 0.4:
        code = "import sys\n\ninput = sys.stdin.readline\n\n" + code
    return code, "\n".join([str(cases), *lines]) + "\n"
