"""Each convention docs/trace-format.md states, pinned on a real trace."""

import pytest

from opencwm.trace.cwm import to_cwm
from opencwm.tracer.api import trace_program


def events(trace):
    return [(f.event, f.func, f.line, f.depth) for f in trace.frames]


def test_yield_is_a_return_frame_and_resumption_a_call_frame():
    src = "def g():\n    yield 1\n    yield 2\n\ndef f():\n    return list(g())\n"
    t = trace_program(src, "f")
    gen = [(e, line) for e, func, line, _ in events(t) if func == "g"]
    assert gen == [
        ("call", 1),
        ("line", 2),
        ("return", 2),
        ("call", 2),
        ("line", 3),
        ("return", 3),
        ("call", 3),
        ("return", 3),
    ]
    assert [f.arg for f in t.frames if f.func == "g" and f.event == "return"] == ["1", "2", "None"]


@pytest.mark.parametrize(
    "kind,name",
    [
        ("[x for x in xs]", "<listcomp>"),
        ("{x for x in xs}", "<setcomp>"),
        ("{x: 1 for x in xs}", "<dictcomp>"),
        ("list(x for x in xs)", "<genexpr>"),
    ],
)
def test_comprehensions_are_traced_as_functions_on_311(kind, name):
    t = trace_program(f"def f(xs):\n    return {kind}\n", "f", "[1, 2]")
    inner = [f for f in t.frames if f.func == name]
    assert inner[0].event == "call" and inner[0].depth == 1
    assert inner[-1].event == "return"
    assert all(not k.startswith(".") for f in inner for k in f.locals)


def test_propagating_exception_ends_the_activation_without_a_return_frame():
    src = "def g():\n    raise KeyError('k')\n\ndef f():\n    g()\n    return 1\n"
    t = trace_program(src, "f")
    assert events(t)[-3:] == [
        ("line", "g", 2, 1),
        ("exception", "g", 2, 1),
        ("exception", "f", 5, 0),
    ]
    assert t.status == "raised" and t.result == "KeyError('k')"
    assert to_cwm(t).endswith("<|end_of_text|>")


def test_caught_exception_continues_in_the_same_activation():
    src = "def f():\n    try:\n        1 / 0\n    except ZeroDivisionError:\n        return 2\n"
    t = trace_program(src, "f")
    assert [(e, line) for e, _, line, _ in events(t)][2:] == [
        ("line", 3),
        ("exception", 3),
        ("line", 4),
        ("line", 5),
        ("return", 5),
    ]


def test_script_entry_is_the_module_body():
    src = "import sys\nx = int(sys.stdin.read())\ny = x * 2\nprint(y)\n"
    t = trace_program(src, stdin="21")
    assert t.entry == "<module>" and t.frames[0].event == "call" and t.frames[0].line == 1
    assert t.stdout == "42\n" and "# << START_OF_TRACE" not in t.source
    assert all(not k.startswith("__") for f in t.frames for k in f.locals)


def test_decorated_function_call_frame_is_at_its_def_line():
    src = (
        "def deco(fn):\n    return fn\n\n@deco\ndef g(x):\n    return x\n\n"
        "def f():\n    return g(1)\n"
    )
    t = trace_program(src, "f")
    call = next(f for f in t.frames if f.func == "g")
    assert (call.event, call.line, call.source) == ("call", 5, "def g(x):")


def test_locals_are_the_state_before_the_line_runs():
    t = trace_program("def f():\n    a = 1\n    a = 2\n    return a\n", "f")
    lines = [(f.line, f.locals.get("a")) for f in t.frames if f.event == "line"]
    assert lines == [(2, None), (3, "1"), (4, "2")]


def test_marker_is_placed_on_the_entry_only():
    src = "def g():  # << START_OF_TRACE\n    return 1\n\ndef f():\n    return g()\n"
    t = trace_program(src, "f")
    assert t.source.splitlines()[0] == "def g():"
    assert t.source.splitlines()[3] == "def f():  # << START_OF_TRACE"
    assert t.frames[0].source == "def f():"


def test_object_addresses_are_numbered_in_order_of_appearance():
    src = "class A:\n    pass\n\ndef f():\n    a = A()\n    b = A()\n    return [a, b, a]\n"
    t = trace_program(src, "f")
    assert (
        t.result == "[<__program__.A object at 0x1>, <__program__.A object at 0x2>, "
        "<__program__.A object at 0x1>]"
    )


def test_long_values_are_capped_with_a_marker():
    from opencwm.tracer.api import TraceConfig

    t = trace_program(
        "def f():\n    s = 'x' * 1000\n    return s\n", "f", config=TraceConfig(repr_cap=50)
    )
    assert t.result == "'" + "x" * 49 + "<...>"
