"""The CRUXEval grader: Python equality, run in the sandbox; each hostile
prediction attacks one property and must fail without harming the host."""

from __future__ import annotations

import pytest

from opencwm.eval.grade import Grade, grade
from opencwm.sandbox.result import Limits

QUICK = Limits(timeout_s=1.0, memory_mb=256)


@pytest.mark.parametrize(
    ("expected", "prediction"),
    [
        ("[1, 2]", "[1,2]"),
        ("1", "1.0"),
        ("(0, 1)", "(0,1)"),
        ("{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}"),
        ("'ab'", '"ab"'),
        ("Counter({'a': 2})", "{'a': 2}"),
        ("[\n1,\n2]", "[1, 2]  # a comment"),
    ],
)
def test_equal_values_pass(sandbox, expected, prediction):
    assert grade(expected, prediction, sandbox=sandbox) == Grade(True, "")


@pytest.mark.parametrize(
    ("expected", "prediction", "reason"),
    [
        ("[1, 2]", "[2, 1]", "not equal"),
        ("'1'", "1", "not equal"),
        ("1", "[1", "not a Python expression"),
        ("1", "x = 1", "not a Python expression"),
        ("1", "", "not a Python expression"),
        ("1", "undefined_name", "raised NameError"),
        ("1", "f(1)", "raised NameError"),  # the program is not loaded: no calling f
    ],
)
def test_wrong_and_invalid_predictions_fail(sandbox, expected, prediction, reason):
    result = grade(expected, prediction, sandbox=sandbox)
    assert not result.passed and reason in result.reason


def test_no_prediction_is_wrong_without_running():
    assert grade("1", None, sandbox=None) == Grade(False, "no prediction")


@pytest.mark.parametrize(
    "prediction",
    [
        "any(iter(int, 1))",  # never ends
        "'a' * 10**10",  # memory
        "10**10**8",  # CPU in one C call
        "__import__('os').kill(__import__('os').getppid(), 9)",  # the worker
        "__import__('os').kill(-1, 9)",  # everything it can reach
        "__import__('os')._exit(0)",  # no verdict at all
        "open('/tmp/x', 'w').write('x') and __import__('os').fork()",  # files, processes
        "__import__('socket').create_connection(('1.1.1.1', 80), 1)",  # network
    ],
)
def test_hostile_predictions_fail_and_leave_the_host_unharmed(
    sandbox, assert_host_unharmed, prediction
):
    result = grade("1", prediction, sandbox=sandbox, limits=QUICK)
    assert not result.passed, result
    assert result.reason
    assert_host_unharmed()
