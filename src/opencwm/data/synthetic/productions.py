"""The production tables: for each type, the ways to write a value of it.

A production takes the depth for its sub-expressions and returns source
text, or None when the scope cannot support it (no variable of the needed
type, no fact that makes the operation safe). Weights say how common the
construct is in small real functions; rare-but-required constructs get
enough weight that 2,000 programs cover them all.
"""

from __future__ import annotations

from collections.abc import Callable

from opencwm.data.synthetic.exprs import ExprBuilder
from opencwm.data.synthetic.scope import (
    BOOL,
    CONTAINERS,
    DICT_II,
    DICT_SI,
    DICT_SS,
    DICTS,
    ELEM,
    INT,
    LIST_INT,
    LIST_STR,
    SEQUENCES,
    SET_INT,
    STR,
    TUPLE_INT,
    VALUE,
)

Table = list[tuple[float, Callable[[ExprBuilder, int], "str | None"]]]

INT_SOURCES = (LIST_INT, TUPLE_INT, SET_INT)
STR_METHODS = ("upper", "lower", "strip", "lstrip", "rstrip", "title", "swapcase", "capitalize")
STR_TESTS = ("isdigit", "isalpha", "isupper", "islower", "isspace", "isalnum")


def _bool_operand(b: ExprBuilder, d: int) -> str:
    text = b.expr(BOOL, d)
    return f"({text})" if any(w in text for w in (" or ", " and ", " if ", "lambda")) else text


def _number(text: str) -> bool:
    return text.lstrip("-(").rstrip(")").isdigit()


def _varied(left: str, right: str) -> bool:
    """Not `x - x`, not `3 + 4`: an operation worth tracing."""
    return left != right and not (_number(left) and _number(right))


def _elem(b: ExprBuilder, ty: str) -> str:
    """A cheap element of `ty` (a variable or literal), fine to write twice."""
    return b.needle() if ty == STR and b.chance(0.5) else b.leaf(ty)


