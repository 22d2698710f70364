"""`opencwm eval output`: CRUXEval-O with a world model.

Each problem is `{"code", "input", "output", "id"}` with entry `f`. The
model rolls out `f(input)` from the real call frame (`world.rollout`);
its prediction is the value the imagined `f` returns, graded by executing
`assert OUTPUT == PREDICTION` in the sandbox (`grade.py`). A rollout that
raises, writes an invalid frame or never returns has no prediction and
counts as wrong: CRUXEval's outputs are always return values. One greedy
sample per problem, so the score is pass@1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.eval import EvalError
from opencwm.eval.grade import Grade, grade
from opencwm.sandbox.pool import Sandbox
from opencwm.world.backends import Backend
from opencwm.world.rollout import RolloutConfig, rollout

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    code: str
    input: str
    output: str


@dataclass(frozen=True)
class OutputEvalConfig:
    data: Path
    limit: int | None = None
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    model: str = ""
    """What was evaluated, for the report."""


def load_problems(path: Path, limit: int | None = None) -> list[Problem]:
    """CRUXEval-format lines; a malformed one stops with its line number."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from None
    problems = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            problem = Problem(str(row.get("id", n)), row["code"], row["input"], row["output"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EvalError(
                f"{path}:{n}: expected a JSON object with 'code', 'input' and 'output'"
            ) from None
        problems.append(problem)
        if limit and len(problems) >= limit:
            break
    if not problems:
        raise EvalError(f"{path} holds no problems")
    return problems


def solve(
    problem: Problem, backend: Backend, config: RolloutConfig, sandbox: Sandbox | None
) -> tuple[dict, Grade]:
    """One problem: (the item for the report, its grade)."""
    trace, steps = rollout(problem.code, "f", problem.input, backend, config)
    prediction = trace.result if trace.status == "returned" else None
    if prediction is None:
        why = {
            "raised": f"the imagined call raised {trace.result}",
            "failed": f"could not start: {trace.reason}",
        }.get(trace.status, f"no return: {trace.reason}")
        result = Grade(False, why)
    else:
        result = grade(problem.output, prediction, sandbox=sandbox)
    item = {
        "id": problem.id,
        "expected": problem.output,
        "prediction": prediction,
        "passed": result.passed,
        "reason": result.reason,
        "frames": len(trace.frames),
        "valid_steps": sum(not s.error for s in steps),
        "steps": len(steps),
    }
    return item, result


def evaluate_outputs(
    config: OutputEvalConfig,
    backend: Backend,
    *,
    sandbox: Sandbox | None = None,
    on_start: Callable[[int], None] | None = None,
    on_item: Callable[[dict], None] | None = None,
) -> dict:
    """Predict and grade every problem; returns the report (JSON-ready)."""
    problems = load_problems(config.data, config.limit)
    if on_start:
        on_start(len(problems))
    items = []
    start = time.monotonic()
    for problem in problems:
        item, _ = solve(problem, backend, config.rollout, sandbox)
        items.append(item)
        if on_item:
            on_item(item)
    passed = sum(i["passed"] for i in items)
    return {
        "format": "opencwm.eval.output",
        "version": FORMAT_VERSION,
        "model": config.model,
        "data": str(config.data),
        "problems": len(items),
        "passed": passed,
        "pass@1": passed / len(items),
        "seconds": round(time.monotonic() - start, 2),
        "items": items,
    }


def pass_line(report: dict) -> str:
    """The summary line `eval output` ends with."""
    return f"pass@1: {report['pass@1']:.3f} ({report['passed']}/{report['problems']})"
