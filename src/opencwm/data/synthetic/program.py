"""Whole programs: helpers (plain, recursive, nested), `f`, its input.

`build` draws `f`'s parameters and their values first (the values seed the
literal vocabulary), then decides the program's features (a helper, a
recursive helper, a try/except, a deliberate uncaught exception) and puts
each in a slot of `f`'s body among ordinary random statements, so every
feature meets every other. Recursion always has a base case and an
argument that strictly shrinks toward it (`n - 1` under `n > 0`,
`xs[1:]` under "xs is non-empty", `i + 1` up to `len(s)`), and int
arguments of recursive helpers are capped at the call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from opencwm.data.synthetic.exprs import Helper, names_in
from opencwm.data.synthetic.knobs import Knobs
from opencwm.data.synthetic.loops import WhileBuilder
from opencwm.data.synthetic.scope import (
    ALL_TYPES,
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
    SEQUENCES,
    SET_INT,
    STR,
    TUPLE_INT,
    VALUE,
    Loop,
    Scope,
)
from opencwm.data.synthetic.values import WORDS, literal, rand_value, vocabulary

PARAM_WEIGHTS = {
    STR: 3,
    LIST_INT: 2.5,
    LIST_STR: 1.2,
    INT: 1.5,
    DICT_SI: 0.6,
    DICT_II: 0.3,
    DICT_SS: 0.3,
    TUPLE_INT: 0.4,
    SET_INT: 0.3,
    BOOL: 0.3,
}
RET_WEIGHTS = {INT: 3, STR: 2.5, BOOL: 1.5, LIST_INT: 1.5, LIST_STR: 1}
HELPER_NAMES = {
    INT: ("score", "count_of", "measure", "weight", "total_of", "size_of", "rank"),
    BOOL: ("is_valid", "check", "matches", "is_good", "accept", "keep"),
    STR: ("clean", "fmt", "convert", "normalize", "render", "encode", "tidy"),
    LIST_INT: ("collect", "build", "expand", "pick", "spread"),
    LIST_STR: ("tokens_of", "split_all", "gather", "chunks"),
}
REC_NAMES = ("rec", "walk", "go", "solve", "fold", "count_down", "dig", "visit", "step_down")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A generated program before it is checked. `expect` is the exception a
    deliberately failing program must end with (None: it must return)."""

    code: str
    args: tuple[object, ...]
    input: str
    expect: str | None


def build(rng: random.Random, knobs: Knobs, fail: bool = False) -> Candidate:
    """One candidate program with its input, drawn from `rng`; `fail`: built
    to end in an uncaught exception."""
    n = rng.randint(1, knobs.max_params)
    types = rng.choices(list(PARAM_WEIGHTS), list(PARAM_WEIGHTS.values()), k=n)
    values = [rand_value(rng, t, knobs) for t in types]
    chars, words = vocabulary(values)
    b = ProgramBuilder(rng, knobs, chars, words)
    sizes = [len(v) for v in values if isinstance(v, (str, list, tuple, dict, set))]
    b.typical_len = max([2, *sizes])
    code, expect = b.program(types, fail)
    return Candidate(code, tuple(values), ", ".join(map(literal, values)), expect)


