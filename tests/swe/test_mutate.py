"""Each mutation operator, on code written to have one site of it."""

from __future__ import annotations

import pytest

from opencwm.swe.mutate import OPERATORS, mutate, sites

CASES = {
    "flip_operator": ("def f(a, b):\n    return a + b\n", "    return a - b\n"),
    "swap_operands": ("def f(a, b):\n    return a - b\n", "    return b - a\n"),
    "change_constant": ("def f(a):\n    return a * 2\n", "    return a * 3\n"),
    "remove_condition": (
        "def f(a):\n    if a < 0:\n        a = 0\n    return a\n",
        "def f(a):\n    a = 0\n    return a\n",
    ),
    "remove_loop": (
        "def f(xs):\n    n = 0\n    for x in xs:\n        n += x\n    return n\n",
        "def f(xs):\n    n = 0\n    return n\n",
    ),
    "remove_assignment": ("def f(a):\n    b = a\n    return a\n", "def f(a):\n    return a\n"),
    "invert_if": (
        "def f(a):\n    if a < 0:\n        return 0\n    return a\n",
        "    if not (a < 0):\n",
    ),
    "shuffle_statements": (
        "def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n",
        "    c = b * 2\n    b = a + 1\n",
    ),
}


@pytest.mark.parametrize("operator", OPERATORS)
def test_operator(operator):
    source, expected = CASES[operator]
    assert sites(source, operator) == 1
    mutated = mutate(source, operator, 0)
    assert mutated is not None and expected in mutated, mutated
    compile(mutated, "<m>", "exec")


def test_module_level_code_docstrings_and_annotations_are_left_alone():
    source = '"""Doc 1."""\nX = 1 + 2\n\ndef f(a: int = 3) -> int:\n    """Doc."""\n    return a\n'
    assert all(sites(source, op) == 0 for op in ("flip_operator", "change_constant"))
    assert sites(source, "shuffle_statements") == 0


def test_out_of_range_or_no_op_sites_give_none():
    assert mutate(CASES["flip_operator"][0], "flip_operator", 5) is None
    assert mutate("def f():\n    return a - a\n", "swap_operands", 0) is None  # same text


def test_removing_the_only_statement_keeps_the_code_valid():
    mutated = mutate("def f(xs):\n    for x in xs:\n        print(x)\n", "remove_loop", 0)
    assert mutated is not None and "pass" in mutated


def test_a_guard_that_is_an_elif_is_not_flattened_into_invalid_code():
    source = "def f(a):\n    if a:\n        return 1\n    elif a is None:\n        return 2\n"
    for i in range(sites(source, "remove_condition")):
        mutated = mutate(source, "remove_condition", i)
        if mutated is not None:
            compile(mutated, "<m>", "exec")
