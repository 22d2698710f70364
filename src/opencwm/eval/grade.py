"""Grading a predicted output the way CRUXEval does: `assert OUTPUT == PREDICTION`.

Both texts are evaluated as Python expressions and compared with Python
equality, so `[1,2]` equals `[1, 2]` and `1.0` equals `1`; a prediction
that is not a Python expression is wrong. The evaluation happens in the
sandbox (`JOB`, a job of `opencwm.sandbox`), because a prediction is text
from a model and evaluating it runs code. The names CRUXEval's harness
imports that a value's repr can mention (`Counter`, `deque`, `inf`, ...)
are defined; the program under test is not loaded, so a prediction cannot
get its answer by calling `f`.

What the sandbox protects against: a prediction that hangs, exhausts
memory, forks, touches files or the network, or kills its own process
(each is a failed grade, and the host and the next grade are unaffected).
What it does not: a prediction written to game the grader — an object
whose `__eq__` always says True, or code that writes a forged verdict to
the result pipe — can pass. Predictions come from the model under test,
and CRUXEval's own harness has the same trust model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from opencwm.sandbox.pool import Sandbox
from opencwm.sandbox.result import Limits

JOB = "opencwm.eval.grade:run"
LIMITS = Limits(timeout_s=5.0, memory_mb=512)


@dataclass(frozen=True, slots=True)
class Grade:
    passed: bool
    reason: str = ""
    """Why it failed: not equal, not an expression, raised, timed out, ..."""


def grade(
    expected: str,
    prediction: str | None,
    *,
    sandbox: Sandbox | None = None,
    limits: Limits = LIMITS,
) -> Grade:
    """Whether `prediction` equals `expected` (both Python expression texts)."""
    if prediction is None:
        return Grade(False, "no prediction")
    if sandbox is None:
        from opencwm.tracer.api import default_sandbox

        sandbox = default_sandbox()
    result = sandbox.run(JOB, {"expected": expected, "prediction": prediction}, limits)
    verdict = _verdict(result.output)
    if verdict is None:
        how = result.describe()
        if how == "finished":
            how = "the prediction ended the process"
        return Grade(False, f"the check gave no verdict: {how}")
    return Grade(verdict["passed"], verdict["reason"])


def _verdict(output: bytes) -> dict | None:
    lines = output.strip().splitlines()
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        return None
    if (
        not isinstance(verdict, dict)
        or not isinstance(verdict.get("passed"), bool)
        or not isinstance(verdict.get("reason"), str)
    ):
        return None
    return verdict


# --- the sandbox side ------------------------------------------------------------


def _namespace() -> dict:
    """Builtins plus the names CRUXEval's harness imports that reprs use."""
    import builtins
    import collections
    import math

    ns: dict = {"__builtins__": builtins, "math": math, "collections": collections}
    for name in ("Counter", "OrderedDict", "defaultdict", "deque"):
        ns[name] = getattr(collections, name)
    ns["inf"], ns["nan"] = math.inf, math.nan
    return ns


def _short(exc: BaseException) -> str:
    from opencwm.trace.values import safe_repr

    return safe_repr(exc, 120)


def _check(expected: str, prediction: str) -> tuple[bool, str]:
    ns = _namespace()
    try:
        want = eval(compile(expected, "<output>", "eval", dont_inherit=True), ns)
    except BaseException as exc:
        return False, f"the expected output does not evaluate: {type(exc).__name__}"
    try:
        code = compile(prediction, "<prediction>", "eval", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return False, f"the prediction is not a Python expression: {type(exc).__name__}"
    try:
        got = eval(code, ns)
        if want == got:  # CRUXEval: assert OUTPUT == PREDICTION
            return True, ""
    except BaseException as exc:
        return False, f"the prediction raised {_short(exc)}"
    return False, "not equal"


def run(payload: dict, out_fd: int, timeout_s: float) -> None:
    """Sandbox job: write one JSON line {"passed", "reason"} on `out_fd`."""
    passed, reason = _check(payload["expected"], payload["prediction"])
    line = json.dumps({"passed": passed, "reason": reason}, ensure_ascii=False)
    os.write(out_fd, line.encode() + b"\n")
