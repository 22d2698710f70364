"""Traces in natural language: every narration parses back to what it states."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

from opencwm.trace.frame import Frame, Trace
from opencwm.trace.jsonl import from_jsonl, to_jsonl
from opencwm.trace.nl import (
    NlFormatError,
    _Reader,
    from_nl,
    narration_of,
    parse_nl,
    span,
    to_nl,
)

GOLDEN = Path(__file__).parent / "golden"
GOLDENS = sorted(GOLDEN.glob("*.jsonl"))
EXAMPLES = Path(__file__).parents[2] / "src/opencwm/examples"


def golden(stem: str) -> Trace:
    return from_jsonl((GOLDEN / f"{stem}.jsonl").read_text(encoding="utf-8"))


def assert_round_trip(trace: Trace) -> str:
    text = to_nl(trace)
    assert parse_nl(text) == narration_of(trace)
    # the trace itself, byte for byte: frame source lines and locals order included
    assert to_jsonl(from_nl(text, trace.source)) == to_jsonl(trace)
    sentences = text.splitlines()
    assert len(sentences) == len(trace.frames) + 2 + bool(trace.stdout)
    assert all(s.isprintable() for s in sentences)
    return text


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_round_trip_is_exact_on_every_golden_trace(path):
    assert_round_trip(from_jsonl(path.read_text(encoding="utf-8")))


def test_goldens_are_all_there():
    assert len(GOLDENS) >= 12


def test_sentences_read_as_english():
    loops = to_nl(golden("loops")).splitlines()
    assert loops[0] == "Tracing `f` on input `[1, 2, 3, 9, 5]`."
    assert loops[1] == "Line 1: `f` is called with `nums = [1, 2, 3, 9, 5]`."
    assert "Line 4: the loop starts with `i = 0` and `x = 1`." in loops
    assert "Line 4: the loop goes on with `i = 1` and `x = 2`." in loops
    assert "Line 3: `total` becomes `6` (was `0`)." in loops
    assert loops[-2:] == ["Line 14: `f` returns `3`.", "The run returned."]
    exceptions = to_nl(golden("exceptions")).splitlines()
    assert "Line 3: `parse` raises `ValueError('bad: x')`." in exceptions
    assert "Line 11: `ValueError('bad: x')` propagates into `f`." in exceptions
    assert "Line 15: `msg` is set to `'bad: x'`; `e` is deleted." in exceptions
    generators = to_nl(golden("generators")).splitlines()
    assert "Line 4: `evens` yields `0`." in generators
    assert "Line 4: `evens` resumes with `limit = 5` and `n = 0`." in generators
    script = to_nl(golden("script")).splitlines()
    assert script[1] == "Line 1: the script starts."
    assert script[-2] == "It printed escaped `'9\\n'`."
    assert to_nl(golden("uncaught")).endswith("The run raised.\n")


NASTY = [
    "`",
    "``",
    "a`b``c```d",
    "`x`",
    " ",
    "  ",
    " padded ",
    " `",
    "; ",
    "x = 1; y",
    " (was `2`)",
    "..",
    "'" + "x" * 200 + "'<...>",
    "line1\nline2",
    "tab\there",
    "",
    "\u2028",
    "escaped `x`",
    "[['`'], {'k': ('; ', '\\n')}, (1,)]",
    "né ☃",
]


@pytest.mark.parametrize("text", NASTY)
def test_a_span_gives_its_text_back(text):
    r = _Reader(span(text))
    assert r.value() == text
    r.done()


def test_spans_survive_random_text():
    rng = random.Random(0)
    alphabet = ["`", "``", " ", "\n", ";", "=", "(", ")", "'", '"', "\\", "a", "é", "\t", ".."]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        sentence = f"Tracing {span(text)} on input {span(text[::-1])}."
        assert "\n" not in sentence
        r = _Reader(sentence)
        r.expect("Tracing ")
        assert r.value() == text
        r.expect(" on input ")
        assert r.value() == text[::-1]
        r.expect(".")
        r.done()


PROGRAM = "def f(x):\n    y = x\n    z = y\n    return z\n"


def at(event, line, func, depth, locals_=None, arg=None) -> Frame:
    """A frame of PROGRAM, its source line filled in as the tracer would."""
    return Frame(event, line, PROGRAM.splitlines()[line - 1], func, depth, locals_ or {}, arg)


def trace_of(frames: list[Frame], **kw) -> Trace:
    return Trace(source=PROGRAM, entry="f", frames=frames, **kw)


def test_nasty_values_and_names_round_trip():
    frames = [at("call", 1, "f", 0, {"x": NASTY[0]})]
    for i, value in enumerate(NASTY):
        locals_ = {"x": NASTY[0], "y": value, "weird name": value, "": value, "x = y": value}
        if i % 3 == 0:
            del locals_["y"]
        frames.append(at("line", 2 + i % 2, "f", 0, locals_))
    frames.append(at("return", 4, "f", 0, arg=NASTY[3]))
    text = assert_round_trip(trace_of(frames, stdout="a`b\nc", input="'`'"))
    assert "`y` is deleted" in text and "`y` is set to" in text and "becomes" in text


def test_depth_the_stack_does_not_predict_is_stated():
    frames = [
        at("call", 1, "f", 0, {"x": "1"}),
        at("call", 1, "f", 1, {"x": "2"}),
        at("exception", 2, "f", 1, arg="KeyError('k')"),
        at("call", 1, "f", 1, {"x": "3"}),  # caller swallowed it, then called
        at("exception", 2, "f", 1, arg="KeyError('k')"),
        at("line", 3, "f", 0, {"x": "1", "y": "5"}),  # swallowed again
        at("line", 2, "g", 3, {"q": "0"}),  # a jump no stack explains
        at("return", 4, "g", 3, arg="0"),
        at("call", 1, "f", 5, {"x": "9"}),  # deeper than any caller seen
        at("return", 4, "f", 5, arg="9"),
        at("return", 4, "f", 2, arg="0"),
    ]
    text = assert_round_trip(trace_of(frames))
    assert "Line 1, back in `f`: `f` is called with `x = 3`." in text
    assert "Line 3, back in `f`: `y` is set to `5`." in text
    assert "Line 2, at depth 3 in `g`: `q` is set to `0`." in text
    assert "Line 1, at depth 5 in `f`: `f` is called with `x = 9`." in text
    assert "Line 4, at depth 2 in `f`: `f` returns `0`." in text


LEFT_UNSEEN = """
class A:
    def __getattr__(self, name):
        raise AttributeError(name)


