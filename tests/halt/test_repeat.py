"""The exact state-repeat detector on real traces: it proves loops that
cycle, and stays silent where the state grows or may be incomplete."""

from __future__ import annotations

from halt_helpers import CYCLE, FOR_SAME_VALUES, GROWS, RECURSES, run

from opencwm.halt.repeat import find_repeat, literal_state, state_gaps
from opencwm.trace.frame import Frame


def test_a_cycle_is_found_with_its_period_and_states(sandbox):
    trace = run(CYCLE, "f", "5", sandbox=sandbox)
    assert trace.status == "truncated"
    rep = find_repeat(trace.frames, trace.source)
    assert rep is not None and rep.kind == "state"
    assert rep.line == 3 and rep.period == 8  # 4 iterations x (while line, body line)
    assert rep.state == {"n": "5", "i": "0"}
    assert rep.describe().startswith("state at line 3 (f) repeats every 8 frames: {n: 5, i: 0}")
    assert "{n: 5, i: 3} → {n: 5, i: 6} → {n: 5, i: 9}" in rep.describe()


def test_a_halting_run_of_the_same_loop_has_no_repeat(sandbox):
    trace = run(CYCLE, "f", "6", sandbox=sandbox)
    assert trace.status == "returned"
    assert find_repeat(trace.frames, trace.source) is None


def test_growing_state_never_counts_as_a_repeat(sandbox):
    trace = run(GROWS, "f", "10", frames=2000, sandbox=sandbox)
    assert trace.status == "truncated" and len(trace.frames) == 2000
    assert find_repeat(trace.frames, trace.source) is None
    assert find_repeat(trace.frames, proof=False) is None


def test_recursion_into_the_same_call_is_a_reentry(sandbox):
    trace = run(RECURSES, "ping", "2", sandbox=sandbox)
    rep = find_repeat(trace.frames, trace.source)
    assert rep is not None and rep.kind == "reentry"
    assert (rep.func, rep.state, rep.first, rep.second) == ("ping", {"n": "2"}, 0, 4)
    assert "ping(n=2) calls itself again with the same arguments" in rep.describe()


def test_recursion_with_changing_arguments_is_no_reentry(sandbox):
    src = "def f(n):\n    return f(n + 1)\n"
    trace = run(src, "f", "0", sandbox=sandbox)
    assert trace.status == "truncated"
    assert find_repeat(trace.frames, trace.source) is None


def test_a_for_loop_hides_its_iterator_so_no_proof(sandbox):
    trace = run(FOR_SAME_VALUES, "f", "[1, 1, 1, 1]", sandbox=sandbox)
    assert trace.status == "returned"
    assert find_repeat(trace.frames, trace.source) is None  # proof mode: line 4 is not clean
    # what the trace shows does repeat: without proof mode it is (wrong) evidence
    assert find_repeat(trace.frames, proof=False) is not None


def test_hidden_state_in_the_program_blocks_proofs():
    for src, why in [
        ("import random\ndef f():\n    pass\n", "import"),
        ("C = []\ndef f():\n    pass\n", "module-level value"),
        ("def f():\n    global k\n", "global"),
        ("def f(acc=[]):\n    pass\n", "default"),
        ("def f(g):\n    g.count = 1\n", "attribute"),
        ("def f(x):\n    return id(x)\n", "id()"),
        ("def f(\n", "does not parse"),
    ]:
        gap, _ = state_gaps(src)
        assert gap is not None and why in gap, (src, gap)
    gap, clean = state_gaps(CYCLE)
    assert gap is None and clean == {2, 3, 4, 5}


def test_a_callee_with_hidden_state_cannot_fake_a_repeat(sandbox):
    src = (
        "COUNT = [0]\n\n\ndef tick():\n    COUNT[0] += 1\n    return COUNT[0]\n\n\n"
        "def f():\n    while tick() < 10:\n        pass\n    return 1\n"
    )
    trace = run(src, "f", "", sandbox=sandbox)
    assert trace.status == "returned"
    assert find_repeat(trace.frames, proof=False) is not None  # the locals ({}) repeat
    assert find_repeat(trace.frames, trace.source) is None  # but the program has global state


def test_values_must_be_literals_without_possible_aliases():
    assert literal_state({"i": "3", "s": "'ab'", "xs": "[1, [2]]"})
    assert not literal_state({"o": "<object object at 0x1>"})
    assert not literal_state({"s": "'aaaa<...>"})
    assert not literal_state({"a": "[1]", "b": "[1]"})  # maybe one list under two names
    assert not literal_state({"a": "[[1], [1]]"})
    assert literal_state({"a": "(1,)", "b": "(1,)"})  # immutable: sharing cannot matter


def test_imagined_frames_repeat_without_a_source():
    f = [Frame("call", 1, "def f(n):", "f", 0, {"n": "1"})]
    for _ in range(2):
        f.append(Frame("line", 2, "while n:", "f", 0, {"n": "1"}))
        f.append(Frame("line", 3, "n = n", "f", 0, {"n": "1"}))
    rep = find_repeat(f, proof=False)
    assert rep is not None and (rep.first, rep.second, rep.period) == (1, 3, 2)
    # a frame of a different activation at the same line is not the same state
    g = [*f[:2], Frame("return", 2, "", "f", 0, {}, "1"), Frame("call", 1, "", "f", 0, {"n": "1"})]
    g.append(Frame("line", 2, "while n:", "f", 0, {"n": "1"}))
    assert find_repeat(g, proof=False) is None
