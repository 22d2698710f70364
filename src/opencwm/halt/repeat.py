"""Exact state-repeat detection: the one way a finite trace proves that a
program never halts.

A deterministic program whose *whole* state comes back to a state it was
in before will go round the same cycle forever. A trace shows only part
of the state (the current activation's locals, as reprs), so a repeat of
what the trace shows is a proof only when nothing else can differ. Two
kinds of repeat are recognised:

- **state**: the same activation is at the same line with the same locals
  twice. Suspended callers cannot change meanwhile, and everything the
  activation can reach is in its locals, so it is in the same state and
  never returns.
- **re-entry**: a function is called with the same arguments while an
  earlier call of it with those arguments is still running. The later
  call computes exactly what the earlier one did, so it calls itself again
  without end (CPython stops this with RecursionError; see docs/halting.md
  for why it is labelled "loops").

`state_gaps` lists, statically, what would make the visible state
incomplete; with `proof=True` a repeat is only reported where there is
none. What it guards against: module-level mutable state and `global` /
`nonlocal`, attribute stores (class or function attributes as counters),
mutable default arguments, imports (random, time, itertools counters),
builtins that read the outside world (`id`, `input`, `open`, `eval`, ...),
hidden interpreter state at a line (the iterator of a `for`, a `with`'s
exit, an exception being handled, the value stack of a continuation line),
values whose repr is not the value (objects, capped reprs, nan) and two
names for one mutable object (aliasing cannot be seen in reprs, so a
state where two mutable values print the same is not used as proof).
What it does not model: C extensions with hidden state reached through a
value's methods (no such value passes the literal check) and a program
that reads its own source.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from opencwm.trace.frame import Frame

OUTSIDE_WORLD = frozenset(
    {
        "id", "input", "open", "eval", "exec", "compile", "globals", "locals", "vars",
        "__import__", "breakpoint", "setattr", "delattr", "getattr", "hash", "object",
        "type", "super", "memoryview",
    }
)  # fmt: skip
"""Builtins whose result depends on state a trace does not show."""


@dataclass(frozen=True)
class Repeat:
    """Where a trace comes back to a state it was in. Frame indices are
    0-based positions in the trace."""

    kind: str  # "state" (same activation, line and locals) or "reentry" (same call)
    first: int
    second: int
    line: int
    func: str
    state: dict[str, str] = field(default_factory=dict)
    cycle: tuple[dict[str, str], ...] = ()
    """The repeating activation's locals through one cycle, each change once."""

    @property
    def period(self) -> int:
        return self.second - self.first

    def describe(self) -> str:
        """One line of evidence, e.g. "state at line 4 (f) repeats every 3
        frames: {i: 3} → {i: 0} → {i: 3}"."""
        if self.kind == "reentry":
            args = ", ".join(f"{k}={v}" for k, v in self.state.items())
            return (
                f"{self.func}({args}) calls itself again with the same arguments "
                f"{self.period} frames later, while the first call is still running: "
                "it can only recurse forever"
            )
        shown = [_short(s) for s in self.cycle[:4]]
        if len(self.cycle) > 4:
            shown.append("…")
        path = " → ".join([*shown, _short(self.state)])
        return f"state at line {self.line} ({self.func}) repeats every {self.period} frames: {path}"


def _short(state: dict[str, str], cap: int = 80) -> str:
    text = "{" + ", ".join(f"{k}: {v}" for k, v in state.items()) + "}"
    return text if len(text) <= cap else text[: cap - 1] + "…}"


