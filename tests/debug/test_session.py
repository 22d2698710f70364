"""The debugger session as a state machine: scripted moves, exact frames.

The fake model (`OracleBackend`) plays the real run under the debugger's
moves, so every expectation here is the real interpreter's; scripted
replies stand in for a model that gets things wrong."""

from __future__ import annotations

import pytest
from debug_oracle import FlakyBackend, OracleBackend
from sample_programs import NESTED, RAISES, SRC

from opencwm.debug.session import Session, SessionConfig, call_input, literal_repr
from opencwm.debug.worlds import DebugError
from opencwm.trace import tokens as T
from opencwm.tracer.api import trace_program
from opencwm.world.backends import BackendError
from opencwm.world.fake import ScriptedBackend, replay_replies


@pytest.fixture(scope="module")
def runs(sandbox):
    return {
        "total": trace_program(SRC, "total", "3", sandbox=sandbox),
        "squares": trace_program(NESTED, "squares", "[2, 3]", sandbox=sandbox),
        "ratio": trace_program(RAISES, "ratio", "0", sandbox=sandbox),
    }


@pytest.fixture
def imagine(runs, sandbox):
    """A session over one of `runs`, imagined by the oracle."""

    def make(name: str, **kw) -> Session:
        real = runs[name]
        source = {"total": SRC, "squares": NESTED, "ratio": RAISES}[name]
        backend = kw.pop("backend", None) or OracleBackend(real)
        return Session(
            source, name, kw.pop("input", real.input), backend=backend, sandbox=sandbox, **kw
        )

    return make


def where(s: Session) -> list[tuple[str, int]]:
    return [(f.event, f.line) for f in s.frames]


def test_step_walks_the_real_run_frame_by_frame(imagine, runs):
    s = imagine("squares")
    assert where(s) == [("call", 5)]
    while not s.ended:
        assert s.step().added == 1
    assert s.frames == runs["squares"].frames
    assert s.ending() == "returned [4, 9]"
    with pytest.raises(DebugError, match="the execution has ended"):
        s.step()


def test_next_steps_over_a_call_by_forcing_its_return(imagine):
    s = imagine("squares")
    for _ in range(3):
        s.step()
    assert s.current.source.strip() == "out.append(sq(x))"
    moved = s.next()
    assert moved.added == 3 and moved.why == ""
    call, ret, line = s.frames[-3:]
    assert (call.event, call.func, call.depth) == ("call", "sq", 1)
    assert (ret.event, ret.arg, ret.depth) == ("return", "4", 1)  # the callee's body skipped
    assert (line.event, line.line, line.locals["out"]) == ("line", 7, "[4]")
    assert s.forced[-3:] == [None, "return", None]
    assert s.backend.prompts[-2].endswith(T.RETURN_SEP)


def test_out_runs_to_the_return_of_the_current_function(imagine):
    s = imagine("squares")
    for _ in range(4):
        s.step()
    assert (s.current.event, s.current.func) == ("call", "sq")
    assert s.out().why == ""
    assert (s.current.event, s.current.func, s.current.arg) == ("return", "sq", "4")
    s.out()  # from a return frame: out of the caller, stepping over the second sq
    assert (s.current.event, s.current.func, s.current.arg) == ("return", "squares", "[4, 9]")
    assert [f.func for f in s.frames if f.event == "line" and f.depth == 1] == ["sq"]


def test_continue_stops_at_breakpoints_then_runs_to_the_end(imagine):
    s = imagine("squares")
    assert s.add_break("2") == 2
    assert s.add_break("sq") == 1  # a function: its call frames stop at its def line
    assert s.cont().why == "breakpoint"
    assert (s.current.event, s.current.locals) == ("call", {"x": "2"})
    assert s.cont().why == "breakpoint"
    assert (s.current.event, s.current.line) == ("line", 2)
    assert s.clear_break("1") == [1]
    assert s.cont().why == "breakpoint" and s.current.locals == {"x": "3"}
    assert s.clear_break() == [2]
    assert s.cont().why == "ended" and s.ending() == "returned [4, 9]"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("0", "outside the program"),
        ("99", "outside the program"),
        ("three", "no function 'three'"),
        ("3", "blank or a comment"),
        ("2.5", "expected a line number"),
    ],
)
def test_bad_breakpoints_are_refused(imagine, spec, error):
    s = imagine("squares")
    with pytest.raises(DebugError, match=error):
        s.add_break(spec)
    assert s.breakpoints == set()


def test_clearing_a_missing_breakpoint_is_an_error(imagine):
    with pytest.raises(DebugError, match="no breakpoint at line 2"):
        imagine("squares").clear_break("2")


def test_set_changes_the_state_and_prediction_continues_from_it(imagine):
    s = imagine("total")
    s.step()
    s.step()
    assert s.current.source.strip() == "for i in range(n):" and s.current.locals["s"] == "0"
    assert s.set_value("s", "10") == "10"
    assert s.current.locals == {"n": "3", "s": "10"}
    s.step()  # the model writes s as ".." (unchanged): it resolves to the edited value
    assert s.current.locals == {"n": "3", "s": "10", "i": "0"}
    assert '"s": "10"' in s.backend.prompts[-1]


