"""The recorder re-renders a container only when it changed: pin that every
kind of in-place change still shows up, frame by frame."""

from opencwm.tracer.api import trace_program

PROGRAM = """
def f():
    xs = [1, 2, 3]
    xs.append(4)
    xs[0] = 9
    xs.sort()
    m = [[0, 0], [0, 0]]
    m[1][0] = 5
    m[0].append(7)
    d = {"a": 1}
    d["a"] = 2
    d["b"] = 3
    t = (1, "x")
    xs[1] = 2.0
    xs[1] = True
    return xs, m, d, t
"""


def test_in_place_changes_are_seen_at_every_line():
    t = trace_program(PROGRAM, "f")
    states = [(f.line, f.locals) for f in t.frames if f.event == "line"]
    after = {line: locals_ for line, locals_ in states}
    assert after[5]["xs"] == "[1, 2, 3, 4]"
    assert after[6]["xs"] == "[9, 2, 3, 4]"
    assert after[7]["xs"] == "[2, 3, 4, 9]"
    assert after[9]["m"] == "[[0, 0], [5, 0]]"
    assert after[10]["m"] == "[[0, 0, 7], [5, 0]]"
    assert after[12]["d"] == "{'a': 2}"
    assert after[13]["d"] == "{'a': 2, 'b': 3}"
    assert after[15]["xs"] == "[2, 2.0, 4, 9]"
    assert after[16]["xs"] == "[2, True, 4, 9]"
    assert t.result == "([2, True, 4, 9], [[0, 0, 7], [5, 0]], {'a': 2, 'b': 3}, (1, 'x'))"
