"""The generator's static types and what it knows about each variable.

Types are plain strings (`"list[int]"`), one per variable for its whole life
in a function. `Scope` is the bookkeeping that makes generated operations
safe by construction: which variables are live (assigned on every path),
which must not change (loop iterables, loop variables), and which facts
currently hold (`nums` is non-empty, `i` is a valid index of `s`, `k` is a
key of `d`, `x` is in `lst`, `s` holds digits only). A fact dies when a
variable it mentions is mutated or rebound; a block's new variables and
facts die when the block ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INT, BOOL, STR = "int", "bool", "str"
LIST_INT, LIST_STR = "list[int]", "list[str]"
DICT_SI, DICT_II, DICT_SS = "dict[str, int]", "dict[int, int]", "dict[str, str]"
TUPLE_INT, SET_INT = "tuple[int, ...]", "set[int]"

SCALARS = (INT, BOOL, STR)
LISTS = (LIST_INT, LIST_STR)
DICTS = (DICT_SI, DICT_II, DICT_SS)
SEQUENCES = (STR, LIST_INT, LIST_STR, TUPLE_INT)
"""Types that support len, indexing and slicing."""
CONTAINERS = (*SEQUENCES, *DICTS, SET_INT)
ALL_TYPES = (*SCALARS, *LISTS, *DICTS, TUPLE_INT, SET_INT)
MUTABLE = (*LISTS, *DICTS, SET_INT)

ELEM = {
    STR: STR,
    LIST_INT: INT,
    LIST_STR: STR,
    TUPLE_INT: INT,
    SET_INT: INT,
    DICT_SI: STR,
    DICT_II: INT,
    DICT_SS: STR,
}
"""What iterating a container yields (a dict yields its keys)."""
VALUE = {DICT_SI: INT, DICT_II: INT, DICT_SS: STR}
LIST_OF = {INT: LIST_INT, STR: LIST_STR}
DICT_OF = {(STR, INT): DICT_SI, (INT, INT): DICT_II, (STR, STR): DICT_SS}

NAMES: dict[str, tuple[str, ...]] = {
    INT: (
        "n", "x", "y", "k", "count", "total", "idx", "acc", "m", "res", "ans", "best",
        "cur", "step", "diff", "num", "val", "pos", "size", "score", "carry", "low",
        "high", "start", "end", "depth", "length", "prev", "mid", "limit",
    ),
    BOOL: ("flag", "found", "ok", "done", "valid", "changed", "matched", "neg", "is_sorted"),
    STR: (
        "s", "text", "word", "res", "out", "prefix", "suffix", "part", "sep", "t", "name",
        "line", "head", "tail", "result", "buf", "token", "chunk", "label", "key",
    ),
    LIST_INT: (
        "nums", "arr", "res", "values", "stack", "counts", "lst", "a", "b", "xs", "ys",
        "data", "result", "out", "evens", "odds", "digits", "queue", "scores", "items",
    ),
    LIST_STR: (
        "words", "parts", "chars", "names", "tokens", "letters", "res", "lines", "pieces",
        "items", "keys", "out", "result",
    ),
    DICT_SI: ("d", "counts", "freq", "mapping", "table", "index", "scores", "lookup", "seen"),
    DICT_II: ("d", "counts", "freq", "memo", "table", "squares", "last", "pos", "mapping"),
    DICT_SS: ("d", "mapping", "table", "aliases", "pairs", "lookup", "names", "subs"),
    TUPLE_INT: ("t", "pair", "point", "coords", "bounds", "tup", "sizes", "dims"),
    SET_INT: ("seen", "uniq", "visited", "pool", "found", "keep", "marks", "allowed"),
}  # fmt: skip
"""Realistic names per type; a name keeps one type within a function."""

LOOP_NAMES: dict[str, tuple[str, ...]] = {
    INT: ("x", "n", "num", "v", "val", "y", "item"),
    STR: ("w", "word", "name", "token", "part", "item"),
    "char": ("c", "ch", "letter", "char"),
    "index": ("i", "j", "idx", "pos", "k"),
    "key": ("k", "key"),
}


@dataclass(slots=True)
class Facts:
    """What is known to hold right now; each fact names the variables it rests on."""

    nonempty: set[str] = field(default_factory=set)
    index_for: set[tuple[str, str]] = field(default_factory=set)  # (index var, sequence)
    key_of: set[tuple[str, str]] = field(default_factory=set)  # (key expr, dict)
    member_of: set[tuple[str, str]] = field(default_factory=set)  # (elem expr, container)
    digits: set[str] = field(default_factory=set)  # str vars that are all digits

    def copy(self) -> Facts:
        return Facts(
            set(self.nonempty),
            set(self.index_for),
            set(self.key_of),
            set(self.member_of),
            set(self.digits),
        )

    def forget(self, name: str) -> None:
        """Drop every fact that mentions `name` (it was mutated or rebound)."""
        self.nonempty.discard(name)
        self.digits.discard(name)
        if self.index_for:
            self.index_for = {p for p in self.index_for if name not in p}
        if self.key_of:
            self.key_of = {p for p in self.key_of if name not in p}
        if self.member_of:
            self.member_of = {p for p in self.member_of if name not in p}

    def keep_only(self, stable: set[str]) -> None:
        """Keep facts resting only on `stable` variables (used on loop entry:
        a fact from before the loop may be broken by a later iteration).
        Membership goes too: item assignment, allowed on a stable list, breaks it."""
        self.nonempty &= stable
        self.digits &= stable
        self.index_for = {p for p in self.index_for if set(p) <= stable}
        self.key_of = {p for p in self.key_of if p[1] in stable and _stable_expr(p[0], stable)}
        self.member_of = set()


def _stable_expr(expr: str, stable: set[str]) -> bool:
    return not expr.isidentifier() or expr in stable


@dataclass(slots=True)
class Loop:
    """An enclosing loop: whether `continue` is safe (a while loop whose
    counter moves at the end of the body is not), and which containers the
    body grows (a grown container may not also feed growth: no doubling)."""

    allow_continue: bool
    grown: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Scope:
    """Variables and facts of the function being generated."""

    live: dict[str, str] = field(default_factory=dict)  # name -> type, definition order
    bound: dict[str, str] = field(default_factory=dict)  # every name used, ever
    frozen: set[str] = field(default_factory=set)  # no rebinding, no size change
    chars: set[str] = field(default_factory=set)  # str vars holding exactly one char
    facts: Facts = field(default_factory=Facts)
    loops: list[Loop] = field(default_factory=list)
    mutated: set[str] = field(default_factory=set)  # changed in the current block
    recent: list[str] = field(default_factory=list)  # last assigned, newest last
    _by_type: dict[str, list[str]] | None = None  # cache of `of`; None after `live` changes

    def of(self, ty: str) -> list[str]:
        """Live variables of type `ty`, in definition order (do not mutate)."""
        if self._by_type is None:
            self._by_type = {}
            for n, t in self.live.items():
                self._by_type.setdefault(t, []).append(n)
        return self._by_type.get(ty, [])

    def of_types(self, types: tuple[str, ...]) -> list[tuple[str, str]]:
        self.of(types[0])
        by_type = self._by_type
        assert by_type is not None
        return [(n, t) for t in types for n in by_type.get(t, ())]

    def mutable(self, ty: str) -> list[str]:
        return [n for n in self.of(ty) if n not in self.frozen]

    def bind(self, name: str, ty: str) -> None:
        """Make `name` live (a comprehension's variable) without touching facts."""
        self.live[name] = ty
        self.bound[name] = ty
        self._by_type = None

    def unbind(self, name: str) -> None:
        del self.live[name]
        self._by_type = None

    def declare(self, name: str, ty: str) -> None:
        assert self.bound.get(name, ty) == ty, f"{name} is {self.bound[name]}, not {ty}"
        self.bound[name] = ty
        self.live[name] = ty
        self._by_type = None
        self.touch(name)

    def touch(self, name: str) -> None:
        """`name` was assigned or mutated: its facts no longer hold."""
        self.facts.forget(name)
        self.chars.discard(name)
        self.mutated.add(name)
        if name in self.recent:
            self.recent.remove(name)
        self.recent.append(name)

    def usable_name(self, name: str, ty: str) -> bool:
        return name not in self.live and self.bound.get(name, ty) == ty

    def snapshot(self) -> tuple:
        return (dict(self.live), set(self.frozen), set(self.chars), self.facts.copy(), self.mutated)

    def restore(self, snap: tuple) -> None:
        """Leave a block: its variables and facts go; its mutations stay known."""
        live, frozen, chars, facts, mutated = snap
        changed = self.mutated
        self.live, self.frozen, self.chars, self.facts = live, frozen, chars, facts
        self._by_type = None
        self.mutated = mutated | changed
        for name in changed:
            self.facts.forget(name)
            if name in live:
                self.chars.discard(name)
        self.recent = [n for n in self.recent if n in live]

    @property
    def in_loop(self) -> bool:
        return bool(self.loops)
