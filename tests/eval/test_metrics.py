"""Every metric on hand-made trace pairs, with the figures worked out by hand.

The real trace is f(1) of this program (line numbers on the left):

    1 def g(a):
    2     b = a * 2
    3     return b
    4 def f(x):
    5     y = g(x)
    6     z = [y]
    7     return z
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from opencwm.eval.metrics import (
    Activations,
    Scores,
    action_match,
    changed_vars,
    frame_match,
    length_bucket,
    output_match,
    output_type,
    score_rollout,
    score_step,
    state_match,
    steps_to_first_error,
    trace_match,
)
from opencwm.trace.frame import Frame, Trace

SOURCE = (
    "def g(a):\n    b = a * 2\n    return b\n"
    "def f(x):  # << START_OF_TRACE\n    y = g(x)\n    z = [y]\n    return z\n"
)
REAL = [
    Frame("call", 4, "def f(x):", "f", 0, {"x": "1"}),
    Frame("line", 5, "    y = g(x)", "f", 0, {"x": "1"}),
    Frame("call", 1, "def g(a):", "g", 1, {"a": "1"}),
    Frame("line", 2, "    b = a * 2", "g", 1, {"a": "1"}),
    Frame("line", 3, "    return b", "g", 1, {"a": "1", "b": "2"}),
    Frame("return", 3, "    return b", "g", 1, {}, "2"),
    Frame("line", 6, "    z = [y]", "f", 0, {"x": "1", "y": "2"}),
    Frame("line", 7, "    return z", "f", 0, {"x": "1", "y": "2", "z": "[2]"}),
    Frame("return", 7, "    return z", "f", 0, {}, "[2]"),
]


def trace(frames: list[Frame], status: str = "returned") -> Trace:
    return Trace(SOURCE, "f", list(frames), status)  # type: ignore[arg-type]


def with_locals(frame: Frame, **values: str) -> Frame:
    return replace(frame, locals={**frame.locals, **values})


# --- one frame ---------------------------------------------------------------------


def test_frame_matches_compare_what_the_model_writes():
    true = REAL[7]
    assert frame_match(true, true)
    reordered = replace(true, locals=dict(reversed(true.locals.items())))
    assert frame_match(true, reordered)  # locals are a dict: order does not count
    assert frame_match(true, replace(true, line=99, func="?", depth=3))  # derived, not written
    wrong_value = with_locals(true, z="[3]")
    assert not state_match(true, wrong_value) and action_match(true, wrong_value)
    wrong_line = replace(true, source="    z = [y]")
    assert state_match(true, wrong_line) and not action_match(true, wrong_line)
    wrong_event = replace(true, event="call")
    assert state_match(true, wrong_event) and not action_match(true, wrong_event)
    assert not state_match(REAL[8], replace(REAL[8], arg="[3]"))  # a return's state is its value
    for f in (state_match, action_match, frame_match):
        assert not f(true, None)  # an invalid step is wrong on every count


def test_changed_vars_are_measured_within_the_activation():
    acts = Activations()
    prevs = []
    for f in REAL:
        prevs.append(acts.previous(f))
        acts.add(f)
    changed = [changed_vars(f, p) for f, p in zip(REAL, prevs, strict=True)]
    assert changed == [
        {"x": "1"},  # a call frame: its arguments are new
        {},
        {"a": "1"},
        {},
        {"b": "2"},
        {},  # return frames carry no locals
        {"y": "2"},  # against f's line 5, not g's last frame: x did not change
        {"z": "[2]"},
        {},
    ]
    assert prevs[6] is REAL[1]
    assert changed_vars(None, REAL[1]) == {}


def test_an_exception_frame_is_not_a_state_to_compare_against():
    acts = Activations(REAL[:2])
    acts.add(Frame("exception", 5, "    y = g(x)", "f", 0, {}, "ValueError()"))
    after = Frame("line", 6, "    z = [y]", "f", 0, {"x": "1"})
    assert acts.previous(after) is REAL[1]


# --- teacher-forced steps --------------------------------------------------------------


def test_score_step_right_wrong_and_partly_right():
    scores = Scores()
    acts = Activations(REAL[:6])
    true = REAL[6]  # changes y to '2'
    assert score_step(scores, true, true, acts, valid=True, source="s", length="9-16")
    # the model rewrites x (spurious) and gets y's name but not its value
    pred = replace(true, locals={"x": "5", "y": "3"})
    assert not score_step(scores, true, pred, acts, valid=True, source="s", length="9-16")
    assert scores.value("valid") == 1.0
    assert scores.value("state") == 0.5
    assert scores.value("action") == 1.0
    assert scores.value("frame") == 0.5
    assert scores.value("changed_precision") == pytest.approx(2 / 3)  # y, y | y, x
    assert scores.value("changed_recall") == 1.0  # y found both times
    assert scores.value("changed_accuracy") == 0.5  # its value right once
    p, r = 2 / 3, 1.0
    assert scores.value("changed_f1") == pytest.approx(2 * p * r / (p + r))
    assert scores.value("changed_accuracy", "type", "int") == 0.5
    assert scores.value("changed_accuracy", "source", "s") == 0.5


def test_invalid_and_ended_steps_count_as_wrong():
    scores = Scores()
    acts = Activations(REAL[:7])
    true = REAL[7]  # changes z to '[2]'
    score_step(scores, true, None, acts, valid=False)  # text that did not parse
    score_step(scores, true, None, acts, valid=True)  # <|end_of_text|> too early
    assert scores.value("valid") == 0.5
    for metric in ("state", "action", "frame", "changed_recall", "changed_accuracy"):
        assert scores.value(metric) == 0.0, metric
    assert scores.value("changed_precision") is None  # nothing was predicted
    assert scores.value("changed_f1") == 0.0
    assert scores.count("changed_accuracy", "type", "list") == 2


def test_a_predicted_call_frame_makes_all_its_locals_changes():
    scores = Scores()
    acts = Activations(REAL[:2])
    true = REAL[2]
    pred = Frame("call", 1, "def g(a):", "g", 1, {"a": "1", "q": "'x'"})
    score_step(scores, true, pred, acts, valid=True)
    assert scores.value("changed_precision") == 0.5
    assert scores.value("changed_precision", "type", "str") == 0.0
    assert scores.value("changed_recall") == scores.value("changed_accuracy") == 1.0


# --- free-running rollouts -------------------------------------------------------------


def test_identical_rollout():
    scores = Scores()
    figures = score_rollout(scores, trace(REAL), trace(REAL), [True] * 8)
    assert figures == {
        "finished": True,
        "output": True,
        "trace": True,
        "steps_to_first_error": 8,
    }
    assert scores.value("valid") == 1.0
    assert scores.value("output", "type", "list") == 1.0


def test_rollout_that_diverges_then_finishes():
    imagined = [*REAL[:4], with_locals(REAL[4], b="3"), replace(REAL[5], arg="3")]
    imagined += [with_locals(f, y="3") for f in REAL[6:7]]
    imagined += [with_locals(REAL[7], y="3", z="[3]"), replace(REAL[8], arg="[3]")]
    real, fake = trace(REAL), trace(imagined)
    assert steps_to_first_error(real, fake) == 3  # frames 1-3 right, 4 wrong
    assert not trace_match(real, fake)
    assert not output_match(real, fake)
    assert steps_to_first_error(real, fake, given=0) == 4


def test_rollout_cut_short_by_an_invalid_frame():
    scores = Scores()
    fake = trace(REAL[:5], status="truncated")
    figures = score_rollout(scores, trace(REAL), fake, [True] * 4 + [False])
    assert figures == {
        "finished": False,
        "output": False,
        "trace": False,
        "steps_to_first_error": 4,  # frames 1-4 right, then nothing
    }
    assert scores.value("valid") == 0.8


def test_rollout_that_does_not_stop_after_an_uncaught_exception():
    raised = [*REAL[:5], Frame("exception", 3, "    return b", "g", 1, {}, "E()")]
    raised.append(Frame("exception", 5, "    y = g(x)", "f", 0, {}, "E()"))
    real = trace(raised, status="raised")
    longer = trace([*raised, REAL[6]], status="truncated")
    assert steps_to_first_error(real, longer) == len(raised) - 1
    assert not trace_match(real, longer) and not output_match(real, longer)
    assert output_match(real, trace(raised, status="raised"))
    assert output_type(real) == "exception"
    assert not output_match(real, trace(REAL))  # returned where it should raise


def test_length_mismatch_either_way():
    real = trace(REAL)
    shorter = trace(REAL[:-1], status="truncated")
    assert not trace_match(real, shorter) and not trace_match(shorter, real)
    assert steps_to_first_error(real, shorter) == 7
    assert steps_to_first_error(real, trace(REAL[:1], status="truncated")) == 0


# --- aggregation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "bucket"),
    [(1, "1-8"), (8, "1-8"), (9, "9-16"), (17, "17-32"), (1024, "513-1024"), (1025, ">1024")],
)
def test_length_bucket(n, bucket):
    assert length_bucket(n) == bucket


def test_scores_are_micro_averaged_and_split():
    scores = Scores()
    for hit in (1, 1, 0):
        scores.add("state", hit, source="synthetic", length="1-8")
    scores.add("state", 0, source="humaneval", length="129-256")
    scores.add("state", 1, source="humaneval", length="17-32")
    scores.add("steps_to_first_error", 4, source="synthetic")
    scores.add("steps_to_first_error", 1, source="synthetic")
    summary = scores.summary(["state", "steps_to_first_error", "output", "changed_f1"])
    state = summary["state"]
    assert state["all"] == {"value": 0.6, "n": 5}
    assert state["by_source"]["synthetic"] == {"value": pytest.approx(2 / 3), "n": 3}
    assert list(state["by_length"]) == ["1-8", "17-32", "129-256"]  # numeric order
    assert "by_type" not in state
    assert summary["steps_to_first_error"]["all"]["value"] == 2.5  # a mean
    assert summary["output"] == {"all": {"value": None, "n": 0}}
    assert summary["changed_f1"]["all"]["value"] is None
    with pytest.raises(AssertionError):
        scores.add("changed_f1", 1)  # derived, never added
