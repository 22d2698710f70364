"""Statement builders: assignments, mutations, unpacking, `if`, `for`.

Each builder writes lines at the current indent and updates the scope, or
returns False when the scope cannot support it. Compound statements open a
block (`block`) whose new variables and facts end with it. `for` loops end
by construction: they run over finite values that the body may not resize
or rebind (the iterable is frozen; item assignment stays allowed). Values
do not run away: inside a loop a string or list grows by pieces, never by
itself or by another value growing in the same loop, and mutable values
are copied on assignment (`list(nums)`), so no alias can grow a list that
a loop is iterating. Loop nesting is budgeted by estimated trip counts
(`can_loop`), so traces stay near the knobs' line band. The `while` forms
live in `loops.py`.
"""

from __future__ import annotations

import re
from bisect import bisect
from functools import cache
from itertools import accumulate

from opencwm.data.synthetic.exprs import ExprBuilder, Iteration, names_in
from opencwm.data.synthetic.scope import (
    ALL_TYPES,
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
    LISTS,
    SET_INT,
    STR,
    TUPLE_INT,
    VALUE,
    Loop,
)


@cache
def _statement_table(
    compound: bool, in_loop: bool, can_continue: bool, depth: int
) -> tuple[list[str], list[float]]:
    """Statement builders (by method name) and cumulative weights for a context.
    Loops thin out with depth: nested trip counts multiply."""
    loop = 1 / (1 + 1.5 * depth)
    options = [
        (2.5 if depth == 0 else 0.7, "s_init"),
        (1.0, "s_assign"),
        (2.0, "s_aug"),
        (3.0, "s_mutate"),
        (0.6, "s_unpack"),
    ]
    if compound:
        options += [(2.6 * loop, "c_for"), (1.0 * loop, "c_while"), (2.0, "c_if")]
    if in_loop:
        options += [(0.6, "s_break"), (0.25, "s_return")]
    if can_continue:
        options.append((0.5, "s_continue"))
    return [n for _, n in options], list(accumulate(w for w, _ in options))


INIT_WEIGHTS = {
    INT: 3,
    STR: 2,
    LIST_INT: 2,
    LIST_STR: 1.2,
    DICT_SI: 1,
    DICT_II: 0.5,
    DICT_SS: 0.3,
    SET_INT: 0.6,
    BOOL: 0.8,
    TUPLE_INT: 0.4,
}
GROWABLE = (STR, LIST_INT, LIST_STR, TUPLE_INT)


class Block:
    """The scope work around one indented block (a class: cheaper than @contextmanager)."""

    __slots__ = ("b", "loop", "outer_trips", "snap", "trips")

    def __init__(self, b: StmtBuilder, loop: Loop | None, trips: float) -> None:
        self.b, self.loop, self.trips = b, loop, trips

    def __enter__(self) -> None:
        b = self.b
        self.snap = b.scope.snapshot()
        b.scope.mutated = set()
        b.indent += 1
        self.outer_trips = b.trips
        b.trips *= self.trips
        b.peak = max(b.peak, b.trips)
        if self.loop is not None:
            b.scope.loops.append(self.loop)

    def __exit__(self, *exc: object) -> None:
        b = self.b
        if self.loop is not None:
            b.scope.loops.pop()
        b.indent -= 1
        b.trips = self.outer_trips
        b.scope.restore(self.snap)


