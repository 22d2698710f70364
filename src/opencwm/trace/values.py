"""Value reprs that survive anything a traced program can hold.

Why not plain `repr`: a traced value may be a megabyte string, a list that
contains itself, an int too large for `str()`, or a user object whose
`__repr__` raises or never returns. The trace must stay small, finish, and
be the same on every run. So builtin containers are rendered here with a
character budget (output identical to `repr` whenever it fits), other
objects go through a caller-supplied guarded `repr` (the tracer adds a time
limit), and memory addresses are renumbered in order of first appearance.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate, chain, islice

TRUNCATED = "<...>"
"""Appended where a repr was cut at its length cap."""

DEFAULT_CAP = 200
_MAX_NESTING = 64
_SAFE_INT_BITS = 13_000  # below CPython's 4300-digit str() limit
_MAX_INT_BITS = 100_000  # str() of larger ints is quadratic: describe them instead
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")


class AddressNumbering:
    """Replaces object addresses with 0x1, 0x2, ... in order of first sight.

    Addresses differ between runs; their identity (same object or not) is
    worth keeping, their value is not.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if "0x" not in text:
            return text
        return _ADDRESS.sub(self._number, text)

    def _number(self, m: re.Match[str]) -> str:
        addr = m.group(0).lower()
        if addr not in self._seen:
            self._seen[addr] = f"0x{len(self._seen) + 1:x}"
        return self._seen[addr]


def _describe_failure(obj: object, exc: BaseException) -> str:
    return f"<repr of {type(obj).__name__} failed: {type(exc).__name__}>"


def int_repr(n: int, cap: int) -> str:
    bits = n.bit_length()
    if bits <= _SAFE_INT_BITS:
        return _cut(repr(n), cap)
    if bits > _MAX_INT_BITS:
        return f"<int with about {int((bits - 1) * 0.30102999566) + 1} digits>"
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return _cut(repr(n), cap)
    finally:
        sys.set_int_max_str_digits(old)