def g():
    try:
        yield 1
        yield 2
    finally:
        z = 0


def f():  # << START_OF_TRACE
    ok = hasattr(A(), "x")
    for v in g():
        break
    w = 1
    return ok, v
"""


def test_activations_left_without_a_return_frame_on_a_real_run():
    """An exception swallowed by `hasattr`, a generator closed by `break`:
    the tracer's depths agree with the reader's stack."""
    from opencwm.tracer.api import trace_program

    trace = trace_program(LEFT_UNSEEN, None, "")
    assert trace.status == "returned", trace.reason
    text = assert_round_trip(trace)
    assert "Line 4: `__getattr__` raises `AttributeError('x')`." in text
    assert "Line 9: `g` resumes.\nLine 9: `g` raises `GeneratorExit()`." in text
    assert text.count(", back in `f`: ") == 2


def test_locals_order_is_kept():
    frames = [
        at("call", 1, "f", 0, {"x": "1", "y": "2"}),
        at("line", 2, "f", 0, {"y": "2", "z": "0", "x": "1"}),
    ]
    text = assert_round_trip(trace_of(frames))
    assert "the names are now in the order `y`, `z` and `x`" in text


@pytest.mark.parametrize(
    ("status", "reason", "ending"),
    [
        ("truncated", "timed out after 10 s", "The trace was cut short: `timed out after 10 s`."),
        ("truncated", "", "The trace was cut short: escaped `''`."),
        ("failed", "syntax error at line 1", "The program could not be traced: `syntax error"),
        ("returned", "a note", "The run returned: `a note`."),
    ],
)
def test_unfinished_runs_say_why(status, reason, ending):
    frames = [] if status == "failed" else [at("call", 1, "f", 0, {"x": "1"})]
    text = assert_round_trip(trace_of(frames, status=status, reason=reason))
    assert text.splitlines()[-1].startswith(ending)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Tracing `f`.\nLine 1: `f` is called with `x = 1.\nThe run returned.\n", "sentence 2"),
        (
            "Tracing `f`.\nLine 1: `f` is called with `x = 1`.\n"
            "Line 2: `x` becomes `3` (was `2`).\nThe run returned.\n",
            "sentence 3: 'x' was '1', not '2'",
        ),
        ("Tracing `f`.\nLine 2: nothing changes.\nThe run returned.\n", "outside any call"),
        (
            "Tracing `f`.\nLine 1: `f` is called.\nLine 2, back in `g`: nothing changes.\n"
            "The run returned.\n",
            "not back in 'g'",
        ),
        ("Tracing `f`.\nLine 1: `f` dances.\nThe run returned.\n", "sentence 2"),
        ("Tracing `f`.\nThe run ended well.\n", "sentence 2"),
        ("Tracing `f`.\n", "heading and an ending"),
        ("Tracing escaped `1`.\nThe run returned.\n", "sentence 1: escaped value '1'"),
        ("Tracing `f`.\nLine 1: `f` is called.\nThe run returned. Twice.\n", "sentence 3"),
    ],
)
def test_malformed_narration_names_the_sentence(text, fault):
    with pytest.raises(NlFormatError, match=fault.replace("(", r"\(")):
        parse_nl(text)


def test_cli_writes_nl():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "opencwm",
            "trace",
            str(EXAMPLES / "count_vowels.py"),
            "--input",
            "'ab'",
            "--format",
            "nl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Tracing `count_vowels` on input `'ab'`."
    assert lines[-1] == "The run returned."
    facts = parse_nl(r.stdout)
    assert facts.steps[-1].event == "return" and facts.steps[-1].arg == "{'a': 1}"