def int_productions() -> Table:

    def length(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(CONTAINERS)
        if found is not None and b.chance(0.75):
            return f"len({found[0]})"
        return f"len({b.expr(b.pick((STR, LIST_INT, LIST_STR, SET_INT)), d)})"

    def arith(b: ExprBuilder, d: int) -> str | None:
        op = b.pick(("+", "-", "+"))
        left, right = b.recv(INT, d), b.operand(INT, d)
        return f"{left} {op} {right}" if _varied(left, right) else None

    def mul(b: ExprBuilder, d: int) -> str | None:
        left = b.recv(INT, d)
        return None if _number(left) else f"{left} * {b.small(2, 4)}"

    def divmod_(b: ExprBuilder, d: int) -> str:
        seq = b.nonempty(CONTAINERS)
        if seq is not None and b.chance(0.3):
            return f"{b.recv(INT, d)} % len({seq})"
        return f"{b.recv(INT, d)} {b.pick(('//', '%'))} {b.small(2, 10)}"

    def absminmax(b: ExprBuilder, d: int) -> str | None:
        f = b.pick(("abs", "min", "max"))
        if f == "abs":
            return f"abs({b.recv(INT, d)})"
        left, right = b.recv(INT, d), b.expr(INT, d)
        return f"{f}({left}, {right})" if _varied(left, right) else None

    def sum_(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(INT_SOURCES)
        if found is not None and b.chance(0.6):
            return f"sum({found[0]})"
        gen = b.comprehension(INT, d, "gen")
        return f"sum({gen})" if gen else None

    def count(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var((STR, LIST_INT, LIST_STR, TUPLE_INT))
        if found is None:
            return None
        name, ty = found
        arg = b.needle() if ty == STR else _elem(b, ELEM[ty])
        return f"{name}.count({arg})"

    def find(b: ExprBuilder, d: int) -> str:
        return f"{b.recv(STR, d)}.{b.pick(('find', 'find', 'rfind'))}({b.needle()})"

    def index(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var((STR, LIST_INT, LIST_STR, TUPLE_INT))
        if found is None:
            return None
        name, ty = found
        facts = sorted(e for e, c in b.scope.facts.member_of if c == name)
        if facts:
            return f"{name}.index({b.pick(facts)})"
        e = b.needle() if ty == STR else _elem(b, ELEM[ty])
        if e == name:
            return None
        return f"{name}.index({e}) if {e} in {name} else -1"

    def maxmin(b: ExprBuilder, d: int) -> str | None:
        f = b.pick(("max", "min"))
        seq = b.nonempty(INT_SOURCES)
        if seq is not None:
            return f"{f}({seq})"
        found = b.some_var(INT_SOURCES)
        if found is not None:
            name = found[0]
            if b.chance(0.5):
                return f"{f}({name}, default={b.small(-1, 0)})"
            return f"{f}({name}) if {name} else 0"
        gen = b.comprehension(INT, d, "gen")
        return f"{f}(({gen}), default=0)" if gen else None

    def indexed(b: ExprBuilder, d: int) -> str | None:
        return b.indexed(INT) or b.known_key(INT)

    def dict_get(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var((DICT_SI, DICT_II))
        if found is None:
            return None
        name, ty = found
        return f"{name}.get({_elem(b, ELEM[ty])}, {b.small(0, 1)})"

    def to_int(b: ExprBuilder, d: int) -> str | None:
        digits = sorted(n for n in b.scope.facts.digits if n in b.scope.live)
        if digits:
            return f"int({b.pick(digits)})"
        s = b.leaf(STR)
        if s.startswith("'"):
            return None
        return f"int({s}) if {s}.isdigit() else {b.small(-1, 0)}"

    def ord_(b: ExprBuilder, d: int) -> str | None:
        chars = sorted(c for c in b.scope.chars if c in b.scope.live)
        if not chars:
            return None
        c = b.pick(chars)
        if b.chance(0.4):
            return f"ord({c}) - ord({b.pick(('a', 'A', '0'))!r})"
        return f"ord({c})"

    return [
        (3, length),
        (3, arith),
        (1, mul),
        (1.5, divmod_),
        (1.5, absminmax),
        (1.5, sum_),
        (1.5, count),
        (1, find),
        (0.7, index),
        (1, maxmin),
        (2, indexed),
        (1, dict_get),
        (0.6, to_int),
        (1, ord_),
        (0.5, lambda b, d: b.ternary(INT, d)),
        (1.5, lambda b, d: b.call_helper(INT, d)),
    ]


def bool_productions() -> Table:

    def cmp_int(b: ExprBuilder, d: int) -> str | None:
        op = b.pick(("<", "<=", ">", ">=", "==", "!="))
        left, right = b.recv(INT, d), b.operand(INT, d)
        return f"{left} {op} {right}" if _varied(left, right) else None

    def parity(b: ExprBuilder, d: int) -> str:
        return f"{b.recv(INT, d)} % 2 {b.pick(('==', '!='))} {b.pick(('0', '1'))}"

    def eq_str(b: ExprBuilder, d: int) -> str | None:
        left, right = b.recv(STR, d), b.operand(STR, d)
        return f"{left} {b.pick(('==', '!='))} {right}" if left != right else None

    def contains(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(CONTAINERS)
        if found is None:
            return None
        name, ty = found
        if ty == STR:
            e = b.needle() if b.chance(0.6) else b.operand(STR, d)
        else:
            e = _elem(b, ELEM[ty])
        chars = sorted(c for c in b.scope.chars if c in b.scope.live)
        if chars and b.chance(0.2):
            e, name = b.pick(chars), repr(b.pick(("aeiou", "0123456789", "abc", " ,.")))
        if e == name:
            return None
        return f"{e} {b.pick(('in', 'in', 'not in'))} {name}"

    def str_test(b: ExprBuilder, d: int) -> str:
        s = b.recv(STR, d)
        if b.chance(0.35):
            return f"{s}.{b.pick(('startswith', 'endswith'))}({b.needle()})"
        return f"{s}.{b.pick(STR_TESTS)}()"

    def not_(b: ExprBuilder, d: int) -> str:
        return f"not {b.operand(BOOL, d)}"

    def andor(b: ExprBuilder, d: int) -> str | None:
        left, right = _bool_operand(b, d), _bool_operand(b, d)
        return f"{left} {b.pick(('and', 'or'))} {right}" if left != right else None

    def anyall(b: ExprBuilder, d: int) -> str | None:
        gen = b.comprehension(BOOL, d, "gen")
        return f"{b.pick(('any', 'all'))}({gen})" if gen else None

    def len_cmp(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(CONTAINERS)
        if found is None:
            return None
        return f"len({found[0]}) {b.pick(('>', '<', '>=', '=='))} {b.small(0, 4)}"

    def truthy(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(CONTAINERS)
        return f"bool({found[0]})" if found else None

    def mirror(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var((STR, LIST_INT, LIST_STR))
        if found is None:
            return None
        name, ty = found
        if ty != STR and b.chance(0.5):
            return f"{name} == sorted({name})"
        return f"{name} == {name}[::-1]"

    return [
        (3, cmp_int),
        (1, parity),
        (1, eq_str),
        (3, contains),
        (2.5, str_test),
        (1, not_),
        (1.2, andor),
        (1, anyall),
        (1, len_cmp),
        (0.3, truthy),
        (0.5, mirror),
        (0.8, lambda b, d: b.call_helper(BOOL, d)),
    ]


def str_productions() -> Table:

    def method(b: ExprBuilder, d: int) -> str:
        return f"{b.recv(STR, d)}.{b.pick(STR_METHODS)}()"

    def strip_chars(b: ExprBuilder, d: int) -> str:
        m = b.pick(("strip", "lstrip", "rstrip"))
        return f"{b.recv(STR, d)}.{m}({b.needle()})"

    def replace(b: ExprBuilder, d: int) -> str:
        old = b.needle()
        if b.scope.in_loop:  # never lengthen inside a loop: no exponential growth
            new = b.pick(("''", repr(b.pick(b.vocab_chars)))) if len(old) > 3 else "''"
        else:
            new = b.pick(("''", b.needle(), repr(b.pick(b.vocab_words))))
            new = "''" if new == old else new
        once = ", 1" if b.chance(0.2) else ""
        return f"{b.recv(STR, d)}.replace({old}, {new}{once})"

    def slice_(b: ExprBuilder, d: int) -> str:
        s = b.source(STR, d)
        i, j = b.small(0, 3), b.small(1, 6)
        n = b.var(INT)
        form = b.pick(
            ("[::-1]", f"[{i}:{i + j}]", f"[:{j}]", f"[{i}:]", "[1:-1]", "[::2]", f"[:-{j}]")
        )
        if n is not None and b.chance(0.3):
            form = b.pick((f"[{n}:]", f"[:{n}]", f"[{n}:{n} + {j}]"))
        return s + form

    def join(b: ExprBuilder, d: int) -> str | None:
        sep = b.pick(("''", "' '", "','", "'-'", "', '", repr(b.pick(b.vocab_chars))))
        r = b.rng.random()
        if r < 0.4:
            return f"{sep}.join({b.operand(LIST_STR, d)})"
        if r < 0.6:
            return f"{sep}.join({b.pick(('sorted', 'reversed'))}({b.source(STR, d)}))"
        gen = b.comprehension(STR, d, "gen")
        return f"{sep}.join({gen})" if gen else None

    def concat(b: ExprBuilder, d: int) -> str:
        return f"{b.recv(STR, d)} + {b.operand(STR, d)}"

    def fstring(b: ExprBuilder, d: int) -> str | None:
        names = [n for n, t in b.scope.live.items() if t in (INT, STR, BOOL, LIST_INT)]
        if not names:
            return None
        parts = [b.pick(names) for _ in range(b.small(1, 2))]
        sep = b.pick(("", "-", ":", " ", "=", ", "))
        head = b.pick(("", "", "x", "n=", "<"))
        body = sep.join("{" + p + "}" for p in parts)
        return 'f"' + head + body + '"'

    def str_of(b: ExprBuilder, d: int) -> str:
        return f"str({b.expr(INT, d)})"

    def repeat(b: ExprBuilder, d: int) -> str | None:
        if b.scope.in_loop or b.used_repeat:
            return None
        b.used_repeat = True
        n = b.var(INT)
        times = f"({n} % 3)" if n is not None and b.chance(0.4) else str(b.small(2, 3))
        left = b.needle() if b.chance(0.6) else b.source(STR, d)
        return f"{left} * {times}"

    def pad(b: ExprBuilder, d: int) -> str:
        w = b.small(1, b.k.max_str_len + 4)
        m = b.pick(("zfill", "center", "ljust", "rjust", "center"))
        fill = f", {b.pick(('*', '-', '.', '0'))!r}" if m != "zfill" and b.chance(0.5) else ""
        return f"{b.recv(STR, d)}.{m}({w}{fill})"

    def partition(b: ExprBuilder, d: int) -> str:
        m = b.pick(("partition", "partition", "rpartition"))
        return f"{b.recv(STR, d)}.{m}({b.needle()})[{b.pick((0, 2))}]"

    def split_pick(b: ExprBuilder, d: int) -> str:
        return f"{b.recv(STR, d)}.split({b.needle()})[{b.pick((0, -1))}]"

    def chr_(b: ExprBuilder, d: int) -> str:
        return f"chr(ord('a') + {b.recv(INT, d)} % 26)"

    def dict_str(b: ExprBuilder, d: int) -> str | None:
        got = b.known_key(STR)
        if got is not None and b.chance(0.6):
            return got
        name = b.var(DICT_SS)
        if name is None:
            return None
        return f"{name}.get({_elem(b, STR)}, {b.lit(STR)})"

    def maxmin(b: ExprBuilder, d: int) -> str | None:
        f = b.pick(("max", "min"))
        seq = b.nonempty((LIST_STR, STR))
        if seq is not None:
            key = b.pick(("", ", key=len", ", key=str.lower"))
            return f"{f}({seq}{key})"
        dname = b.var(DICT_SI)
        if dname is not None:
            return f"{f}({dname}, key={dname}.get) if {dname} else ''"
        found = b.var(LIST_STR)
        return f"{f}({found}, default='')" if found else None

    return [
        (3, method),
        (1, strip_chars),
        (2, replace),
        (2.5, slice_),
        (2, join),
        (1.5, concat),
        (1, fstring),
        (0.8, str_of),
        (0.8, repeat),
        (1, pad),
        (0.8, partition),
        (0.6, split_pick),
        (0.4, chr_),
        (2, lambda b, d: b.indexed(STR)),
        (1, dict_str),
        (0.8, maxmin),
        (0.4, lambda b, d: b.ternary(STR, d)),
        (1.2, lambda b, d: b.call_helper(STR, d)),
    ]


def list_productions(ty: str) -> Table:
    e = ELEM[ty]
    feeds = (LIST_INT, TUPLE_INT, SET_INT) if e == INT else (LIST_STR, STR)

    def sorted_(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var(feeds)
        src = found[0] if found else None
        if src is None or b.chance(0.2):
            src = f"set({b.source(LIST_INT, d)})" if e == INT else b.operand(LIST_STR, d)
        if e == INT:
            keys = (", key=abs", ", key=lambda x: (x % 3, x)", ", key=lambda x: -x")
        else:
            keys = (", key=len", ", key=str.lower", ", key=lambda w: (len(w), w)")
        extra = b.pick(("", "", ", reverse=True", *keys))
        return f"sorted({src}{extra})"

    def reverse(b: ExprBuilder, d: int) -> str:
        src = b.source(ty, d)
        return f"list(reversed({src}))" if b.chance(0.5) else f"{src}[::-1]"

    def slice_(b: ExprBuilder, d: int) -> str:
        src = b.source(ty, d)
        j = b.small(1, 4)
        return src + b.pick(("[1:]", f"[:{j}]", f"[{j}:]", "[::2]", "[:-1]", f"[1:{j + 1}]"))

    def comp(b: ExprBuilder, d: int) -> str | None:
        return b.comprehension(e, d, "list")

    def from_dict(b: ExprBuilder, d: int) -> str | None:
        pairs = [(n, t) for n, t in b.scope.live.items() if t in DICTS]
        keyed = [n for n, t in pairs if ELEM[t] == e]
        valued = [n for n, t in pairs if VALUE[t] == e]
        if valued and (not keyed or b.chance(0.5)):
            return f"list({b.pick(valued)}.values())"
        if keyed:
            n = b.pick(keyed)
            return b.pick((f"list({n})", f"sorted({n})", f"list({n}.keys())"))
        return None

    def concat(b: ExprBuilder, d: int) -> str:
        if b.chance(0.5):
            return f"{b.recv(ty, d)} + [{_elem(b, e)}]"
        return f"{b.recv(ty, d)} + {b.operand(ty, d)}"

    def repeat(b: ExprBuilder, d: int) -> str:
        return f"[{_elem(b, e)}] * {b.small(2, 3)}"

    def special(b: ExprBuilder, d: int) -> str | None:
        if e == INT:
            r = b.rng.random()
            if r < 0.4:
                return f"list(range({b.small(1, b.k.max_list_len)}))"
            if r < 0.6:
                seq = b.some_var(SEQUENCES)
                return f"list(range(len({seq[0]})))" if seq else None
            if r < 0.8:
                return f"list(map(abs, {b.source(LIST_INT, d)}))"
            t = b.var(TUPLE_INT)
            return f"list({t})" if t else None
        r = b.rng.random()
        s = b.operand(STR, d)
        if r < 0.35:
            return f"{s}.split()"
        if r < 0.7:
            return f"{s}.split({b.needle()})"
        if r < 0.85:
            return f"list({s})"
        return f"list(map(str, {b.source(LIST_INT, d)}))"

    return [
        (2.5, sorted_),
        (1.2, reverse),
        (1.5, slice_),
        (3, comp),
        (0.8, from_dict),
        (1, concat),
        (0.3, repeat),
        (2 if e == STR else 1.2, special),
        (0.8, lambda b, d: b.call_helper(ty, d)),
    ]


def dict_productions(ty: str) -> Table:
    kt, vt = ELEM[ty], VALUE[ty]
    kseqs = (LIST_STR, STR) if kt == STR else (LIST_INT, TUPLE_INT)
    vseqs = (LIST_STR,) if vt == STR else (LIST_INT, TUPLE_INT)

    def comp(b: ExprBuilder, d: int) -> str | None:
        return b.comprehension(f"{kt}|{vt}", d, "dict")

    def zip_(b: ExprBuilder, d: int) -> str | None:
        ks, vs = b.some_var(kseqs), b.some_var(vseqs)
        if ks is None or vs is None:
            return None
        return f"dict(zip({ks[0]}, {vs[0]}))"

    def copy(b: ExprBuilder, d: int) -> str | None:
        name = b.var(ty)
        return f"dict({name})" if name else None

    def enum(b: ExprBuilder, d: int) -> str | None:
        src = b.var(LIST_INT)
        return f"dict(enumerate({src}))" if src else None

    def fromkeys(b: ExprBuilder, d: int) -> str | None:
        ks = b.some_var(kseqs)
        return f"dict.fromkeys({ks[0]}, {b.lit(vt)})" if ks else None

    table: Table = [(3, comp), (1, zip_), (0.5, copy), (0.5, fromkeys)]
    if ty == DICT_II:
        table.append((1, enum))
    return table


def tuple_productions() -> Table:

    def from_seq(b: ExprBuilder, d: int) -> str:
        src = b.source(b.pick((LIST_INT, LIST_INT, SET_INT)), d)
        return f"tuple(sorted({src}))" if b.chance(0.4) else f"tuple({src})"

    def pair(b: ExprBuilder, d: int) -> str:
        return f"({b.expr(INT, d)}, {b.expr(INT, d)})"

    def divmod_(b: ExprBuilder, d: int) -> str:
        return f"divmod({b.expr(INT, d)}, {b.small(2, 9)})"

    def slice_(b: ExprBuilder, d: int) -> str:
        return b.source(TUPLE_INT, d) + b.pick(("[::-1]", "[1:]", "[:2]"))

    return [(2, from_seq), (2, pair), (1.5, divmod_), (1, slice_)]


def set_productions() -> Table:

    def from_seq(b: ExprBuilder, d: int) -> str:
        return f"set({b.source(b.pick((LIST_INT, TUPLE_INT)), d)})"

    def comp(b: ExprBuilder, d: int) -> str | None:
        return b.comprehension(INT, d, "set")

    def algebra(b: ExprBuilder, d: int) -> str:
        op = b.pick(("|", "&", "-"))
        return f"{b.operand(SET_INT, d)} {op} {b.operand(SET_INT, d)}"

    def literal(b: ExprBuilder, d: int) -> str:
        return "{" + ", ".join(_elem(b, INT) for _ in range(b.small(1, 3))) + "}"

    def from_dict(b: ExprBuilder, d: int) -> str | None:
        found = b.some_var((DICT_SI, DICT_II))
        if found is None:
            return None
        name, ty = found
        return f"set({name}.values())" if ty == DICT_SI or b.chance(0.5) else f"set({name})"

    return [(3, from_seq), (2, comp), (1, algebra), (0.7, literal), (0.6, from_dict)]
