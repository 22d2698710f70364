"""Golden traces: the tracer's output on programs covering the language.

Regenerate with `.venv/bin/python tests/trace/golden/regen.py` after a
deliberate format change, and review the diff.
"""

import sys
from pathlib import Path

import pytest

from opencwm.trace.cwm import from_cwm, to_cwm
from opencwm.trace.jsonl import from_jsonl, to_jsonl

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from regen import HERE, golden_trace

PROGRAMS = sorted(p for p in HERE.glob("*.py") if p.name != "regen.py")


@pytest.fixture(scope="module", params=PROGRAMS, ids=lambda p: p.stem)
def case(request):
    path = request.param
    return path, golden_trace(path)


def test_trace_matches_golden_cwm(case):
    path, trace = case
    assert to_cwm(trace) == path.with_suffix(".cwm").read_text(encoding="utf-8")


def test_trace_matches_golden_jsonl(case):
    path, trace = case
    assert to_jsonl(trace) == path.with_suffix(".jsonl").read_text(encoding="utf-8")


def test_cwm_text_round_trips_exactly(case):
    path, _ = case
    text = path.with_suffix(".cwm").read_text(encoding="utf-8")
    assert to_cwm(from_cwm(text)) == text


def test_trace_survives_cwm_text(case):
    """Line numbers, depth and function names are recovered from the context."""
    _, trace = case
    back = from_cwm(to_cwm(trace))
    assert back.frames == trace.frames
    assert (back.source, back.entry, back.status) == (trace.source, trace.entry, trace.status)


def test_trace_survives_jsonl(case):
    _, trace = case
    assert from_jsonl(to_jsonl(trace)) == trace


def test_goldens_cover_the_issue_list():
    names = {p.stem for p in PROGRAMS}
    assert {
        "loops",
        "nested_calls",
        "recursion",
        "exceptions",
        "uncaught",
        "generators",
        "closures",
        "classes",
        "comprehensions",
        "values",
        "scoping",
        "script",
    } <= names