class StmtBuilder(ExprBuilder):
    """Writes statements into `self.out`, tracking the scope as it goes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.out: list[str] = []
        self.indent = 0
        # past this many lines, no new blocks: nesting multiplies code size
        self.code_budget = 3 * self.k.max_statements + 6

    def emit(self, text: str) -> None:
        self.out.append("    " * self.indent + text)
        self.spent += self.trips

    def block(self, header: str, loop: Loop | None = None, trips: float = 1.0) -> Block:
        """An indented block (`with`); `loop` and its estimated `trips` if it repeats."""
        self.emit(header)
        return Block(self, loop, trips)

    # ---- sequencing -----------------------------------------------------
    def body(self, depth: int, n: int | None = None) -> None:
        """`n` statements (at least one line) at nesting `depth`."""
        start = len(self.out)
        for _ in range(n if n is not None else self.small(1, self.k.max_block)):
            self.statement(depth)
        if len(self.out) == start:
            self.s_init(depth)

    def statement(self, depth: int) -> bool:
        """One random statement; compound ones only below `max_depth`."""
        loops = self.scope.loops
        compound = depth < self.k.max_depth and len(self.out) < self.code_budget
        key = (compound, bool(loops), bool(loops) and loops[-1].allow_continue)
        names, cum = _statement_table(*key, depth=min(depth, 3))
        for _ in range(6):
            if getattr(self, names[bisect(cum, self.rng.random() * cum[-1])])(depth):
                return True
        return False

    # ---- simple statements ----------------------------------------------
    def s_init(self, depth: int) -> bool:
        ty = self.rng.choices(list(INIT_WEIGHTS), list(INIT_WEIGHTS.values()))[0]
        value = self.zero(ty) if self.chance(0.4) else self.unaliased(ty, self.expr(ty))
        name = self.fresh(ty)
        self.emit(f"{name} = {value}")
        self.scope.declare(name, ty)
        if ty == STR and re.fullmatch(r"'[^'\\]'", value):
            self.scope.chars.add(name)
        return True

    def growth_ok(self, target: str, ty: str, value: str, aug: bool = False) -> bool:
        """A string or list may grow by pieces, never by itself (no doubling);
        inside a loop, never by a value that itself grows in the loop.
        `aug`: `value` is added to `target` (`+=`, `extend`), not assigned."""
        if ty not in GROWABLE:
            return True
        if len(re.findall(rf"\b{target}\b", value)) > (0 if aug else 1):
            return False
        if not self.scope.loops:
            return True
        grown = set().union(*(lp.grown for lp in self.scope.loops))
        live = self.scope.live
        feeds = {n for n in names_in(value) if live.get(n) in GROWABLE and n != target}
        if feeds & grown:
            return False
        for lp in self.scope.loops:
            lp.grown.add(target)
        return True

    def s_assign(self, depth: int) -> bool:
        types = [t for t in ALL_TYPES if self.scope.mutable(t)]
        if not types:
            return False
        ty = self.pick(types)
        name = self.pick(self.scope.mutable(ty))
        value = self.expr(ty)
        if value == name or not self.growth_ok(name, ty, value):
            return False
        value = self.unaliased(ty, value)
        if not self.growth_ok(name, ty, value):
            return False
        self.emit(f"{name} = {value}")
        self.scope.touch(name)
        return True

    def s_aug(self, depth: int) -> bool:
        sc, rng = self.scope, self.rng
        if self.chance(0.25):
            item = self.indexed(INT, (LIST_INT,)) or self.known_key(INT)
            if item is not None:
                self.emit(f"{item} {self.pick(('+=', '-=', '+='))} {self.operand(INT, 0)}")
                self._values_changed(item.split("[")[0])
                return True
        found = [
            (n, t) for n, t in sc.live.items() if t in (INT, STR, *LISTS) and n not in sc.frozen
        ]
        if not found:
            return False
        name, ty = self.pick(found)
        if ty == INT:
            r = rng.random()
            if r < 0.6:
                text = f"{name} {self.pick(('+=', '-=', '+='))} {self.operand(INT, 0)}"
            elif r < 0.75:
                text = f"{name} *= {self.small(2, 3)}"
            else:
                text = f"{name} {self.pick(('//=', '%='))} {self.small(2, 10)}"
        elif ty == STR:
            value = self.expr(STR, 1)
            if not self.growth_ok(name, ty, value, aug=True):
                return False
            text = f"{name} += {value}"
        else:
            value = f"[{self.leaf(ELEM[ty])}]" if self.chance(0.6) else self.expr(ty, 1)
            if not self.growth_ok(name, ty, value, aug=True):
                return False
            text = f"{name} += {value}"
        self.emit(text)
        sc.touch(name)
        return True

    def _values_changed(self, name: str) -> None:
        """An item of `name` changed: its size (and size facts) did not, here;
        after the enclosing block all its facts are dropped (it is `mutated`)."""
        f = self.scope.facts
        f.member_of = {p for p in f.member_of if p[1] != name}
        self.scope.mutated.add(name)

    def s_mutate(self, depth: int) -> bool:
        found = self.some_var((*LISTS, *DICTS, SET_INT))
        if found is None:
            return False
        name, ty = found
        if name in self.scope.frozen:
            return self._mutate_in_place(name, ty)
        if ty in LISTS:
            return self._mutate_list(name, ty)
        if ty in DICTS:
            return self._mutate_dict(name, ty)
        return self._mutate_set(name)

    def _mutate_in_place(self, name: str, ty: str) -> bool:
        """Item assignment: legal even on a list or dict the loop iterates.
        In a loop, an item may not be built from its own container (growth)."""
        sc = self.scope
        if ty in LISTS:
            idx = sorted(i for i, s in sc.facts.index_for if s == name and i in sc.live)
            if not idx:
                return False
            item, value = f"{name}[{self.pick(idx)}]", self.expr(ELEM[ty], 1)
        elif ty in DICTS:
            keys = sorted(k for k, d in sc.facts.key_of if d == name)
            if not keys:
                return False
            item, value = f"{name}[{self.pick(keys)}]", self.expr(VALUE[ty], 1)
        else:
            return False
        if sc.loops and not self.growth_ok(name, LIST_STR, value, aug=True):
            return False
        self.emit(f"{item} = {value}")
        self._values_changed(name)
        return True

    def _mutate_list(self, name: str, ty: str) -> bool:
        rng, sc, e = self.rng, self.scope, ELEM[ty]
        r = rng.random()
        if r < 0.35:
            self.emit(f"{name}.append({self.expr(e, 1)})")
        elif r < 0.45:
            src = self.expr(ty, 1) if self.chance(0.6) else f"{self.operand(STR, 1)}.split()"
            if e == INT and src.endswith(".split()"):
                return False
            if not self.growth_ok(name, ty, src, aug=True):
                return False
            self.emit(f"{name}.extend({src})")
        elif r < 0.53:
            pos = self.pick(("0", "0", f"len({name}) // 2", str(self.small(1, 3))))
            self.emit(f"{name}.insert({pos}, {self.expr(e, 1)})")
        elif r < 0.63:
            x = self._member_or(name, e)
            if x is None:
                return False
        elif r < 0.75:
            self._pop(name, ty)
        elif r < 0.9:
            key = self.pick(("", "", "reverse=True", "key=len" if e == STR else "key=abs"))
            self.emit(f"{name}.sort({key})" if self.chance(0.75) else f"{name}.reverse()")
        elif r < 0.97:
            return self._mutate_in_place(name, ty)
        else:
            self.emit(f"{name}.clear()")
        sc.touch(name)
        if r < 0.35 or 0.45 <= r < 0.53:  # append / insert
            sc.facts.nonempty.add(name)
        return True

    def _member_or(self, name: str, e: str) -> str | None:
        """`name.remove(x)` for a known member, else guarded by `if x in name`."""
        facts = sorted(x for x, c in self.scope.facts.member_of if c == name)
        if facts:
            x = self.pick(facts)
            self.emit(f"{name}.remove({x})")
            return x
        x = self.leaf(e)
        self.emit(f"if {x} in {name}:")
        self.emit(f"    {name}.remove({x})")
        return x

    def _pop(self, name: str, ty: str) -> None:
        arg = self.pick(("", "", "0", "-1"))
        if name in self.scope.facts.nonempty:
            if self.chance(0.6):
                target = self.fresh(ELEM[ty])
                self.emit(f"{target} = {name}.pop({arg})")
                self.scope.touch(name)
                self.scope.declare(target, ELEM[ty])
                return
            self.emit(f"{name}.pop({arg})")
            return
        self.emit(f"if {name}:")
        self.emit(f"    {name}.pop({arg})")

    def _mutate_dict(self, name: str, ty: str) -> bool:
        rng, sc = self.rng, self.scope
        kt, vt = ELEM[ty], VALUE[ty]
        key = self.needle() if kt == STR and self.chance(0.4) else self.leaf(kt)
        r = rng.random()
        if r < 0.3:
            value = self.expr(vt, 1)
            if vt == STR and sc.loops and not self.growth_ok(name, LIST_STR, value, aug=True):
                return False
            self.emit(f"{name}[{key}] = {value}")
        elif r < 0.5 and vt == INT:
            step = self.pick(("1", "1", key)) if kt == INT else "1"
            self.emit(f"{name}[{key}] = {name}.get({key}, 0) + {step}")
        elif r < 0.6:
            self.emit(f"{name}.setdefault({key}, {self.expr(vt, 1)})")
        elif r < 0.72:
            other = self.var(ty)
            if other and other != name and self.chance(0.5):
                self.emit(f"{name}.update({other})")
            else:
                self.emit(f"{name}.update({{{key}: {self.expr(vt, 1)}}})")
            sc.touch(name)
            return True
        elif r < 0.85:
            known = sorted(k for k, d in sc.facts.key_of if d == name)
            if known:
                self.emit(f"del {name}[{self.pick(known)}]")
            else:
                self.emit(f"{name}.pop({key}, None)")
            sc.touch(name)
            return True
        else:
            target = self.fresh(vt)
            self.emit(f"{target} = {name}.pop({key}, {self.lit(vt)})")
            sc.touch(name)
            sc.declare(target, vt)
            return True
        sc.touch(name)
        sc.facts.key_of.add((key, name))  # key is a variable or a literal
        sc.facts.nonempty.add(name)
        return True

    def _mutate_set(self, name: str) -> bool:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            self.emit(f"{name}.add({self.expr(INT, 1)})")
        elif r < 0.7:
            self.emit(f"{name}.discard({self.leaf(INT)})")
        elif r < 0.9:
            src = self.source(self.pick((LIST_INT, TUPLE_INT, SET_INT)), 1)
            if src == name:
                return False
            self.emit(f"{name}.update({src})")
        else:
            self._member_or(name, INT)
        self.scope.touch(name)
        return True

    def s_unpack(self, depth: int) -> bool:
        rng, sc = self.rng, self.scope
        r = rng.random()
        if r < 0.2:
            types = [t for t in ALL_TYPES if len(sc.mutable(t)) >= 2]
            if not types:
                return False
            a, b = rng.sample(sc.mutable(self.pick(types)), 2)
            self.emit(f"{a}, {b} = {b}, {a}")
            sc.touch(a)
            sc.touch(b)
            return True
        if r < 0.4:
            names = [(INT, ("q", "quot", "div")), (INT, ("r", "rem", "mod"))]
            value = f"divmod({self.expr(INT, 1)}, {self.small(2, 9)})"
        elif r < 0.55:
            names = [(INT, ("lo", "low", "a")), (INT, ("hi", "high", "b"))]
            ints = self.scope.of(INT)
            x, y = self.pick(ints) if ints else None, self.leaf(INT)
            if x is None or x == y:
                return False
            value = f"min({x}, {y}), max({x}, {y})"
        elif r < 0.7:
            names = [(STR, ("head", "left", "first")), (STR, ("tail", "right", "rest"))]
            s, k = self.source(STR, 1), self.small(1, 3)
            value = f"{s}[:{k}], {s}[{k}:]"
        elif r < 0.8:
            names = [(STR, ("before", "head")), (STR, ("sep",)), (STR, ("after", "tail"))]
            value = f"{self.source(STR, 1)}.partition({self.needle()})"
        elif r < 0.9:
            lst = self.nonempty(LISTS)
            if lst is None:
                return False
            ty = sc.live[lst]
            names = [(ELEM[ty], ("first", "head")), (ty, ("rest", "tail", "others"))]
            chosen = [self.fresh(t, pool) for t, pool in names]
            self.emit(f"{chosen[0]}, *{chosen[1]} = {lst}")
            for (t, _), n in zip(names, chosen, strict=True):
                sc.declare(n, t)
            return True
        else:
            ta, tb = self.pick(ALL_TYPES), self.pick((INT, STR, LIST_INT))
            names = [(ta, None), (tb, None)]
            a, b = self.expr(ta, 1), self.expr(tb, 1)
            value = f"{self.unaliased(ta, a)}, {self.unaliased(tb, b)}"
        chosen: list[str] = []
        for t, pool in names:
            n = self.fresh(t, pool)
            if n in chosen:
                return False
            chosen.append(n)
        self.emit(f"{', '.join(chosen)} = {value}")
        for (t, _), n in zip(names, chosen, strict=True):
            sc.declare(n, t)
        return True

    def s_break(self, depth: int) -> bool:
        with self.block(f"if {self.cond()}:"):
            self.emit("break")
        return True

    def s_continue(self, depth: int) -> bool:
        with self.block(f"if {self.cond()}:"):
            self.emit("continue")
        return True

    def s_return(self, depth: int) -> bool:
        with self.block(f"if {self.cond()}:"):
            ty = self.ret or self.pick(ALL_TYPES)
            self.emit(f"return {self.unaliased(ty, self.expr(ty, 1))}")
        return True

    # ---- compound statements --------------------------------------------
    def c_if(self, depth: int) -> bool:
        cond, facts, negated = self._fact_cond()
        with self.block(f"if {cond}:"):
            if not negated:
                self._assume(facts)
            self.body(depth + 1)
        if self.chance(0.3):
            with self.block(f"elif {self.cond()}:"):
                self.body(depth + 1)
        if negated or self.chance(0.4):
            with self.block("else:"):
                if negated:
                    self._assume(facts)
                self.body(depth + 1)
        return True

    def _fact_cond(self) -> tuple[str, list[tuple[str, tuple[str, ...]]], bool]:
        """A condition, the facts it establishes, and whether they hold in `else`."""
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            found = self.some_var(CONTAINERS)
            if found:
                n = found[0]
                form = self.pick((n, f"len({n}) > 0", f"not {n}"))
                return form, [("nonempty", (n,))], form.startswith("not ")
        elif r < 0.25:
            found = self.some_var(DICTS)
            if found:
                d, ty = found
                k = self.needle() if ELEM[ty] == STR and self.chance(0.5) else self.leaf(ELEM[ty])
                return f"{k} in {d}", [("key_of", (k, d))], False
        elif r < 0.35:
            found = self.some_var((LIST_INT, LIST_STR, TUPLE_INT, SET_INT))
            if found:
                c, ty = found
                e = self.leaf(ELEM[ty])
                return f"{e} in {c}", [("member_of", (e, c))], False
        elif r < 0.4:
            s = self.var(STR)
            if s:
                return f"{s}.isdigit()", [("digits", (s,))], False
        return self.cond(), [], False

    def _assume(self, facts: list[tuple[str, tuple[str, ...]]]) -> None:
        f = self.scope.facts
        for kind, args in facts:
            if kind in ("nonempty", "digits"):
                getattr(f, kind).add(args[0])
            else:
                getattr(f, kind).add(args)

    def c_for(self, depth: int) -> bool:
        it = self.iteration()
        if it is None or any(not self.scope.usable_name(n, t) for n, t in it.targets):
            return False
        trips = self.trip_estimate(it.src)
        if not self.can_loop(trips):
            return False
        with self.block(f"for {it.target} in {it.src}:", Loop(allow_continue=True), trips):
            self._enter_loop(it, names_in(it.src))
            self.body(depth + 1)
        return True

    def _enter_loop(self, it: Iteration, uses: set[str]) -> None:
        sc = self.scope
        sc.frozen |= uses & set(sc.live)
        for n, t in it.targets:
            sc.declare(n, t)
            sc.frozen.add(n)
        sc.facts.keep_only(sc.frozen)
        sc.chars.update(it.chars)
        sc.facts.index_for.update(it.index_for)
        sc.facts.key_of.update(it.key_of)

    def c_while(self, depth: int) -> bool:
        """Written by `loops.WhileBuilder`; a plain statement builder has none."""
        return False
