"""Source text helpers shared by the tracer, the codec and the debugger."""

from __future__ import annotations

from opencwm.trace.tokens import TRACE_MARKER

_MARKER_SUFFIX = f"  {TRACE_MARKER}"


def source_lines(source: str) -> list[str]:
    """Lines as the compiler numbers them (line N is `source_lines(s)[N-1]`).

    Not `str.splitlines`, which also splits on form feeds and Unicode line
    separators that may sit inside string literals.
    """
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def strip_marker(line: str) -> str:
    """A context line as the program has it, without the entry marker."""
    if line.endswith(_MARKER_SUFFIX):
        return line[: -len(_MARKER_SUFFIX)]
    if line.endswith(TRACE_MARKER):
        return line[: -len(TRACE_MARKER)].rstrip()
    return line


def add_marker(line: str) -> str:
    return strip_marker(line) + _MARKER_SUFFIX
