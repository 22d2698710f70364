"""Where control can go next: the lines a frame may name after a line.

Once a line of a function has run, the next line event of the same
activation is at a line its control flow can reach without running another
line: the next statement, the first line of a block the statement opens,
the header of a loop it closes (`for`/`while`, and `with`, whose exit is
an event of its own line), the statement after a loop it leaves, an
`except` clause that may catch what it raised, a `finally`. A return or
exception event names the line that was running. A small model's
commonest remaining mistake is to jump to a line control cannot reach, so
decoding (`constrain.py`) allows only these.

The sets are supersets, built from the syntax tree without running
anything: a statement's every line counts as running (multi-line
statements report continuation lines), an `if` may go either way, any
line of a `try` body may jump to each of its handlers. They were checked
against every frame of the corpora built here (`docs/evaluation.md`).
"""

from __future__ import annotations

import ast

_BLOCKS = ("body", "orelse", "finalbody")
_LOOPS = ast.For | ast.AsyncFor | ast.While
_INLINE = ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp


class Flow:
    """Successor lines of every line of a program."""

    def __init__(self, tree: ast.AST) -> None:
        self.parent: dict[ast.AST, ast.AST] = {}
        self.stmt_at: dict[int, list[ast.stmt]] = {}  # line -> statements on it
        self.inline: set[int] = (
            set()
        )  # lines of lambdas and comprehensions (activations of their own)
        for node in ast.walk(tree):
            if isinstance(node, _INLINE):
                self.inline.update(range(node.lineno, node.end_lineno + 1))
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
            if isinstance(node, ast.stmt | ast.ExceptHandler):
                for line in _own_lines(node):
                    self.stmt_at.setdefault(line, []).append(node)

    def running(self, line: int) -> set[int]:
        """Lines that may report the statement(s) running at `line`."""
        out = {line}
        for stmt in self.stmt_at.get(line, []):
            out.update(_own_lines(stmt))
        return out

    def after(self, line: int) -> set[int]:
        """Lines the next line event may be at once `line` has run."""
        running = self.running(line)
        # a multi-line statement goes back and forth; a comprehension or lambda loops on its line
        out = running if len(running) > 1 or line in self.inline else set()
        for stmt in self.stmt_at.get(line, []):
            out |= self._after(stmt)
        return out

    def entry(self, func: ast.AST) -> set[int]:
        """Lines the first line event of a fresh call of `func` may be at."""
        body = list(getattr(func, "body", []))
        if len(body) > 1 and _is_docstring(body[0]):
            body = body[1:]  # a function's docstring compiles to nothing
        return self._enter(body)

    def _after(self, stmt: ast.stmt | ast.ExceptHandler) -> set[int]:
        out: set[int] = set()
        if isinstance(stmt, ast.Continue | ast.Break):
            loop = self._loop_of(stmt)
            if loop is not None:
                out |= self._head(loop) if isinstance(stmt, ast.Continue) else self._next(loop)
            out |= self._unwind(stmt)
            return out
        if isinstance(stmt, ast.Return | ast.Raise):
            return self._unwind(stmt) | self._handlers(stmt)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return self._next(stmt) | self._handlers(stmt)  # defining runs no body here
        if isinstance(stmt, ast.ExceptHandler):  # it matches, or the search goes on
            owner = self.parent[stmt]
            out = self._enter(stmt.body) | {h.lineno for h in owner.handlers}
            return out | self._enter(owner.finalbody) | self._unwind(owner) | self._handlers(owner)
        for field in ("body", "orelse", "handlers", "finalbody", "cases"):
            block = getattr(stmt, field, None)
            if not block:
                continue
            if field == "handlers":
                for handler in block:
                    out |= {handler.lineno} | self._enter(handler.body)
            elif field == "cases":
                for case in block:
                    out |= {case.pattern.lineno} | self._enter(case.body)
            else:
                out |= self._enter(block)
        out |= self._next(stmt) | self._handlers(stmt)
        if isinstance(stmt, _LOOPS | ast.With | ast.AsyncWith):
            out |= self._head(stmt)  # a loop re-tests; a `with` exits on its own line
        return out

    def _enter(self, block: list[ast.stmt]) -> set[int]:
        """The first line events of running `block` from its start."""
        if not block:
            return set()
        first = block[0]
        out = set(_own_lines(first))  # a multi-line statement may report any of its lines first
        if isinstance(first, ast.Try | ast.TryStar):  # `try:` itself may report nothing
            out |= self._enter(first.body)
        if isinstance(first, ast.Pass | ast.Expr | ast.Global | ast.Nonlocal) and len(block) > 1:
            out |= self._enter(block[1:])  # a constant or a declaration may run no line
        return out

    def _next(self, node: ast.AST) -> set[int]:
        """Where control goes when `node` (a statement, an `except` clause
        or a `case`) completes normally."""
        parent = self.parent.get(node)
        if parent is None:
            return set()
        if isinstance(node, ast.ExceptHandler | ast.match_case):
            return self._block_done(parent, "handlers")
        for field in _BLOCKS:
            block = getattr(parent, field, None)
            if isinstance(block, list) and node in block:
                i = block.index(node)
                if i + 1 < len(block):
                    return self._enter(block[i + 1 :])
                return self._block_done(parent, field)
        return set()

    def _block_done(self, owner: ast.AST, field: str) -> set[int]:
        """Where control goes when `owner`'s `field` block runs out."""
        if isinstance(owner, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
            return set()  # the function returns: a return event, not a line
        if isinstance(owner, ast.ClassDef | ast.Lambda):
            return set()
        out: set[int] = set()
        if isinstance(owner, _LOOPS) and field == "body":
            return self._head(owner)
        if isinstance(owner, ast.Try | ast.TryStar) and field != "finalbody":
            if field == "body" and owner.orelse:
                return self._enter(owner.orelse)
            if owner.finalbody:
                return self._enter(owner.finalbody) | self._next(owner)
        if isinstance(owner, ast.With | ast.AsyncWith):
            out |= self._head(owner)
        return out | self._next(owner)

    def _head(self, stmt: ast.stmt) -> set[int]:
        return set(_own_lines(stmt))

    def _loop_of(self, stmt: ast.AST) -> ast.stmt | None:
        node = self.parent.get(stmt)
        while node is not None and not isinstance(node, _LOOPS):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                return None
            node = self.parent.get(node)
        return node

    def _unwind(self, stmt: ast.AST) -> set[int]:
        """`finally` blocks and `with` exits a jump out of `stmt` passes."""
        out: set[int] = set()
        node = self.parent.get(stmt)
        while node is not None and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            if isinstance(node, ast.Try | ast.TryStar) and node.finalbody:
                out |= self._enter(node.finalbody)
            if isinstance(node, ast.With | ast.AsyncWith):
                out |= self._head(node)
            node = self.parent.get(node)
        return out

    def _handlers(self, stmt: ast.AST) -> set[int]:
        """`except` clauses (and `finally`, `with` exits) an exception raised
        in `stmt` may reach within its function."""
        out: set[int] = set()
        node, child = self.parent.get(stmt), stmt
        while node is not None and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            if isinstance(node, ast.Try | ast.TryStar):
                if child in node.body:
                    for handler in node.handlers:
                        out |= {handler.lineno}
                if node.finalbody:
                    out |= self._enter(node.finalbody)
            if isinstance(node, ast.With | ast.AsyncWith):
                out |= self._head(node)
            node, child = self.parent.get(node), node
        return out


def _own_lines(stmt: ast.stmt | ast.ExceptHandler) -> range:
    """The lines a statement reports while it runs: all of a simple one,
    the header of a compound one."""
    body = getattr(stmt, "body", None)
    if isinstance(stmt, ast.Match):
        return range(stmt.lineno, stmt.subject.end_lineno + 1)
    if body and isinstance(body, list):
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        return range(first, max(stmt.lineno, body[0].lineno - 1) + 1)
    return range(stmt.lineno, stmt.end_lineno + 1)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )
