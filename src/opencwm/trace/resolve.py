"""Placing CWM-text frames back in the program: line number, function, depth.

CWM text carries each frame's source line as text, not its number, and no
call depth. A reader that needs them (the debugger's call stack, metrics by
line) derives them here from the context's syntax tree while walking the
frames in order, keeping a stack of activations:

- a call frame's line is a `def` line (a fresh call) or, for a resumed
  generator, the line it resumes at; the scope is chosen among those on
  that line whose parameters all appear in the frame's locals; the first
  frame of a script (a context with no marked entry) is the module's, even
  when its line 1 is also a `def` line;
- other frames belong to the activation on top of the stack, preferring
  lines of that scope itself, then lines inside it, then the nearest line
  at or after the activation's last one (loops repeat lines);
- a return frame ends its activation; an exception frame that follows
  another exception frame, or whose line is not in the current scope, means
  the previous activation was left by that exception.

In a concurrent trace each actor (task, thread, node) has a stack of its
own, and a frame's depth counts within its actor.

Exact whenever source lines are unique within a scope and no two scopes
open with the same `def` line; ambiguities (two identical lines in one
function, a recursive call site that is also the re-raise line, two
classes' `def done(self):`, of which a call takes the first) are settled
by these preferences: the text names no class, so nothing better is known.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from opencwm.trace.frame import MODULE_ENTRY
from opencwm.trace.source import source_lines, strip_marker

_COMPREHENSIONS = {
    ast.ListComp: "<listcomp>",
    ast.SetComp: "<setcomp>",
    ast.DictComp: "<dictcomp>",
    ast.GeneratorExp: "<genexpr>",
}


@dataclass(eq=False)
class Scope:
    name: str
    head: int  # the line a fresh call frame shows
    first: int
    last: int
    params: frozenset[str] = field(default_factory=frozenset)

    def __contains__(self, line: int) -> bool:
        return self.first <= line <= self.last


def _params(args: ast.arguments) -> frozenset[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return frozenset(names)


def scopes_of(tree: ast.AST, nlines: int) -> list[Scope]:
    """Every code object the program can run, the module first."""
    out = [Scope(MODULE_ENTRY, 1, 1, max(nlines, 1))]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            params = frozenset() if isinstance(node, ast.ClassDef) else _params(node.args)
            out.append(Scope(node.name, node.lineno, first, node.end_lineno, params))
        elif isinstance(node, ast.Lambda):
            out.append(
                Scope("<lambda>", node.lineno, node.lineno, node.end_lineno, _params(node.args))
            )
        elif type(node) in _COMPREHENSIONS:
            name = _COMPREHENSIONS[type(node)]
            out.append(Scope(name, node.lineno, node.lineno, node.end_lineno))
    return out


class Resolver:
    """Walks frames in order; `place` returns (line, function name, depth)."""

    def __init__(self, context: str) -> None:
        self.lines = [strip_marker(line) for line in source_lines(context)]
        try:
            tree = ast.parse("\n".join(self.lines))
            self.scopes = scopes_of(tree, len(self.lines))
        except (SyntaxError, ValueError):
            self.scopes = scopes_of(ast.Module(body=[], type_ignores=[]), len(self.lines))
        self.by_text: dict[str, list[int]] = {}
        for i, text in enumerate(self.lines, 1):
            self.by_text.setdefault(text, []).append(i)
        self.owner = {
            line: min((s for s in self.scopes if line in s), key=lambda s: s.last - s.first)
            for line in range(1, len(self.lines) + 1)
        }
        self.marked = next(
            (i for i, line in enumerate(source_lines(context), 1) if strip_marker(line) != line),
            None,
        )
        self.stack: list[list] = []  # [scope, last line]
        self.prev_event = ""
        self.actor: str | None = None
        self.actors: dict[str | None, tuple[list[list], str]] = {}  # the others' (stack, event)
        self.placed = 0  # frames placed so far

    def place(
        self, event: str, source: str, names: dict[str, str], actor: str | None = None
    ) -> tuple[int, str, int]:
        if actor != self.actor:
            self.actors[self.actor] = (self.stack, self.prev_event)
            self.stack, self.prev_event = self.actors.pop(actor, ([], ""))
            self.actor = actor
        candidates = self.by_text.get(source, [])
        if event == "call" and self.placed == 0 and self.marked is None:
            line = candidates[0] if candidates else 1
            self.stack.append([self.scopes[0], line])  # a script starts with its module
        elif event == "call":
            scope, line = self._callee(candidates, set(names))
            self.stack.append([scope, line])
        else:
            if event == "exception" and self._left_by_exception(candidates):
                self.stack.pop()
            if not self.stack:
                self.stack.append([self.scopes[0], 0])
            line = self._line_in(self.stack[-1], candidates)
            self.stack[-1][1] = line
        scope = self.stack[-1][0]
        depth = len(self.stack) - 1
        if event == "return":
            self.stack.pop()
        self.prev_event = event
        self.placed += 1
        return line, scope.name, depth

    def _callee(self, candidates: list[int], names: set[str]) -> tuple[Scope, int]:
        if not self.stack and self.marked in candidates:  # the entry: its def line is marked
            candidates = [self.marked]
        best, best_score = (self.scopes[0], candidates[0] if candidates else 0), -1
        for line in candidates:
            options = [(s, 1) for s in self.scopes if s.head == line and s is not self.scopes[0]]
            options.append((self.owner[line], 0))  # a generator resuming at this line
            for scope, fresh in options:
                score = 4 * (scope.params <= names) + fresh
                if score > best_score:
                    best, best_score = (scope, line), score
        return best

    def _left_by_exception(self, candidates: list[int]) -> bool:
        if len(self.stack) <= 1:
            return False
        if self.prev_event == "exception":
            return True
        top = self.stack[-1][0]
        return not any(self.owner[c] is top for c in candidates)

    def _line_in(self, frame: list, candidates: list[int]) -> int:
        if not candidates:
            return 0
        scope, last = frame

        def rank(line: int) -> tuple:
            return (self.owner[line] is scope, line in scope, line >= last, -abs(line - last))

        return max(candidates, key=rank)
