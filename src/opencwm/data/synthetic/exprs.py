"""Typed expression builders: `expr(ty)` writes a random expression of type `ty`.

Each type has a table of productions (a method returning source text, or
None when the scope cannot support it). Sub-expressions are typed too, so
any production composes with any other: `sorted(set(nums))`, `sum(len(w)
for w in text.split())`, `max(d, key=d.get) if d else ''`. Operations that
could fail are only written where a fact makes them safe (`nums[0]` under
"nums is non-empty", `d[k]` under "k in d") or with their guard
(`lst.index(x) if x in lst else -1`). Nothing here grows a value without
bound: repetition and lengthening `replace` are not written inside loops,
widths and range bounds are literals or capped.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from typing import TypeVar

from opencwm.data.synthetic.knobs import Knobs
from opencwm.data.synthetic.scope import (
    BOOL,
    DICT_II,
    DICT_SI,
    DICT_SS,
    DICTS,
    ELEM,
    INT,
    LIST_INT,
    LIST_STR,
    LISTS,
    LOOP_NAMES,
    MUTABLE,
    NAMES,
    SCALARS,
    SEQUENCES,
    SET_INT,
    STR,
    TUPLE_INT,
    VALUE,
    Scope,
)
from opencwm.data.synthetic.values import WORDS, rand_int

T = TypeVar("T")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"\b\d+\b")
_OPS = set(" +-*/%<>=!&|^~")


def names_in(text: str) -> set[str]:
    """Identifiers in an expression (string contents included: harmless overcount)."""
    return set(_IDENT.findall(text))


def is_literal(text: str) -> bool:
    """True if `text` mentions no variable (a constant, or built from constants)."""
    return not _IDENT.search(_QUOTED.sub("", text).replace("True", "").replace("False", ""))


def is_atom(text: str) -> bool:
    """True if `text` needs no parentheses as an operand or method receiver."""
    depth, quote = 0, ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c in _OPS:
            return False
    return True


class Unsupported(Exception):
    """A production cannot be written here; `expr` tries another."""


@dataclass(slots=True)
class Helper:
    """A function the program defines and `f` may call."""

    name: str
    params: tuple[str, ...]
    ret: str
    int_cap: int | None = None  # recursion on an int: cap the argument
    raises: bool = False  # may raise ValueError: call only inside try
    call_args: str | None = None  # fixed arguments (a recursive walk starts at 0)
    cost: float = 0.0  # estimated line events per call (0: estimate from its text)


@dataclass(slots=True)
class Iteration:
    """What a `for` (or comprehension) iterates over and the names it binds."""

    src: str
    targets: list[tuple[str, str]]  # (name, type)
    chars: list[str] = field(default_factory=list)
    index_for: list[tuple[str, str]] = field(default_factory=list)
    key_of: list[tuple[str, str]] = field(default_factory=list)

    @property
    def target(self) -> str:
        return ", ".join(n for n, _ in self.targets)


Production = Callable[["ExprBuilder", int], "str | None"]


class ExprBuilder:
    """State shared by the builders: randomness, knobs, scope, vocabulary."""

    def __init__(self, rng: random.Random, knobs: Knobs, chars: list[str], words: list[str]):
        self.rng = rng
        self.random = rng.random
        self.k = knobs
        self.scope = Scope()
        self.vocab_chars = chars or list("abc")
        self.vocab_words = words or ["ab", "cd"]
        self.helpers: list[Helper] = []
        self.focus: str | None = None  # a comprehension's variable, preferred as a leaf
        self.ret: str | None = None  # return type of the function being written (None: any)
        self.deriving = False  # a leaf is being derived from another variable
        self.trips = 1.0  # estimated times the current line runs per call (loop nesting)
        self.peak = 1.0  # largest `trips` seen in the function being written
        self.spent = 0.0  # estimated line events of `f` written so far
        self.typical_len = (knobs.max_list_len + knobs.max_str_len) / 4 + 1
        self.used_repeat = False
        self.table = tables()

    # ---- leaves -------------------------------------------------------
    # `random.choice` / `randint` cost a few calls each; these cost one
    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def var(self, ty: str) -> str | None:
        names = self.scope.of(ty)
        return self.pick(names) if names else None

    def small(self, lo: int = 0, hi: int = 5) -> int:
        return lo + int(self.random() * (hi - lo + 1))

    def needle(self) -> str:
        """A non-empty string: safe as a separator or a `replace` pattern."""
        chars = [c for c in self.scope.chars if c in self.scope.live]
        if chars and self.chance(0.3):
            return self.pick(sorted(chars))
        r = self.rng.random()
        if r < 0.55:
            return repr(self.pick(self.vocab_chars))
        if r < 0.85:
            return repr(self.pick(self.vocab_words)[:3] or "a")
        return repr(self.pick(" ,-:ax"))

    def lit(self, ty: str) -> str:
        rng, k = self.rng, self.k
        if ty == INT:
            return str(rand_int(rng, k))
        if ty == BOOL:
            return self.pick(("True", "False"))
        if ty == STR:
            r = rng.random()
            if r < 0.2:
                return "''"
            if r < 0.55:
                return repr(self.pick(self.vocab_chars))
            return repr(self.pick(self.vocab_words if r < 0.8 else WORDS))
        if ty in LISTS:
            if self.chance(0.6):
                return "[]"
            return "[" + ", ".join(self.lit(ELEM[ty]) for _ in range(self.small(1, 3))) + "]"
        if ty in DICTS:
            if self.chance(0.7):
                return "{}"
            kt, vt = ELEM[ty], VALUE[ty]
            return "{" + f"{self.lit(kt)}: {self.lit(vt)}" + "}"
        if ty == TUPLE_INT:
            return "(" + ", ".join(self.lit(INT) for _ in range(2)) + ")"
        if ty == SET_INT:
            return "set()"
        raise AssertionError(f"no literal for {ty!r}")

    def zero(self, ty: str) -> str:
        """The usual starting value of an accumulator of type `ty`."""
        return {INT: "0", BOOL: "False", STR: "''", SET_INT: "set()", TUPLE_INT: "()"}.get(
            ty, "[]" if ty in LISTS else "{}"
        )

    def leaf(self, ty: str) -> str:
        if self.focus and self.scope.live.get(self.focus) == ty and self.chance(0.7):
            return self.focus
        v = self.var(ty)
        if v is not None and (ty not in SCALARS or self.chance(0.8)):
            return v
        if ty == BOOL:
            return self.bool_leaf()
        if ty not in SCALARS and not self.deriving and self.chance(0.8):
            # no variable of this type: derive one (`s.split()`) rather than
            # write a literal container; one level past max depth at most
            self.deriving = True
            try:
                fns, cum = self.table[ty]
                for _ in range(3):
                    fn = fns[bisect(cum, self.random() * cum[-1])]
                    try:
                        text = fn(self, self.k.max_expr_depth)
                    except Unsupported:
                        continue
                    if text is not None:
                        return text
            finally:
                self.deriving = False
        return self.lit(ty)

    def bool_leaf(self) -> str:
        """A simple test of some variable: conditions are never a bare literal."""
        found = self.some_var((INT, STR, LIST_INT, LIST_STR))
        if found is None:
            return self.pick(("True", "False"))
        name, ty = found
        if ty == INT:
            return f"{name} {self.pick(('>', '<', '==', '>=', '!='))} {self.small(0, 5)}"
        if ty == STR:
            return f"{name}.{self.pick(('isdigit', 'isalpha', 'islower', 'isupper'))}()"
        return f"len({name}) {self.pick(('>', '<', '=='))} {self.small(0, 4)}"

    def recv(self, ty: str, depth: int) -> str:
        """A method receiver or left operand: a variable when there is one,
        else an expression over variables (`'ab'.upper()` says nothing)."""
        v = self.var(ty)
        if v is not None and self.chance(0.85):
            return v
        text = self.operand(ty, depth)
        if is_literal(text):
            text = self.operand(ty, max(depth - 1, 0))
            if is_literal(text):
                raise Unsupported(f"no variable to derive a {ty} receiver from")
        return text

    # ---- composition --------------------------------------------------
    def expr(self, ty: str, depth: int = 0) -> str:
        """A random expression of type `ty`; `depth` counts enclosing expressions."""
        if depth >= self.k.max_expr_depth or self.chance(0.3 + 0.15 * depth):
            return self.leaf(ty)
        fns, cum = self.table[ty]
        for _ in range(4):
            try:
                text = fns[bisect(cum, self.random() * cum[-1])](self, depth + 1)
            except Unsupported:
                continue
            if text is not None and (" for " in text or self.mentions_live(text)):
                return text  # not `sorted(set([]))`: computing on constants says nothing
        return self.leaf(ty)

    def mentions_live(self, text: str) -> bool:
        live = self.scope.live
        return any(n in live for n in _IDENT.findall(text))

    def operand(self, ty: str, depth: int) -> str:
        text = self.expr(ty, depth)
        return text if is_atom(text) else f"({text})"

    def source(self, ty: str, depth: int) -> str:
        """An operand that is usually a variable: keeps expressions readable."""
        v = self.var(ty)
        if v is not None and self.chance(0.75):
            return v
        return self.operand(ty, depth)

    def some_var(self, types: tuple[str, ...]) -> tuple[str, str] | None:
        found = self.scope.of_types(types)
        return self.pick(found) if found else None

    def fresh(self, ty: str, pool: tuple[str, ...] | None = None) -> str:
        """A name for a new variable of type `ty`, realistic when possible."""
        pool = pool or NAMES[ty]
        usable = self.scope.usable_name
        for _ in range(3):  # probing is cheaper than filtering the whole pool
            name = self.pick(pool)
            if usable(name, ty):
                return name
        ok = [n for n in pool if usable(n, ty)]
        if ok:
            return self.pick(ok)
        base = pool[0]
        i = 2
        while not self.scope.usable_name(f"{base}{i}", ty):
            i += 1
        return f"{base}{i}"

    def unaliased(self, ty: str, value: str) -> str:
        """`value`, copied if it could be an existing list, dict or set: an
        alias would let a loop over one name grow through another."""
        if ty not in MUTABLE:
            return value
        if value in self.scope.live or (" if " in value and value[0] not in "[{"):
            if ty in DICTS or ty == SET_INT or self.chance(0.6):
                return f"{'dict' if ty in DICTS else 'set' if ty == SET_INT else 'list'}({value})"
            return f"{value}.copy()" if is_atom(value) else f"({value}).copy()"
        return value

    def ternary(self, ty: str, depth: int) -> str:
        return f"{self.expr(ty, depth)} if {self.cond(depth)} else {self.expr(ty, depth)}"

    def cond(self, depth: int = 0) -> str:
        text = self.expr(BOOL, max(depth, 1) - 1 if depth else 0)
        return text

    def call_helper(self, ty: str, depth: int, *, allow_raising: bool = False) -> str | None:
        found = [h for h in self.helpers if h.ret == ty and (allow_raising or not h.raises)]
        if not found:
            return None
        h = self.pick(found)
        if h.cost * self.trips > self.k.max_lines / 2:
            return None  # a costly helper inside a loop: traces would run long
        self.spent += h.cost * self.trips
        if h.call_args is not None:
            return f"{h.name}({h.call_args})"
        args = []
        for p in h.params:
            a = self.source(p, depth)
            if h.int_cap is not None and p == INT and not a.lstrip("-").isdigit():
                a = f"min({a}, {h.int_cap})"
            args.append(a)
        return f"{h.name}({', '.join(args)})"

    # ---- iteration (shared by for statements and comprehensions) -------
    def trip_estimate(self, src: str) -> float:
        """Rough trip count of a loop over `src`, for keeping traces in budget."""
        if src.startswith("range("):
            bounds = [int(n) for n in _NUMBER.findall(src)]
            if bounds and "len(" not in src:
                cap = max(bounds)
                return cap / 2 if "min(" in src or "%" in src else cap
        if any(m in src for m in (".items()", ".keys()", ".values()")):
            return 3.0
        if self.scope.live.get(src) in DICTS:
            return 3.0
        return self.typical_len / (2 if ", 2)" in src else 1)

    def can_loop(self, trips: float) -> bool:
        """Whether a loop of about `trips` iterations fits the line budget here:
        nested trip counts multiply, and what the function already spends adds."""
        cost = self.trips * trips
        return cost <= self.k.max_lines / 6 and self.spent + 3 * cost <= self.k.max_lines * 0.7

    def loop_name(self, kind: str, ty: str) -> str:
        return self.fresh(ty, LOOP_NAMES[kind])

    def iteration(self, depth: int = 1) -> Iteration | None:
        """Something to iterate: a variable, a range, enumerate/zip/items, or
        a derived sequence; with the facts each iteration may rely on."""
        rng = self.rng
        r = rng.random()
        seq = self.some_var(SEQUENCES)
        if r < 0.4:
            found = self.some_var((*SEQUENCES, SET_INT))
            return None if found is None else self._bind(*found)
        if r < 0.52 and seq is not None:
            name, _ = seq
            i = self.loop_name("index", INT)
            if self.chance(0.8):
                return Iteration(f"range(len({name}))", [(i, INT)], index_for=[(i, name)])
            src = f"range(len({name}) - 1, -1, -1)" if self.chance(0.5) else None
            src = src or f"range(0, len({name}), 2)"
            return Iteration(src, [(i, INT)], index_for=[(i, name)])
        if r < 0.62 and seq is not None:
            name, ty = seq
            i = self.loop_name("index", INT)
            it = self._bind(name, ty)
            start = ", 1" if self.chance(0.25) else ""
            return Iteration(
                f"enumerate({name}{start})",
                [(i, INT), *it.targets],
                chars=it.chars,
                index_for=[] if start else [(i, name)],
            )
        d = self.some_var(DICTS)
        if r < 0.75 and d is not None:
            name, ty = d
            kt, vt = ELEM[ty], VALUE[ty]
            k = self.loop_name("key", kt) if kt == STR else self.loop_name("index", kt)
            form = rng.random()
            if form < 0.5:
                v = self.fresh(vt, ("v", "val", "count", "value"))
                return Iteration(f"{name}.items()", [(k, kt), (v, vt)], key_of=[(k, name)])
            if form < 0.8:
                src = name if self.chance(0.6) else f"{name}.keys()"
                return Iteration(src, [(k, kt)], key_of=[(k, name)])
            v = self.fresh(vt, ("v", "val", "count", "value"))
            return Iteration(f"{name}.values()", [(v, vt)])
        if r < 0.8:
            a, b = self.some_var(SEQUENCES), self.some_var(SEQUENCES)
            if a is not None and b is not None:
                ta, tb = self._bind(a[0], a[1]), self._bind(b[0], b[1])
                if ta.targets[0][0] != tb.targets[0][0]:
                    return Iteration(
                        f"zip({a[0]}, {b[0]})",
                        [*ta.targets, *tb.targets],
                        chars=ta.chars + tb.chars,
                    )
        if r < 0.9:
            i = self.loop_name("index", INT)
            n = self.var(INT)
            cap = self.small(2, self.k.max_list_len)
            if n is not None and self.chance(0.5):
                src = self.pick((f"range(min({n}, {cap}))", f"range({n} % {cap + 1})"))
            else:
                src = self.pick((f"range({cap})", f"range(1, {cap})", f"range({cap}, 0, -1)"))
            return Iteration(src, [(i, INT)])
        ty = self.pick((LIST_INT, LIST_STR, STR, STR))
        src = self.operand(ty, depth)
        if src in self.scope.live or not names_in(src) & set(self.scope.live):
            return None
        it = self._bind(src, ty)
        it.src = src
        return it

    def _bind(self, src: str, ty: str) -> Iteration:
        elem = ELEM[ty]
        if ty == STR:
            c = self.loop_name("char", STR)
            return Iteration(src, [(c, STR)], chars=[c])
        if ty == SET_INT and self.chance(0.5):
            src = f"sorted({src})"
        kind = INT if elem == INT else STR
        return Iteration(src, [(self.loop_name(kind, elem), elem)])

    def comprehension(self, elem_ty: str, depth: int, kind: str = "list") -> str | None:
        """`[e for x in src if c]` (or a set/dict comprehension, or a generator)."""
        it = self.iteration(depth)
        if it is None or any(not self.scope.usable_name(n, t) for n, t in it.targets):
            return None
        sc = self.scope
        saved_focus, saved_chars, saved_facts = self.focus, set(sc.chars), sc.facts.copy()
        for n, t in it.targets:
            sc.bind(n, t)
        sc.chars.update(it.chars)
        sc.facts.index_for.update(it.index_for)
        sc.facts.key_of.update(it.key_of)
        self.focus = it.targets[-1][0]
        try:
            if kind == "dict":
                kt, vt = elem_ty.split("|")
                body = f"{self.expr(kt, depth)}: {self.expr(vt, depth)}"
            else:
                body = self.expr(elem_ty, depth)
            if not names_in(body) & {n for n, _ in it.targets}:
                return None
            cond = f" if {self.cond(depth + 1)}" if self.chance(0.4) else ""
        finally:
            for n, _ in it.targets:
                sc.unbind(n)
            self.focus, sc.chars, sc.facts = saved_focus, saved_chars, saved_facts
        inner = f"{body} for {it.target} in {it.src}{cond}"
        return {"list": f"[{inner}]", "set": f"{{{inner}}}", "dict": f"{{{inner}}}"}.get(
            kind, inner
        )

    # ---- facts ----------------------------------------------------------
    def nonempty(self, types: tuple[str, ...]) -> str | None:
        found = [n for n in sorted(self.scope.facts.nonempty) if self.scope.live.get(n) in types]
        return self.pick(found) if found else None

    def indexed(self, ty: str, kinds: tuple[str, ...] = SEQUENCES) -> str | None:
        """`seq[i]` of element type `ty` for a known-valid index, or `seq[0]`/`seq[-1]`
        of a known non-empty sequence; `seq` of one of the types `kinds`."""
        sc = self.scope
        pairs = sorted(
            (i, s)
            for i, s in sc.facts.index_for
            if i in sc.live and sc.live.get(s) in kinds and ELEM[sc.live[s]] == ty
        )
        if pairs and self.chance(0.7):
            i, s = self.pick(pairs)
            return f"{s}[{i}]"
        seqs = tuple(t for t in kinds if ELEM[t] == ty)
        s = self.nonempty(seqs)
        return f"{s}[{self.pick(('0', '-1'))}]" if s else None

    def known_key(self, ty: str) -> str | None:
        sc = self.scope
        pairs = sorted(
            (k, d)
            for k, d in sc.facts.key_of
            if sc.live.get(d) in DICTS
            and VALUE[sc.live[d]] == ty
            and (k in sc.live or not k.isidentifier())
        )
        if not pairs:
            return None
        k, d = self.pick(pairs)
        return f"{d}[{k}]"


@cache
def tables() -> dict[str, tuple[list[Production], list[float]]]:
    """Per type: the productions and their cumulative weights (built once)."""
    from opencwm.data.synthetic import productions as p

    raw = {
        INT: p.int_productions(),
        BOOL: p.bool_productions(),
        STR: p.str_productions(),
        LIST_INT: p.list_productions(LIST_INT),
        LIST_STR: p.list_productions(LIST_STR),
        DICT_SI: p.dict_productions(DICT_SI),
        DICT_II: p.dict_productions(DICT_II),
        DICT_SS: p.dict_productions(DICT_SS),
        TUPLE_INT: p.tuple_productions(),
        SET_INT: p.set_productions(),
    }
    return {
        ty: ([f for _, f in table], list(accumulate(w for w, _ in table)))
        for ty, table in raw.items()
    }