def _cut(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[:cap] + TRUNCATED


def safe_repr(
    obj: object,
    cap: int = DEFAULT_CAP,
    *,
    call_repr: Callable[[object], str] = repr,
    numbering: AddressNumbering | None = None,
) -> str:
    """Repr of `obj`, at most `cap` characters plus the `TRUNCATED` marker.

    `call_repr` is used for every object that is not a builtin scalar or
    container; it may raise (the failure becomes the value's text) and is
    where a caller puts a time limit.
    """
    t = type(obj)
    if t in _PLAIN:
        if t is not int or obj.bit_length() <= _SAFE_INT_BITS:
            return _cut(repr(obj), cap)
    elif t is str and len(obj) <= cap:
        return _cut(repr(obj), cap)
    elif t in _CONTAINERS and obj:
        text = _leaf_repr(obj, t, cap)
        if text is not None:
            return _cut(text, cap)
    numbering = numbering or AddressNumbering()
    out: list[str] = []
    budget = [cap]
    _render(obj, out, budget, set(), 0, call_repr, numbering, cap)
    text = "".join(out)
    if budget[0] < 0 or len(text) > cap:
        return text[:cap] + TRUNCATED
    return text


class _Full(Exception):
    """The budget is spent: stop rendering."""


def _emit(out: list[str], budget: list[int], s: str) -> None:
    out.append(s)
    budget[0] -= len(s)
    if budget[0] < 0:
        raise _Full


_SCALARS = (type(None), bool, float, complex, bytes, bytearray, range)
_PLAIN = frozenset({int, bool, float, type(None)})
_PLAIN_OR_STR = _PLAIN | {str}
_INTS = frozenset({int, bool})
_SEQUENCES = frozenset({list, tuple})
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def _plain_ints(values, types: set) -> bool:
    """No int so large that `repr` would refuse it."""
    if int not in types:
        return True
    if types <= _INTS:
        return max(map(int.bit_length, values)) <= _SAFE_INT_BITS
    return max(x.bit_length() for x in values if type(x) is int) <= _SAFE_INT_BITS


def _plain_prefix(values, limit: int, nesting: int = 0) -> int:
    """How many leading elements of `values` hold its first `limit` scalars,
    if those are all scalars, strings of at most `4 * limit` characters, or
    lists/tuples of them (two levels deep, each wholly within the limit);
    -1 if anything else comes first."""
    head = values[:limit] if len(values) > limit else values
    types = set(map(type, head))
    if types <= _PLAIN_OR_STR:
        if not _plain_ints(head, types):
            return -1
        if str in types:
            strs = head if len(types) == 1 else [x for x in head if type(x) is str]
            if max(map(len, strs)) > 4 * limit:
                return -1
        return len(head)
    if nesting >= 2 or not types <= _PLAIN_OR_STR | _SEQUENCES:
        return -1
    if types <= _SEQUENCES:  # rows of scalars (a matrix, a list of pairs): checked in C
        ends = list(accumulate(map(len, head)))
        rows = min(bisect_left(ends, limit) + 1, len(head))
        if max(map(len, head[:rows])) > limit:
            return -1
        flat = list(chain.from_iterable(head[:rows]))
        return rows if not flat or _plain_prefix(flat, len(flat), 2) == len(flat) else -1
    n = 0
    for i, x in enumerate(head):
        t = type(x)
        if t is list or t is tuple:
            if x and (len(x) > limit or _plain_prefix(x, limit, nesting + 1) != len(x)):
                return -1
            n += len(x) + 1
        elif _plain_prefix((x,), limit, nesting) < 0:
            return -1
        else:
            n += 1
        if n >= limit:
            return i + 1
    return len(head)


def _leaf_repr(obj, t, budget: int) -> str | None:
    """One C-level `repr` for a container of scalars and short strings.

    Why: rendering element by element in Python costs ~100x more, and most
    traced values are exactly such containers. Only what fits the budget is
    rendered (a prefix of a list or tuple, whose repr is a prefix of the
    whole repr); anything else (objects, huge ints or strings, deep nesting)
    returns None for the careful path.
    """
    k = budget // 3 + 2
    if t is list or t is tuple:
        n = _plain_prefix(obj, k)
        if n < 0:
            return None
        return repr(obj[:n]) if n < len(obj) else repr(obj)
    if t is dict:
        # a prefix of the items: its repr, cut at the budget, is a prefix of the whole repr
        items = dict(islice(obj.items(), k)) if len(obj) > k else obj
        values = [*items, *items.values()]
        return repr(items) if _plain_prefix(values, 2 * k) == len(values) else None
    if len(obj) > k:
        return None
    values = list(obj)
    return repr(obj) if _plain_prefix(values, k) == len(values) else None


def _render(obj, out, budget, active, nesting, call_repr, numbering, cap) -> None:
    try:
        _render_inner(obj, out, budget, active, nesting, call_repr, numbering, cap)
    except _Full:
        if nesting:
            raise
        budget[0] = -1


def _render_inner(obj, out, budget, active, nesting, call_repr, numbering, cap) -> None:
    t = type(obj)
    if t is str:
        s = obj if len(obj) <= budget[0] + 1 else obj[: budget[0] + 1]
        _emit(out, budget, repr(s))
        return
    if t is int:
        _emit(out, budget, int_repr(obj, cap))
        return
    if t in _SCALARS:
        if t in (bytes, bytearray) and len(obj) > budget[0] + 1:
            obj = t(obj[: budget[0] + 1])
        _emit(out, budget, repr(obj))
        return
    if t in (list, tuple, dict, set, frozenset):
        if obj and nesting < _MAX_NESTING:
            text = _leaf_repr(obj, t, budget[0])
            if text is not None:
                _emit(out, budget, text)
                return
        if nesting >= _MAX_NESTING:
            _emit(out, budget, TRUNCATED)
            return
        key = id(obj)
        if key in active:
            _emit(out, budget, {list: "[...]", tuple: "(...)", dict: "{...}"}.get(t, "{...}"))
            return
        active.add(key)
        try:
            _render_container(obj, t, out, budget, active, nesting, call_repr, numbering, cap)
        finally:
            active.discard(key)
        return
    try:
        text = call_repr(obj)
        if type(text) is not str:
            raise TypeError("__repr__ returned non-string")
    except _Full:
        raise
    except Exception as exc:
        text = _describe_failure(obj, exc)
    _emit(out, budget, numbering(_cut(text, cap)))


def _render_container(obj, t, out, budget, active, nesting, call_repr, numbering, cap) -> None:
    def item(x: object) -> None:
        _render_inner(x, out, budget, active, nesting + 1, call_repr, numbering, cap)

    if t is dict:
        _emit(out, budget, "{")
        for i, (k, v) in enumerate(obj.items()):
            if i:
                _emit(out, budget, ", ")
            item(k)
            _emit(out, budget, ": ")
            item(v)
        _emit(out, budget, "}")
        return
    if t in (set, frozenset):
        if not obj:
            _emit(out, budget, "set()" if t is set else "frozenset()")
            return
        _emit(out, budget, "{" if t is set else "frozenset({")
        for i, x in enumerate(obj):
            if i:
                _emit(out, budget, ", ")
            item(x)
        _emit(out, budget, "}" if t is set else "})")
        return
    open_, close = ("[", "]") if t is list else ("(", ")")
    _emit(out, budget, open_)
    for i, x in enumerate(obj):
        if i:
            _emit(out, budget, ", ")
        item(x)
    if t is tuple and len(obj) == 1:
        _emit(out, budget, ",")
    _emit(out, budget, close)


def repr_type(text: str) -> str:
    """The type a value's repr shows, for statistics and accuracy by type."""
    if not text:
        return "other"
    c = text[0]
    if c in "'\"" or text[:2] in ("b'", 'b"'):
        return "bytes" if c == "b" else "str"
    if text in ("True", "False"):
        return "bool"
    if text == "None":
        return "None"
    if c == "[":
        return "list"
    if c == "(":
        return "tuple"
    if c == "{":
        return "dict" if text == "{}" or _looks_like_dict(text) else "set"
    if text == "set()" or text.startswith("frozenset("):
        return "set"
    if c.isdigit() or (c == "-" and text[1:2].isdigit()):
        return "float" if any(ch in text for ch in ".eE") or text.endswith("inf") else "int"
    if text in ("inf", "-inf", "nan"):
        return "float"
    return "object"


def _looks_like_dict(text: str) -> bool:
    """A top-level ': ' outside quotes and brackets means a dict."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == "\\":
                continue
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == ":" and depth == 1:
            return True
    return False