def test_back_undoes_a_set_then_frames(imagine):
    s = imagine("squares")
    s.step()
    s.step()
    before = list(s.frames)
    s.set_value("out", "[7]")
    assert s.current.locals["out"] == "[7]"
    assert s.back() == "edit"
    assert s.frames == before and s.current.locals["out"] == "[]"
    assert s.back() == "frame"
    assert len(s.frames) == 2
    s.step()  # the model is asked again from the restored state
    assert s.frames == before
    s.back()
    s.back()
    with pytest.raises(DebugError, match="at the first frame"):
        s.back()


def test_back_after_the_end_reopens_the_execution(imagine, runs):
    s = imagine("total")
    s.cont()
    assert s.ended
    assert s.back() == "frame"  # the return frame
    assert not s.ended and s.current.line == 5
    s.step()
    assert s.ended and s.frames == runs["total"].frames


@pytest.mark.parametrize(
    ("name", "expr", "error"),
    [
        ("s", "foo(", "not a Python literal"),
        ("s", "__import__('os')", "not a Python literal"),
        ("1x", "2", "not a variable name"),
        ("for", "2", "not a variable name"),
    ],
)
def test_set_refuses_what_it_cannot_write(imagine, name, expr, error):
    s = imagine("total")
    s.step()
    with pytest.raises(DebugError, match=error):
        s.set_value(name, expr)
    assert s.history == [("frame",)]


def test_set_on_a_return_frame_is_refused(imagine):
    s = imagine("total")
    s.cont()
    with pytest.raises(DebugError, match="return frame"):
        s.set_value("s", "1")


def test_values_are_full_and_print_names_what_is_known(imagine):
    s = imagine("total")
    for _ in range(4):
        s.step()
    assert s.values() == {"n": "3", "s": "0", "i": "0"}  # ".." in the text, full here
    assert s.values("i") == {"i": "0"}
    with pytest.raises(DebugError, match="no local 'zz' here; known: i, n, s"):
        s.values("zz")
    s.cont()
    assert s.current.event == "return" and s.values()["s"] == "3"  # the activation's last


def test_where_and_list(imagine):
    s = imagine("squares")
    for _ in range(5):
        s.step()
    assert [(e.func, e.line) for e in s.where()] == [("squares", 8), ("sq", 2)]
    listing = s.listing()
    assert listing[0] == (1, "def sq(x):") and (2, "    return x * x") in listing
    assert [n for n, _ in s.listing(8, context=1)] == [7, 8, 9]
    with pytest.raises(DebugError, match="outside the program"):
        s.listing(40)


def test_truth_marks_the_values_and_lines_the_model_got_wrong(imagine, runs):
    real = runs["total"]
    replies = replay_replies(real)
    replies[2] = replies[2].replace('"i": "0"', '"i": "1"')  # line 4, first time round
    replies[3] = replies[3].replace("for i in range(n):", "return s")  # a wrong line
    s = imagine("total", backend=ScriptedBackend(replies))
    assert s.set_truth(True) == "truth on: the real run returned 3 after 11 frames"
    for _ in range(4):
        s.step()
    views = s.views()
    assert [bool(v.disagreement) for v in views] == [False, False, False, True, True]
    assert views[3].disagreement.names == ("i",) and not views[3].disagreement.line
    assert views[4].disagreement.line and views[4].real.line == 3
    assert views[4].frame.line == 5
    s.set_truth(False)
    assert all(v.real is None for v in s.views())


def test_truth_pairs_frames_by_moves_across_a_step_over(imagine, runs):
    s = imagine("squares")
    s.set_truth(True)
    for _ in range(3):
        s.step()
    s.next()
    views = s.views()
    assert all(v.real == v.frame and not v.disagreement for v in views)
    assert views[-2].real == runs["squares"].frames[6]  # the forced return: the body skipped


def test_after_an_edit_the_frames_are_counterfactual(imagine):
    s = imagine("total", input="3")
    s.set_truth(True)
    s.step()
    s.step()
    s.set_value("s", "10")
    s.step()
    views = s.views()
    assert [v.counterfactual for v in views] == [False, False, True, True]
    assert views[2].real is None and views[1].real is not None
    s.back()
    s.back()  # the edit undone: the real run stands beside every frame again
    assert all(v.real is not None and not v.counterfactual for v in s.views())


def test_editing_the_call_frame_runs_the_real_program_on_the_new_arguments(imagine):
    s = imagine("total")
    s.set_value("n", "2")
    s.set_truth(True)
    assert s.truth_input() == "2"
    assert s.truth_trace().result == "1"
    assert not s.views()[0].counterfactual and not s.views()[0].disagreement