def state_gaps(source: str) -> tuple[str | None, frozenset[int]]:
    """(why the visible state may be incomplete anywhere, or None; the line
    numbers where a line frame's locals are an activation's whole state).

    The second part excludes lines with hidden interpreter state: inside a
    `for` or `with` body, in an exception handler or `finally`, and lines
    that continue a statement begun above."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return f"the program does not parse ({exc.__class__.__name__})", frozenset()
    for node in ast.walk(tree):
        why = _node_gap(node)
        if why:
            return why, frozenset()
    for stmt in tree.body:
        why = _module_statement_gap(stmt)
        if why:
            return why, frozenset()
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            _collect_clean_lines(node.body, lines)
    return None, frozenset(lines)


def _module_statement_gap(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.FunctionDef):
        if stmt.decorator_list:
            return f"function {stmt.name} is decorated (a wrapper may keep state)"
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return None  # a docstring
    if isinstance(stmt, ast.Pass):
        return None
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
        if _immutable_literal(stmt.value):
            return None
        return f"line {stmt.lineno}: a module-level value that is not an immutable literal"
    return f"line {stmt.lineno}: module-level code other than functions and constants"


def _node_gap(node: ast.AST) -> str | None:
    line = getattr(node, "lineno", "?")
    if isinstance(node, ast.Global | ast.Nonlocal):
        return f"line {line}: global/nonlocal state"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return f"line {line}: an import (modules may keep state)"
    if isinstance(node, ast.ClassDef | ast.AsyncFunctionDef | ast.Await):
        return f"line {line}: classes and coroutines are not modelled"
    if isinstance(node, ast.Yield | ast.YieldFrom):
        return f"line {line}: a generator (its suspended state is not in the trace)"
    if isinstance(node, ast.Attribute) and (
        isinstance(node.ctx, ast.Store | ast.Del) or node.attr.startswith("__")
    ):
        return f"line {line}: attribute state (.{node.attr})"
    if isinstance(node, ast.Name) and node.id in OUTSIDE_WORLD:
        return f"line {line}: {node.id}() reads state outside the trace"
    if isinstance(node, ast.FunctionDef | ast.Lambda):
        args = node.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            if not _immutable_literal(default):
                return f"line {line}: a mutable or computed default argument"
    return None


def _immutable_literal(node: ast.expr) -> bool:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return _immutable(value)


def _immutable(value: object) -> bool:
    if isinstance(value, tuple | frozenset):
        return all(_immutable(v) for v in value)
    return value is None or isinstance(value, bool | int | float | complex | str | bytes)


_HIDDEN = (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)


def _collect_clean_lines(body: list[ast.stmt], out: set[int]) -> None:
    """First lines of statements not nested in a construct that keeps
    interpreter state between lines (nested functions are their own scope)."""
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef):
            _collect_clean_lines(stmt.body, out)
            continue
        if isinstance(stmt, _HIDDEN):
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.FunctionDef) and sub is not stmt:
                    _collect_clean_lines(sub.body, out)
            continue
        out.add(stmt.lineno)
        if isinstance(stmt, ast.Try | ast.TryStar | ast.If | ast.While):
            _collect_clean_lines(stmt.body, out)
            _collect_clean_lines(stmt.orelse, out)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                _collect_clean_lines(case.body, out)


def literal_state(locals_: dict[str, str]) -> bool:
    """Every value is a plain literal (its repr is the value) and no mutable
    value is printed twice (which could be one object under two names)."""
    seen: set[str] = set()
    for text in locals_.values():
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        for sub in _mutable_parts(value):
            key = repr(sub)
            if key in seen:
                return False
            seen.add(key)
    return True


def _mutable_parts(value: object) -> list[object]:
    out: list[object] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list | set | dict):
            out.append(v)
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            stack.extend(v)
    return out


def find_repeat(
    frames: list[Frame], source: str | None = None, proof: bool = True
) -> Repeat | None:
    """The first exact repeat in `frames`, or None.

    With `proof` (the default), `source` is required and a repeat is only
    reported where the visible state is the whole state (`state_gaps`,
    `literal_state`), so a hit proves non-termination. Without it, any
    repeat of what the frames show counts: what the world-model predictor
    uses on imagined frames, where it is evidence, not proof."""
    clean: frozenset[int] | None = None
    if proof:
        if source is None:
            raise ValueError("find_repeat(proof=True) needs the program source")
        gap, clean = state_gaps(source)
        if gap is not None:
            return None
    stack: list[int] = []  # activation ids by depth
    calls: dict[int, tuple[str, tuple, int, dict[str, str]]] = {}  # id -> (func, args, index, args)
    seen: dict[tuple, int] = {}
    line_frames: dict[int, list[int]] = {}  # activation id -> indices of its line frames
    next_id = 0
    for i, f in enumerate(frames):
        d = max(f.depth, 0)
        if f.event == "call":
            args = tuple(sorted(f.locals.items()))
            for aid in stack[:d]:
                func, prior, first, shown = calls[aid]
                if func == f.func and prior == args and _usable(f.locals, proof):
                    return Repeat("reentry", first, i, f.line, f.func, dict(shown))
            del stack[d:]
            stack.append(next_id)
            calls[next_id] = (f.func, args, i, f.locals)
            next_id += 1
            continue
        if f.event == "return":
            del stack[d:]
            continue
        if f.event != "line" or d >= len(stack):
            continue
        del stack[d + 1 :]
        aid = stack[d]
        line_frames.setdefault(aid, []).append(i)
        if clean is not None and f.line not in clean:
            continue
        key = (aid, f.line, tuple(sorted(f.locals.items())))
        if key in seen:
            if not _usable(f.locals, proof):
                continue
            first = seen[key]
            cycle: list[dict[str, str]] = []
            for j in line_frames[aid]:
                if first <= j < i and (not cycle or frames[j].locals != cycle[-1]):
                    cycle.append(frames[j].locals)
            return Repeat("state", first, i, f.line, f.func, dict(f.locals), tuple(cycle))
        seen[key] = i
    return None


def _usable(locals_: dict[str, str], proof: bool) -> bool:
    return not proof or literal_state(locals_)
