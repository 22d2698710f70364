"""Difficulty knobs of the synthetic generator, and the named presets.

Every default lives here. A preset is a `Knobs`; `resolve` turns a preset
name (or a `Knobs`) plus overrides into the one config a run uses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class Knobs:
    """How big and how tangled the generated programs are.

    Statement counts and depth shape the code; the value knobs shape the
    inputs (and so the trip counts of loops over them). `min_lines` and
    `max_lines` bound the number of line events of a run of `f`: a program
    outside that band is regenerated, so it is the knob that keeps traces
    moderate whatever the others say.
    """

    max_statements: int = 7  # top-level statements of f (at least 1)
    max_block: int = 3  # statements in a nested block
    max_depth: int = 2  # nesting of loops / ifs / try
    max_expr_depth: int = 2  # nesting of expressions
    max_params: int = 2
    max_list_len: int = 6
    max_int: int = 20
    max_str_len: int = 10
    p_helper: float = 0.25  # a helper function (top level or nested in f)
    p_recursion: float = 0.12  # a recursive helper
    p_try: float = 0.15  # a try/except somewhere in f
    p_exception: float = 0.07  # share of items whose run ends in an uncaught exception
    min_lines: int = 10
    max_lines: int = 150

    def __post_init__(self) -> None:
        assert self.max_statements >= 1, f"max_statements={self.max_statements} < 1"
        assert self.max_depth >= 0 and self.max_block >= 1, (self.max_depth, self.max_block)
        assert 1 <= self.max_params <= 4, f"max_params={self.max_params} not in 1..4"
        assert self.max_list_len >= 1 and self.max_str_len >= 1 and self.max_int >= 1
        assert 0 <= self.min_lines < self.max_lines, (self.min_lines, self.max_lines)
        for name in ("p_helper", "p_recursion", "p_try", "p_exception"):
            p = getattr(self, name)
            assert 0.0 <= p <= 1.0, f"{name}={p} is not a probability"


PRESETS: dict[str, Knobs] = {
    "easy": Knobs(
        max_statements=4,
        max_block=2,
        max_depth=1,
        max_expr_depth=1,
        max_params=1,
        max_list_len=4,
        max_int=9,
        max_str_len=6,
        p_helper=0.1,
        p_recursion=0.05,
        p_try=0.08,
        p_exception=0.06,
        min_lines=6,
        max_lines=60,
    ),
    "medium": Knobs(),
    "hard": Knobs(
        max_statements=10,
        max_block=4,
        max_depth=3,
        max_expr_depth=3,
        max_params=3,
        max_list_len=8,
        max_int=50,
        max_str_len=14,
        p_helper=0.4,
        p_recursion=0.2,
        p_try=0.25,
        p_exception=0.08,
        min_lines=20,
        max_lines=150,
    ),
}


def resolve(knobs: Knobs | str = "medium", **overrides: object) -> Knobs:
    """The `Knobs` for a preset name or instance, with `overrides` applied."""
    if isinstance(knobs, str):
        if knobs not in PRESETS:
            raise ValueError(f"unknown preset {knobs!r}; known: {', '.join(PRESETS)}")
        knobs = PRESETS[knobs]
    known = {f.name for f in fields(Knobs)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return replace(knobs, **overrides)  # type: ignore[arg-type]