def test_an_invalid_frame_is_kept_with_its_raw_text_and_resampled(imagine, runs):
    replies = replay_replies(runs["total"])
    backend = ScriptedBackend(["I think s becomes 0", *replies])
    s = imagine("total", backend=backend)
    moved = s.step()
    assert (moved.added, moved.why) == (0, "invalid")
    assert s.invalid.raw == "I think s becomes 0" and "frame_sep" in s.invalid.error
    assert len(s.frames) == 1
    s.step()  # asked again, sampling: greedy would write the same text
    assert backend.samplings[-1].temperature == 0.8 and backend.samplings[-1].seed == 1
    assert s.invalid is None and s.current.line == 2
    s.step()
    assert backend.samplings[-1].temperature == 0.0  # back to the session's sampling


def test_a_failing_backend_changes_nothing_and_a_retry_works(imagine, runs):
    s = imagine("total", backend=FlakyBackend(OracleBackend(runs["total"]), failures=2))
    with pytest.raises(BackendError, match="did not answer"):
        s.step()
    with pytest.raises(BackendError):
        s.next()
    assert len(s.frames) == 1 and s.history == [] and s.invalid is None
    s.step()
    assert s.current.line == 2


def test_without_input_the_model_invents_the_arguments(runs, sandbox):
    s = Session(SRC, "total", None, backend=OracleBackend(runs["total"]), sandbox=sandbox)
    assert s.invented and s.frames[0].locals == {"n": "3"}
    assert s.backend.prompts[0].endswith(T.CALL_SEP)
    with pytest.raises(DebugError, match="at the first frame"):
        s.back()
    assert s.truth_input() == "3"


def test_reset_on_new_arguments_and_resampling(imagine):
    s = imagine("total")
    s.step()
    s.add_break("4")
    assert s.reset("2") == "started again on total(2)"
    assert where(s) == [("call", 1)] and s.frames[0].locals == {"n": "2"}
    assert s.history == [] and s.breakpoints == {4}  # breakpoints survive a reset
    assert s.reset().startswith("resampled (seed 1, temperature 0.8)")
    s.step()
    assert s.backend.samplings[-1].seed == 1 and s.backend.samplings[-1].temperature == 0.8
    with pytest.raises(DebugError, match="bad input"):
        s.reset("1,,")


def test_the_real_world_steps_through_the_tracer(runs, sandbox):
    s = Session(NESTED, "squares", "[2, 3]", sandbox=sandbox)
    assert s.real_world
    for _ in range(3):
        s.step()
    s.next()
    assert [(f.event, f.line) for f in s.frames[-3:]] == [("call", 1), ("return", 2), ("line", 7)]
    with pytest.raises(DebugError, match="cannot take an edited state"):
        s.set_value("out", "[1]")
    with pytest.raises(DebugError, match="real run already"):
        s.set_truth(True)
    s.cont()
    assert s.ending() == "returned [4, 9]"
    s.reset()
    s.set_value("xs", "[5]")  # the call frame: the program runs again on xs=[5]
    s.cont()
    assert s.ending() == "returned [25]"


def test_real_world_steps_over_a_call_that_raises(sandbox):
    s = Session(RAISES, "ratio", "0", sandbox=sandbox)
    s.step()
    s.step()
    s.next()  # over helper, which raises: its exception frame, then the caller's
    assert [(f.event, f.func) for f in s.frames[-3:]] == [
        ("call", "helper"),
        ("exception", "helper"),
        ("exception", "ratio"),
    ]
    assert s.ended and s.ending().startswith("raised ZeroDivisionError")


def test_the_frame_limit_stops_a_runaway_continue(imagine):
    s = imagine("total", config=SessionConfig(max_frames=4))
    assert s.cont().why == "frame limit reached (4 frames)"
    with pytest.raises(DebugError, match="frame limit"):
        s.step()


@pytest.mark.parametrize(
    ("source", "entry", "input", "error"),
    [
        ("def f(:\n", None, "1", "syntax error at line 1"),
        (SRC, "nope", "1", "no top-level function 'nope'"),
        (SRC, "total", "1,,", "bad input"),
        (SRC, "total", "1, 2", "does not fit total()"),
    ],
)
def test_bad_programs_and_arguments_are_one_line_errors(source, entry, input, error, sandbox):
    with pytest.raises(DebugError, match=error) as info:
        Session(source, entry, input, backend=ScriptedBackend([]), sandbox=sandbox)
    assert "\n" not in str(info.value)


def test_helpers():
    assert literal_repr(" [1,  2] ") == "[1, 2]"
    import ast

    tree = ast.parse("def f(a, /, b, *c, d, **e):\n    pass\n")
    values = {"a": "1", "b": "'x'", "c": "(2,)", "d": "[]", "e": "{}"}
    assert call_input(tree, "f", values) == "1, 'x', *(2,), d=[], **{}"
    assert call_input(tree, "f", {"a": "1"}) is None
