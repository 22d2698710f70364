"""Statement builders: assignments, mutations, unpacking, if / for / while.

Each builder writes lines at the current indent and updates the scope, or
returns False when the scope cannot support it. Compound statements open a
block (`block`) whose new variables and facts end with it. Termination is
by construction: `for` loops run over finite values that the body may not
resize (the iterable is frozen); every `while` form has a variable that
moves monotonically toward its exit and that the body may not touch (a
counter bumped as the body's last line, with `continue` banned; a list
popped as the body's first line; a string shortened by `replace`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


class StmtBuilder(ExprBuilder):
    """Writes statements into `self.out`, tracking the scope as it goes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.out: list[str] = []
        self.indent = 0

    def emit(self, text: str) -> None:
        self.out.append("    " * self.indent + text)

    @contextmanager
    def block(self, header: str, loop: Loop | None = None) -> Iterator[None]:
        self.emit(header)
        snap = self.scope.snapshot()
        self.scope.mutated = set()
        self.indent += 1
        if loop is not None:
            self.scope.loops.append(loop)
        try:
            yield
        finally:
            if loop is not None:
                self.scope.loops.pop()
            self.indent -= 1
            self.scope.restore(snap)

    # ---- sequencing -----------------------------------------------------
    def body(self, depth: int, n: int | None = None) -> None:
        """`n` statements (at least one line) at nesting `depth`."""
        start = len(self.out)
        for _ in range(n if n is not None else self.small(1, self.k.max_block)):
            self.statement(depth)
        if len(self.out) == start:
            self.s_init(depth)

    def statement(self, depth: int) -> bool:
        options: list[tuple[float, Callable[[int], bool]]] = [
            (2.5 if depth == 0 else 0.7, self.s_init),
            (1.0, self.s_assign),
            (2.0, self.s_aug),
            (3.0, self.s_mutate),
            (0.6, self.s_unpack),
        ]
        if depth < self.k.max_depth:
            options += [(2.6, self.c_for), (1.0, self.c_while), (2.0, self.c_if)]
        if self.scope.loops:
            cont = 0.5 if self.scope.loops[-1].allow_continue else 0.0
            options += [(0.6, self.s_break), (cont, self.s_continue), (0.25, self.s_return)]
        weights = [w for w, _ in options]
        for _ in range(6):
            if self.rng.choices(options, weights)[0][1](depth):
                return True
        return False

    # ---- simple statements ----------------------------------------------
    def s_init(self, depth: int) -> bool:
        ty = self.rng.choices(list(INIT_WEIGHTS), list(INIT_WEIGHTS.values()))[0]
        value = self.zero(ty) if self.chance(0.4) else self.expr(ty)
        name = self.fresh(ty)
        self.emit(f"{name} = {value}")
        self.scope.declare(name, ty)
        if ty == STR and re.fullmatch(r"'[^'\\]'", value):
            self.scope.chars.add(name)
        return True

    def growth_ok(self, target: str, ty: str, value: str) -> bool:
        """Inside a loop, a string or list may grow by pieces, never by a value
        that itself grows in the loop, and never by itself (no doubling)."""
        if not self.scope.loops or ty not in GROWABLE:
            return True
        if len(re.findall(rf"\b{target}\b", value)) > 1:
            return False
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
        ty = self.rng.choice(types)
        name = self.rng.choice(self.scope.mutable(ty))
        value = self.expr(ty)
        if value == name or not self.growth_ok(name, ty, value):
            return False
        self.emit(f"{name} = {value}")
        self.scope.touch(name)
        return True

    def s_aug(self, depth: int) -> bool:
        sc, rng = self.scope, self.rng
        if self.chance(0.25):
            item = self.indexed(INT, (LIST_INT,)) or self.known_key(INT)
            if item is not None:
                self.emit(f"{item} {rng.choice(('+=', '-=', '+='))} {self.operand(INT, 0)}")
                self._values_changed(item.split("[")[0])
                return True
        found = [
            (n, t) for n, t in sc.live.items() if t in (INT, STR, *LISTS) and n not in sc.frozen
        ]
        if not found:
            return False
        name, ty = rng.choice(found)
        if ty == INT:
            r = rng.random()
            if r < 0.6:
                text = f"{name} {rng.choice(('+=', '-=', '+='))} {self.operand(INT, 0)}"
            elif r < 0.75:
                text = f"{name} *= {self.small(2, 3)}"
            else:
                text = f"{name} {rng.choice(('//=', '%='))} {self.small(2, 10)}"
        elif ty == STR:
            value = self.expr(STR, 1)
            if not self.growth_ok(name, ty, value):
                return False
            text = f"{name} += {value}"
        else:
            value = f"[{self.leaf(ELEM[ty])}]" if self.chance(0.6) else self.expr(ty, 1)
            if not self.growth_ok(name, ty, value):
                return False
            text = f"{name} += {value}"
        self.emit(text)
        sc.touch(name)
        return True

    def _values_changed(self, name: str) -> None:
        """An item of `name` changed: its size (and size facts) did not."""
        f = self.scope.facts
        f.member_of = {p for p in f.member_of if p[1] != name}

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
        """Item assignment: legal even on a list or dict the loop iterates."""
        sc = self.scope
        if ty in LISTS:
            idx = sorted(i for i, s in sc.facts.index_for if s == name and i in sc.live)
            if not idx:
                return False
            self.emit(f"{name}[{self.rng.choice(idx)}] = {self.expr(ELEM[ty], 1)}")
        elif ty in DICTS:
            keys = sorted(k for k, d in sc.facts.key_of if d == name)
            if not keys:
                return False
            self.emit(f"{name}[{self.rng.choice(keys)}] = {self.expr(VALUE[ty], 1)}")
        else:
            return False
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
            if not self.growth_ok(name, ty, src):
                return False
            self.emit(f"{name}.extend({src})")
        elif r < 0.53:
            pos = rng.choice(("0", "0", f"len({name}) // 2", str(self.small(1, 3))))
            self.emit(f"{name}.insert({pos}, {self.expr(e, 1)})")
        elif r < 0.63:
            x = self._member_or(name, e)
            if x is None:
                return False
        elif r < 0.75:
            self._pop(name, ty)
        elif r < 0.9:
            key = rng.choice(("", "", "reverse=True", "key=len" if e == STR else "key=abs"))
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
            x = self.rng.choice(facts)
            self.emit(f"{name}.remove({x})")
            return x
        x = self.leaf(e)
        self.emit(f"if {x} in {name}:")
        self.emit(f"    {name}.remove({x})")
        return x

    def _pop(self, name: str, ty: str) -> None:
        arg = self.rng.choice(("", "", "0", "-1"))
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
            self.emit(f"{name}[{key}] = {self.expr(vt, 1)}")
        elif r < 0.5 and vt == INT:
            step = rng.choice(("1", "1", key)) if kt == INT else "1"
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
                self.emit(f"del {name}[{rng.choice(known)}]")
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
            src = self.source(rng.choice((LIST_INT, TUPLE_INT, SET_INT)), 1)
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
            a, b = rng.sample(sc.mutable(rng.choice(types)), 2)
            self.emit(f"{a}, {b} = {b}, {a}")
            sc.touch(a)
            sc.touch(b)
            return True
        if r < 0.4:
            names = [(INT, ("q", "quot", "div")), (INT, ("r", "rem", "mod"))]
            value = f"divmod({self.expr(INT, 1)}, {self.small(2, 9)})"
        elif r < 0.55:
            names = [(INT, ("lo", "low", "a")), (INT, ("hi", "high", "b"))]
            x, y = self.leaf(INT), self.leaf(INT)
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
            ta, tb = rng.choice(ALL_TYPES), rng.choice((INT, STR, LIST_INT))
            names = [(ta, None), (tb, None)]
            value = f"{self.expr(ta, 1)}, {self.expr(tb, 1)}"
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
            self.emit(f"return {self.expr(self.rng.choice(ALL_TYPES), 1)}")
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
        rng, sc = self.rng, self.scope
        r = rng.random()
        if r < 0.15:
            found = self.some_var(CONTAINERS)
            if found:
                n = found[0]
                form = rng.choice((n, f"len({n}) > 0", f"not {n}"))
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
        with self.block(f"for {it.target} in {it.src}:", Loop(allow_continue=True)):
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
