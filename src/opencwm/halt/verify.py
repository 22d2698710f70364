"""Checking a halting label against a real trace, independently of how the
program was made.

"halts": the run returned or raised within its budget. "loops": the run
was cut by a limit and the frames prove it would never end, by one of

1. an exact repeat of the whole state (`repeat.find_repeat`, a proof);
2. **drift**: a loop whose exit test compares two numbers, where the gap
   between them is on the staying side at every visit of the loop head and
   never moves towards the exit, over the last `DRIFT_VISITS` visits, in a
   loop body with no `break`, `return` or `raise`. The test itself is read
   from the program (a `while A op B:` head, or a function whose first
   statement is `if A op B: return ...`, for recursion) and evaluated on
   the recorded locals. A finite trace cannot show a trend goes on for
   ever: that part is the construction's (each iteration changes the gap
   by the same step and nothing else touches it), and the check is that
   the real run behaves as the construction says.

Nothing here imports the generator; `tests/halt` uses this module to
re-check a built corpus with fresh traces.
"""

from __future__ import annotations

import ast
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass

from opencwm.halt.repeat import find_repeat
from opencwm.trace.frame import Frame, Trace

DRIFT_VISITS = 20
"""Visits of a loop head whose gap must behave, for a drift proof."""

LABELS = ("halts", "loops")


class LabelError(ValueError):
    """A label the trace does not bear out; the message says why."""


@dataclass(frozen=True)
class Exit:
    """One loop's exit test: the loop goes on while `left op right` holds."""

    line: int
    event: str  # "line" (a while head) or "call" (a recursive function's entry)
    left: ast.expr
    right: ast.expr
    op: type[ast.cmpop]
    text: str


def check_label(label: str, trace: Trace) -> str:
    """Evidence that `label` is right for the real `trace`, or LabelError."""
    if label not in LABELS:
        raise LabelError(f"unknown label {label!r}; known: {', '.join(LABELS)}")
    n = len(trace.frames)
    if label == "halts":
        if trace.status == "returned":
            return f"returned {trace.result} after {n} frames"
        if trace.status == "raised":
            return f"raised {trace.result} after {n} frames"
        raise LabelError(f"labelled halts but the run {trace.status}: {trace.reason}")
    if trace.status != "truncated":
        raise LabelError(f"labelled loops but the run {trace.status} ({trace.result})")
    proof = prove_loops(trace.source, trace.frames)
    if proof is None:
        raise LabelError(f"labelled loops, cut after {n} frames, but no proof it never ends")
    return proof


def prove_loops(source: str, frames: list[Frame]) -> str | None:
    """A one-line proof that the run of these frames never ends, or None."""
    rep = find_repeat(frames, source, proof=True)
    if rep is not None:
        return rep.describe()
    return find_drift(source, frames)


def exits(source: str) -> list[Exit]:
    """Every exit test of the program the drift check can read."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.While) and _one_compare(node.test) and not _leaves(node.body):
            t = node.test
            text = lines[node.lineno - 1].strip()
            out.append(Exit(node.lineno, "line", t.left, t.comparators[0], type(t.ops[0]), text))
        elif isinstance(node, ast.FunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.If)
                and _one_compare(first.test)
                and isinstance(first.body[0], ast.Return)
            ):
                t = first.test
                op = _NEGATE.get(type(t.ops[0]))
                if op is not None:  # recursion goes on while the base case's test fails
                    text = lines[first.lineno - 1].strip()
                    out.append(Exit(node.lineno, "call", t.left, t.comparators[0], op, text))
    return out


def _one_compare(test: ast.expr) -> bool:
    return isinstance(test, ast.Compare) and len(test.ops) == 1


def _leaves(body: list[ast.stmt]) -> bool:
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Break | ast.Return | ast.Raise):
                return True
    return False


_NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
}


def find_drift(source: str, frames: list[Frame]) -> str | None:
    """A drift proof (module docstring, 2.) for some loop of the program."""
    for ex in exits(source):
        visits = [f for f in frames if f.line == ex.line and f.event == ex.event]
        gaps = []
        for f in visits:
            try:
                gaps.append(evaluate(ex.left, f.locals) - evaluate(ex.right, f.locals))
            except (EvalError, TypeError):
                gaps = []  # a value the checker cannot read: start again after it
        gaps = gaps[-DRIFT_VISITS:]
        if len(gaps) == DRIFT_VISITS and _stays(ex.op, gaps):
            shown = ", ".join(str(g) for g in gaps[:3])
            return (
                f"`{ex.text}` (line {ex.line}): over the last {DRIFT_VISITS} visits the gap "
                f"{ast.unparse(ex.left)} - {ast.unparse(ex.right)} = {shown}, …, {gaps[-1]} "
                "stays on the looping side and never moves towards the exit"
            )
    return None


def _stays(op: type[ast.cmpop], gaps: list[int]) -> bool:
    """The loop goes on at every visit and the gap never nears the exit."""
    steps = [b - a for a, b in itertools.pairwise(gaps)]
    if op is ast.NotEq:
        if 0 in gaps:
            return False
        sign = 1 if gaps[0] > 0 else -1
        return all(g * sign > 0 for g in gaps) and all(s * sign >= 0 for s in steps)
    if op in (ast.Lt, ast.LtE):
        return all(g < 0 if op is ast.Lt else g <= 0 for g in gaps) and all(s <= 0 for s in steps)
    if op in (ast.Gt, ast.GtE):
        return all(g > 0 if op is ast.Gt else g >= 0 for g in gaps) and all(s >= 0 for s in steps)
    return False


class EvalError(ValueError):
    """An expression outside the checker's small language."""


_BINOPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def evaluate(node: ast.expr, locals_: dict[str, str]) -> int:
    """An integer expression over recorded locals, without running code:
    names, integer literals, + - * // %, unary minus, len(x), abs(x), x[i].
    Values are read from their reprs with `ast.literal_eval`."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name | ast.Subscript):
        return _value(node, locals_)  # type: ignore[return-value]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](evaluate(node.left, locals_), evaluate(node.right, locals_))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -evaluate(node.operand, locals_)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("len", "abs")
        and len(node.args) == 1
        and not node.keywords
    ):
        value = _value(node.args[0], locals_)
        return len(value) if node.func.id == "len" else abs(value)  # type: ignore[arg-type]
    raise EvalError(f"cannot evaluate {ast.unparse(node)}")


def _value(node: ast.expr, locals_: dict[str, str]) -> object:
    if isinstance(node, ast.Subscript):
        seq = _value(node.value, locals_)
        try:
            return seq[evaluate(node.slice, locals_)]  # type: ignore[index]
        except (IndexError, KeyError, TypeError):
            raise EvalError(f"cannot evaluate {ast.unparse(node)}") from None
    if isinstance(node, ast.Name):
        if node.id not in locals_:
            raise EvalError(f"{node.id} is not a local")
        try:
            return ast.literal_eval(locals_[node.id])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise EvalError(f"{node.id}'s value is not a literal") from None
    return evaluate(node, locals_)
