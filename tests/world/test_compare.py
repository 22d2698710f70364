"""Pairing imagined and real traces on hand-made frames."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from opencwm.trace.frame import Frame, Trace
from opencwm.world.compare import (
    DIVERGENCE,
    compare,
    comparison_table,
    first_divergence,
    imagined_table,
)
from opencwm.world.rollout import Step

CALL = Frame("call", 1, "def f(n):", "f", 0, {"n": "2"})
L2 = Frame("line", 2, "    s = n + 1", "f", 0, {"n": "2"})
L3 = Frame("line", 3, "    return s", "f", 0, {"n": "2", "s": "3"})
RET = Frame("return", 3, "    return s", "f", 0, {}, "3")
REAL = Trace("def f(n):  # << START_OF_TRACE\n...", "f", [CALL, L2, L3, RET])


def imagined(*frames: Frame, status: str = "returned") -> Trace:
    return Trace(REAL.source, "f", list(frames), status=status)


def render(table) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_first_divergence():
    assert first_divergence(REAL.frames, REAL.frames) is None
    assert first_divergence(REAL.frames, [CALL, L2, replace(L3, locals={"n": "2", "s": "4"})]) == 2
    assert first_divergence(REAL.frames, [CALL, replace(L2, line=3, source=L3.source)]) == 1
    assert first_divergence(REAL.frames, [CALL, L2, L3, replace(RET, arg="4")]) == 3
    assert first_divergence(REAL.frames, [CALL, L2]) == 2  # stopped early
    assert first_divergence(REAL.frames[:2], REAL.frames) == 2  # ran on


def test_a_perfect_prediction():
    c = compare(REAL, imagined(CALL, L2, L3, RET))
    s = c.stats()
    assert c.divergence is None and s["exact"] == 4 and s["same_result"]
    assert "no divergence" in c.summary() and "4/4 steps exact (100%)" in c.summary()
    assert DIVERGENCE not in render(comparison_table(c))


def test_a_wrong_value_then_a_wrong_result():
    bad_l3 = replace(L3, locals={"n": "2", "s": "4"})
    c = compare(REAL, imagined(CALL, L2, bad_l3, replace(RET, arg="4")))
    s = c.stats()
    assert (c.divergence, s["exact"], s["event_line"], s["same_result"]) == (2, 2, 4, False)
    text = render(comparison_table(c))
    row = next(line for line in text.splitlines() if DIVERGENCE in line)
    assert "s=4" in row and "s=3" in row  # both values, side by side


def test_an_invalid_answer_is_a_step_with_its_raw_text():
    steps = [Step(L2, "..."), Step(None, "<|line_sep|>{oops", "not JSON")]
    c = compare(REAL, imagined(CALL, L2, status="truncated"), steps)
    assert c.divergence == 2 and c.invalid is steps[-1] and c.stats()["invalid"]
    text = render(comparison_table(c))
    row = next(line for line in text.splitlines() if DIVERGENCE in line)
    assert "invalid" in row and "{oops" in row and "not JSON" in row
    alone = render(imagined_table(imagined(CALL, L2, status="truncated"), steps))
    assert "invalid" in alone and "{oops" in alone


def test_an_end_of_text_answer_is_not_invalid():
    steps = [Step(None, "<|end_of_text|>")]
    c = compare(REAL, imagined(CALL, L2, L3, RET), steps)
    assert c.invalid is None and c.divergence is None


def test_two_unfinished_runs_do_not_share_a_result():
    cut = Trace(REAL.source, "f", [CALL, L2], status="truncated", reason="frame limit")
    c = compare(cut, imagined(CALL, L2, status="truncated"))
    assert c.divergence is None and not c.stats()["same_result"]
    assert "no result to compare" in c.summary()
