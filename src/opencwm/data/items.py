"""What a source yields: a program, an entry and an input, to be traced.

Two items are the same program if their code is the same after parsing
(comments and formatting do not count); the same item if their input is
too. Splits are drawn per program, so no program is in two splits.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import asdict, dataclass, field

from opencwm.trace.frame import Trace


@dataclass(slots=True)
class Item:
    """One unit of work. `trace` is set by sources that record traces
    themselves (e.g. `pytest`), which the pipeline then does not re-run."""

    id: str
    source: str
    code: str
    entry: str | None
    input: str = ""
    stdin: str | None = None
    trace: Trace | None = field(default=None, repr=False)
    label: str | None = None
    """A labelled source's answer for this run (`halting`: "halts" or "loops");
    None elsewhere. It becomes the row's `label` column."""
    check: str | None = None
    """Which source's own trace-and-check the worker runs in place of plain
    tracing (`work.CHECKS`): a source that proves its labels by running code
    hands that work to the build's workers instead of doing it up front."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("trace")
        if self.trace is not None:
            from opencwm.trace.jsonl import to_jsonl

            d["trace_jsonl"] = to_jsonl(self.trace)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Item:
        d = dict(d)
        text = d.pop("trace_jsonl", None)
        item = cls(**d)
        if text is not None:
            from opencwm.trace.jsonl import from_jsonl

            item.trace = from_jsonl(text)
        return item


def normalize_code(code: str) -> str:
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError):
        return code.strip()


def normalize_input(args: str) -> str:
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        return ast.unparse(call)[2:-1]
    except (SyntaxError, ValueError):
        return args.strip()


def program_key(item: Item) -> str:
    """Identity of the program, for splits."""
    return hashlib.sha256(normalize_code(item.code).encode()).hexdigest()[:16]


def item_key(item: Item) -> str:
    """Identity of the run, for dedup."""
    parts = [normalize_code(item.code), item.entry or "", normalize_input(item.input)]
    parts.append(item.stdin or "")
    if item.trace is not None:  # recorded calls: same function and input may still differ
        from opencwm.trace.cwm import to_cwm

        parts.append(to_cwm(item.trace))
    text = "\x00".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_of(program: str, val: float = 0.05, test: float = 0.05) -> str:
    """Deterministic split from the program key alone."""
    u = int(program[:8], 16) / 0x1_0000_0000
    if u < test:
        return "test"
    if u < test + val:
        return "val"
    return "train"