class ProgramBuilder(WhileBuilder):
    """Writes helpers and `f`; `program` returns the source and the planned error."""

    def program(self, param_types: list[str], fail: bool) -> tuple[str, str | None]:
        k, rng = self.k, self.rng
        top: list[str] = []
        if self.chance(k.p_recursion) and self.chance(0.7):
            top += self.sub(lambda: self.recursive(), nested=False)
        if self.chance(k.p_helper) and self.chance(0.6):
            top += self.sub(lambda: self.helper(), nested=False)
        want_try = self.chance(k.p_try)
        if want_try and self.chance(0.3):
            top += self.sub(lambda: self.helper(raising=True), nested=False)

        params = []
        for ty in param_types:
            name = self.fresh(ty)
            self.scope.declare(name, ty)
            params.append(name)
        self.emit(f"def f({', '.join(params)}):")
        self.indent = 1
        if self.chance(k.p_recursion) and self.chance(0.3):
            self.out += self.sub(lambda: self.recursive(closure=True), nested=True)
        if self.chance(k.p_helper) and self.chance(0.4):
            self.out += self.sub(lambda: self.helper(), nested=True)
        self.body_start = len(self.out)

        n = self.small(max(1, (k.max_statements + 1) // 2), k.max_statements)
        specials = ["s_call"] * sum(1 for h in self.helpers if not h.raises)
        if k.max_depth > 0 and self.chance(0.85):
            specials.append("s_loop")  # most small real functions have one
        if want_try:
            specials.append("s_try")
        if fail:
            specials.append("s_fail")
        total = n + len(specials)
        slots = dict(zip(rng.sample(range(total), len(specials)), specials, strict=True))
        expect = None
        for i in range(total):
            special = slots.get(i)
            if special is None:
                self.statement(0)
            elif special == "s_fail":
                expect = self.s_fail(0)
            else:
                getattr(self, special)(0)
        for _ in range(4):  # too little for the trace-length band: add work, not a rejection
            if self.spent >= 1.5 * k.min_lines or not self.c_for(0):
                break
        self.s_final_return()
        return "\n".join([*top, *self.out]) + "\n", expect

    # ---- functions ------------------------------------------------------
    def sub(self, write: Callable[[], Helper | None], nested: bool) -> list[str]:
        """Write a function with its own scope and output; return its lines.
        A nested function sees `f`'s parameters (read-only) as closure cells.
        Helper names are reserved in every scope: no local may shadow one."""
        saved = (self.scope, self.out, self.indent, self.used_repeat, self.ret, self.trips)
        saved_spent = self.spent
        self.trips = self.peak = 1.0
        outer = self.scope
        self.scope = Scope()
        self._reserve(self.scope)
        if nested:
            params = list(outer.live.items())
            for name, ty in params:
                self.scope.declare(name, ty)
                self.scope.frozen.add(name)
            self.scope.recent.clear()
        self.out, self.indent = [], 1 if nested else 0
        try:
            helper = write()
        finally:
            lines = self.out
            self.scope, self.out, self.indent, self.used_repeat, self.ret, self.trips = saved
            self.spent = saved_spent
        if helper is not None:
            if not helper.cost:
                helper.cost = len(lines) * self.peak
            self.helpers.append(helper)
        self._reserve(self.scope)
        return [*lines, ""] if not nested else lines

    def _reserve(self, scope: Scope) -> None:
        for h in self.helpers:
            scope.bound.setdefault(h.name, "function")

    def _params(self, types: list[str]) -> list[str]:
        names = []
        for ty in types:
            name = self.fresh(ty)
            self.scope.declare(name, ty)
            names.append(name)
        return names

    def _name(self, pool: tuple[str, ...]) -> str:
        taken = {h.name for h in self.helpers} | set(self.scope.bound)
        free = [n for n in pool if n not in taken]
        return self.pick(free) if free else f"{pool[0]}{len(self.helpers) + 2}"

    def helper(self, raising: bool = False) -> Helper:
        rng = self.rng
        ret = rng.choices(list(RET_WEIGHTS), list(RET_WEIGHTS.values()))[0]
        name = self._name(HELPER_NAMES[ret])
        self.ret = ret
        types = rng.choices((INT, STR, LIST_INT, LIST_STR), (3, 3, 2, 1), k=self.small(1, 2))
        params = self._params(types)
        self.emit(f"def {name}({', '.join(params)}):")
        self.indent += 1
        if raising:
            p = params[0]
            self.emit(f"if {self.cond()}:")
            self.emit(f'    raise ValueError(f"bad {p}: {{{p}}}")')
        self.scope.frozen.update(params)  # a helper must not resize what f may be iterating
        self.body(max(self.k.max_depth - 1, 0), self.small(0, 2))
        self.emit(f"return {self.unaliased(ret, self.expr(ret))}")
        return Helper(name, tuple(types), ret, raises=raising)

    def recursive(self, closure: bool = False) -> Helper | None:
        rng = self.rng
        ret = rng.choices(list(RET_WEIGHTS), list(RET_WEIGHTS.values()))[0]
        name = self._name(REC_NAMES)
        self.ret = ret
        if closure:
            seqs = [n for n, t in self.scope.live.items() if t in SEQUENCES]
            if seqs:
                self._rec_index(name, self.pick(seqs), ret)
                return None
        kind = rng.choices(("int", "seq", "gcd", "binary"), (3, 4, 0.6, 0.8))[0]
        if kind == "gcd":
            a, b = self._params([INT, INT])
            self.emit(f"def {name}({a}, {b}):")
            self.emit(f"    if {b} == 0:")
            self.emit(f"        return {a}")
            self.emit(f"    return {name}({b}, {a} % {b})")
            return Helper(name, (INT, INT), INT, cost=12)
        if kind == "binary":
            (n,) = self._params([INT])
            self.emit(f"def {name}({n}):")
            self.emit(f"    if {n} < 2:")
            self.emit(f"        return {n}")
            self.emit(f"    return {name}({n} - 1) + {name}({n} - 2)")
            cap = self.small(3, 5)
            return Helper(name, (INT,), INT, int_cap=cap, cost=3 * (2 * (cap + 1) ** 1.6))
        ptype = INT if kind == "int" else self.pick((LIST_INT, LIST_STR, STR))
        (p,) = self._params([ptype])
        self.emit(f"def {name}({p}):")
        self.indent += 1
        self.emit(f"if {p} <= 0:" if ptype == INT else f"if not {p}:")
        self.emit(f"    return {self.unaliased(ret, self.expr(ret, 1))}")
        self.scope.frozen.add(p)  # the body must not undo the shrinking
        if ptype == INT:
            smaller = self.pick((f"{p} - 1", f"{p} - 1", f"{p} // 2"))
        else:
            self.scope.facts.nonempty.add(p)
            smaller = self.pick((f"{p}[1:]", f"{p}[1:]", f"{p}[:-1]"))
        self.body(0, self.small(0, 1))
        self._rec_return(f"{name}({smaller})", ret)
        cap = min(self.k.max_list_len + 2, 10)
        depth = cap if ptype == INT else self.typical_len + 1
        return Helper(
            name,
            (ptype,),
            ret,
            int_cap=cap if ptype == INT else None,
            cost=depth * (len(self.out) - 1) * self.peak,
        )

    def _rec_return(self, call: str, ret: str) -> None:
        """`return <combine(call)>`, or bind the recursive result first."""
        if self.chance(0.35):
            rest = self.fresh(ret, ("rest", "sub", "inner", "prev"))
            self.emit(f"{rest} = {call}")
            self.scope.declare(rest, ret)
            call = rest
        r = self.rng.random()
        if ret in (INT, STR, BOOL):
            x = self.operand(ret, 1)
            if ret == INT:
                text = f"{x} + {call}" if r < 0.6 else f"max({x}, {call})" if r < 0.8 else None
                text = text or f"{call} + 1"
            elif ret == STR:
                text = f"{call} + {x}" if r < 0.5 else f"{x} + {call}"
            else:
                text = f"{x} and {call}" if r < 0.4 else f"{x} or {call}" if r < 0.8 else None
                text = text or f"not {call}"
        else:
            x = self.expr(ELEM[ret], 1)
            text = f"{call} + [{x}]" if r < 0.5 else f"[{x}] + {call}"
        self.emit(f"return {text}")

    def _rec_index(self, name: str, seq: str, ret: str) -> None:
        """A nested recursive walk over a sequence `f` holds: `name(0)` to `len(seq)`."""
        i = self.fresh(INT, ("i", "idx", "pos"))
        self.scope.declare(i, INT)
        self.emit(f"def {name}({i}):")
        self.indent += 1
        self.emit(f"if {i} >= len({seq}):")
        self.emit(f"    return {self.unaliased(ret, self.expr(ret, 1))}")
        self.scope.facts.index_for.add((i, seq))
        self.scope.frozen.add(i)
        self._rec_return(f"{name}({i} + 1)", ret)
        cost = (self.typical_len + 1) * (len(self.out) - 1)
        self.helpers.append(Helper(name, (), ret, call_args="0", cost=cost))

    # ---- special statements of f ------------------------------------------
    def s_call(self, depth: int) -> bool:
        """Call a helper that `f` has not called yet (each is called at least once)."""
        for h in self.helpers:
            if h.raises or any(f"{h.name}(" in line for line in self.out[self.body_start :]):
                continue
            call = self._call(h)
            target = self.fresh(h.ret)
            self.emit(f"{target} = {call}")
            self.scope.declare(target, h.ret)
            return True
        return self.statement(depth)

    def _call(self, h: Helper) -> str:
        self.spent += h.cost * self.trips
        if h.call_args is not None:
            return f"{h.name}({h.call_args})"
        args = []
        for p in h.params:
            a = self.source(p, 1)
            if h.int_cap and p == INT and not a.lstrip("-").isdigit():
                a = f"min({a}, {h.int_cap})"
            args.append(a)
        return f"{h.name}({', '.join(args)})"

    def s_try(self, depth: int) -> bool:
        """try/except around an operation that may really fail."""
        sc = self.scope
        it = self.iteration() if depth < self.k.max_depth and self.chance(0.35) else None
        if it is not None and all(sc.usable_name(n, t) for n, t in it.targets):
            trips = self.trip_estimate(it.src)
            if self.can_loop(trips):
                # the classic: for each item, try the risky step, skip on failure
                with self.block(f"for {it.target} in {it.src}:", Loop(True), trips):
                    self._enter_loop(it, names_in(it.src))
                    risky = self._risky()
                    if risky is None:
                        self.body(depth + 1, 1)
                    else:
                        target = self.fresh(risky[1])
                        self._try_body(target, risky[1], risky[0], risky[2], depth + 1)
                return True
        risky = self._risky()
        if risky is None:
            return self.statement(depth)
        text, ty, err = risky
        target = self.fresh(ty)
        self._try_body(target, ty, text, err, depth)
        sc.declare(target, ty)
        return True

    def _try_body(self, target: str, ty: str, risky: str, err: str, depth: int) -> None:
        with self.block("try:"):
            self.emit(f"{target} = {risky}")
            self.scope.declare(target, ty)
            if self.chance(0.4):
                self.body(depth + 1, 1)
        name = " as exc" if self.chance(0.25) else ""
        with self.block(f"except {err}{name}:"):
            if self.scope.loops and self.chance(0.4):
                self.emit("continue")
            elif name and ty == STR:
                self.emit(f"{target} = str(exc)")
            else:
                self.emit(f"{target} = {self.lit(ty)}")
        if self.chance(0.15):
            with self.block("else:"):
                self.body(depth + 1, 1)
        if self.chance(0.15):
            with self.block("finally:"):
                ints = self.scope.mutable(INT)
                if ints:
                    count = self.pick(ints)
                    self.emit(f"{count} += 1")
                    self.scope.touch(count)
                else:
                    self.body(depth + 1, 1)

    def _risky(self) -> tuple[str, str, str] | None:
        """(expression, its type, the exception it may raise)."""
        raising = [h for h in self.helpers if h.raises]
        forms = []
        if raising:
            h = self.pick(raising)
            forms.append((self._call(h), h.ret, "ValueError"))
        s = self.var(STR)
        if s:
            forms.append((f"int({s})", INT, "ValueError"))
        d = self.some_var(DICTS)
        if d:
            forms.append((f"{d[0]}[{self.leaf(ELEM[d[1]])}]", VALUE[d[1]], "KeyError"))
        seq = self.some_var(LISTS)
        if seq:
            e = ELEM[seq[1]]
            forms.append((f"{seq[0]}.index({self.leaf(e)})", INT, "ValueError"))
            forms.append((f"{seq[0]}[{self.expr(INT, 1)}]", e, "IndexError"))
        n = self.var(INT)
        if n:
            forms.append((f"{self.operand(INT, 1)} // {n}", INT, "ZeroDivisionError"))
        return self.pick(forms) if forms else None

    def _absent(self, ty: str) -> str:
        """A literal that is probably not in the data (inputs never hold it)."""
        if ty == INT:
            return str(self.k.max_int + self.small(1, 9))
        unused = [w for w in WORDS if w not in self.vocab_words]
        return repr(self.pick(unused or ["missing"]))

    def _likely_failure(self) -> tuple[str, str, str] | None:
        """A bug that usually bites: a missing key, an off-by-one index, int() of
        a word, index() of an absent value."""
        forms = []
        s = self.var(STR)
        if s:
            forms.append((f"int({s})", INT, "ValueError"))
        d = self.some_var(DICTS)
        if d:
            forms.append((f"{d[0]}[{self._absent(ELEM[d[1]])}]", VALUE[d[1]], "KeyError"))
        seq = self.some_var(LISTS)
        if seq:
            name, e = seq[0], ELEM[seq[1]]
            forms.append((f"{name}[len({name})]", e, "IndexError"))
            forms.append((f"{name}.index({self._absent(e)})", INT, "ValueError"))
        return self.pick(forms) if forms else None

    def s_fail(self, depth: int) -> str:
        """A statement that is meant to end the run with an uncaught exception."""
        raising = [h for h in self.helpers if h.raises]
        r = self.random()
        if raising and r < 0.2:
            h = self.pick(raising)
            target = self.fresh(h.ret)
            self.emit(f"{target} = {self._call(h)}")
            self.scope.declare(target, h.ret)
            return "ValueError"
        risky = self._likely_failure() if r < 0.75 else None
        if risky is not None:
            text, ty, err = risky
            target = self.fresh(ty)
            self.emit(f"{target} = {text}")
            self.scope.declare(target, ty)
            return err
        err = self.pick(("ValueError", "ValueError", "KeyError"))
        names = [n for n, t in self.scope.live.items() if t in (INT, STR)]
        shown = f"{{{self.pick(names)}}}" if names else "input"
        with self.block(f"if {self.cond()}:"):
            self.emit(f'raise {err}(f"unexpected {shown}")')
        return err

    def s_final_return(self) -> None:
        sc, rng = self.scope, self.rng
        recent = [n for n in sc.recent if n in sc.live]
        r = rng.random()
        if recent and r < 0.55:
            value = self.pick(recent[-3:])
        elif len(recent) >= 2 and r < 0.7:
            value = ", ".join(rng.sample(recent[-4:], 2))
        else:
            types = sorted(set(sc.live.values())) or list(ALL_TYPES)
            value = self.expr(self.pick(types))
        self.emit(f"return {value}")

    def s_loop(self, depth: int) -> bool:
        return (self.c_for(depth) if self.chance(0.7) else self.c_while(depth)) or self.c_for(depth)
