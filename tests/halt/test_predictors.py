"""The three predictors, with the real sandbox and deterministic fake models:
proofs, "unknown", garbage from the model, bad programs and arguments."""

from __future__ import annotations

import pytest
from halt_helpers import CYCLE, GROWS, RECURSES, run

from opencwm.halt.calibrate import FEATURES, Calibration
from opencwm.halt.predictors import (
    ExecBudget,
    HaltError,
    ImagineBudget,
    Verdict,
    constant,
    execute,
    imagine,
)
from opencwm.trace import tokens as T
from opencwm.world.fake import ScriptedBackend, perfect_backend, replay_replies

FAST = ExecBudget(timeout_s=5.0, max_frames=2_000)


def test_execution_proves_halting_and_cycling_and_admits_ignorance(sandbox):
    v = execute(CYCLE, "f", "6", FAST, sandbox)
    assert (v.label, v.p_halts) == ("halts", 1.0) and v.evidence == "returned 6 after 9 frames"
    v = execute(CYCLE, "f", "5", FAST, sandbox)
    assert (v.label, v.p_halts) == ("loops", 0.0)
    assert v.evidence.startswith("proven: state at line 3 (f) repeats every 8 frames")
    v = execute(RECURSES, "ping", "1", FAST, sandbox)
    assert v.label == "loops" and "calls itself again" in v.evidence
    v = execute(GROWS, "f", "10", FAST, sandbox)  # grows for ever: no proof possible
    assert (v.label, v.p_halts) == ("unknown", 0.5)
    assert "frame limit" in v.evidence and v.frames == 2_000


def test_execution_raising_counts_as_halting(sandbox):
    v = execute("def f(xs):\n    return xs[5]\n", "f", "[1]", FAST, sandbox)
    assert v.label == "halts" and v.evidence.startswith("raised IndexError")


def test_hostile_programs_end_as_outcomes(sandbox, assert_host_unharmed):
    fork = "import os\ndef f():\n    while True:\n        os.fork()\n"
    v = execute(fork, "f", "", ExecBudget(timeout_s=3.0), sandbox)
    assert v.label == "unknown" and "fork" in v.evidence
    sleeper = "import time\ndef f():\n    time.sleep(60)\n"
    v = execute(sleeper, "f", "", ExecBudget(timeout_s=0.5), sandbox)
    assert v.label == "unknown" and v.seconds < 10
    hog = "def f():\n    x = []\n    while True:\n        x.append('a' * 10**6)\n"
    v = execute(hog, "f", "", ExecBudget(timeout_s=5.0, max_frames=10**6), sandbox)
    assert v.label in ("unknown", "halts")  # MemoryError may be raised: the program ended
    assert_host_unharmed()


@pytest.mark.parametrize(
    ("code", "entry", "input", "message"),
    [
        ("def f(:\n", "f", "1", "syntax"),
        ("def f(n):\n    return n\n", "g", "1", "g"),
        ("def f(n):\n    return n\n", "f", "1, (", "argument"),
        ("def f(n):\n    return n\n", "f", "1, 2", "does not fit f()"),
    ],
)
def test_bad_programs_and_arguments_are_one_line_errors(code, entry, input, message, sandbox):
    for ask in (
        lambda: execute(code, entry, input, FAST, sandbox),
        lambda: imagine(code, entry, input, ScriptedBackend([])),
    ):
        with pytest.raises(HaltError) as err:
            ask()
        text = str(err.value)
        assert "\n" not in text and message.lower() in text.lower(), text


def test_constant_always_says_halts():
    v = constant("anything", None, "")
    assert (v.predictor, v.label, v.p_halts) == ("constant", "halts", 1.0)


def test_a_perfect_model_halts_where_the_program_halts(sandbox):
    trace = run(CYCLE, "f", "6", sandbox=sandbox)
    v = imagine(CYCLE, "f", "6", perfect_backend(trace))
    assert (v.predictor, v.label) == ("world", "halts")
    assert v.evidence == "imagined return 6 after 9 frames"
    assert v.p_halts == 0.9  # uncalibrated: the rule, with some doubt


def test_a_perfect_model_loops_where_the_state_repeats(sandbox):
    trace = run(CYCLE, "f", "5", frames=40, sandbox=sandbox)
    backend = ScriptedBackend(replay_replies(trace), after="garbage")
    v = imagine(CYCLE, "f", "5", backend, ImagineBudget(max_frames=40))
    assert v.label == "loops" and v.p_halts == 0.1
    assert v.evidence.startswith("imagined state at line 3 (f) repeats every 8 frames")
    assert v.frames == 11  # stopped at the first repeat, not at the budget
    assert len(backend.prompts) == 10


def test_garbage_from_the_model_is_retried_then_unknown():
    backend = ScriptedBackend(["no frame here", "<|line_sep|>{not json", "???"], after="x")
    v = imagine(CYCLE, "f", "5", backend, ImagineBudget(retries=2))
    assert v.label == "unknown" and v.p_halts == 0.5
    assert v.evidence.startswith("gave up after 3 unreadable frames")
    assert len(backend.prompts) == 3
    assert [s.temperature for s in backend.samplings] == [0.0, 0.8, 0.8]  # retries sample


def test_a_model_that_never_ends_within_budget(sandbox):
    trace = run(GROWS, "f", "10", frames=40, sandbox=sandbox)
    backend = ScriptedBackend(replay_replies(trace))
    v = imagine(GROWS, "f", "10", backend, ImagineBudget(max_frames=30))
    assert v.label == "unknown" and "no end and no repeat in 30 imagined frames" in v.evidence
    assert v.features["frames_used"] == 1.0 and v.features["growth"] > 0
    calib = Calibration([0.0] * len(FEATURES), -2.0, "test", 1)
    v = imagine(
        GROWS,
        "f",
        "10",
        ScriptedBackend(replay_replies(trace)),
        ImagineBudget(max_frames=30),
        calib,
    )
    assert v.label == "loops" and v.p_halts == pytest.approx(0.1192, abs=1e-3)
    assert "calibrated" in v.evidence


def test_end_of_text_straight_away_is_an_imagined_halt():
    v = imagine(CYCLE, "f", "5", ScriptedBackend([T.END_OF_TEXT]))
    assert v.label == "halts" and "ended the trace after 1 frames" in v.evidence


def test_verdicts_check_their_fields():
    with pytest.raises(AssertionError):
        Verdict("x", "maybe", 0.5, "")
    with pytest.raises(AssertionError):
        Verdict("x", "halts", 1.5, "")
