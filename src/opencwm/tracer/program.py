"""Reading a program before it runs: syntax, entry, arguments, marker.

Everything here is static (the `ast` module), so it is safe on the host
and gives the one-line errors users see before any sandbox starts.
"""

from __future__ import annotations

import ast

from opencwm.trace.frame import MODULE_ENTRY
from opencwm.trace.source import add_marker, source_lines, strip_marker
from opencwm.trace.tokens import TRACE_MARKER


class ProgramError(ValueError):
    """The program or its arguments cannot be traced; the message is one line."""


def parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise ProgramError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes
        raise ProgramError(f"cannot parse the program: {exc}") from None


def functions(tree: ast.Module) -> dict[str, int]:
    """Top-level functions and the line of their `def`."""
    return {
        node.name: node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def marked_entry(source: str, tree: ast.Module) -> str | None:
    """The function whose `def` line carries `# << START_OF_TRACE`, if any."""
    marked = {i + 1 for i, line in enumerate(source_lines(source)) if TRACE_MARKER in line}
    for name, line in functions(tree).items():
        if line in marked:
            return name
    return None


def resolve_entry(source: str, tree: ast.Module, entry: str | None) -> str:
    """The entry to trace: the named function, else the marked one, else the script."""
    if entry in (None, "") and (entry := marked_entry(source, tree)) is None:
        return MODULE_ENTRY
    if entry == MODULE_ENTRY:
        return entry
    defined = functions(tree)
    if entry not in defined:
        known = ", ".join(defined) or "none"
        raise ProgramError(f"no top-level function {entry!r} in the program; defined: {known}")
    return entry


def check_input(args: str) -> None:
    """ARGS must be Python argument expressions, as in a call `f(ARGS)`."""
    try:
        node = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError:
        raise ProgramError(
            f"bad input {args!r}: expected Python call arguments, e.g. \"[1, 2], 'a'\""
        ) from None
    whole = len(f"f({args})".encode())
    if (
        not isinstance(node, ast.Call)
        or not isinstance(node.func, ast.Name)
        or node.end_col_offset != whole
    ):
        raise ProgramError(f"bad input {args!r}: expected Python call arguments")


def with_marker(source: str, tree: ast.Module, entry: str) -> str:
    """The context a model sees: the marker on the entry's `def` line only."""
    lines = [strip_marker(line) for line in source_lines(source)]
    if entry != MODULE_ENTRY:
        i = functions(tree)[entry] - 1
        lines[i] = add_marker(lines[i])
    return "\n".join(lines) + "\n"
