"""`while` loops, each of a form that provably ends.

Every form has one variable that moves monotonically toward the exit and
that the body may not touch (it is frozen in the body's scope): a counter
bumped as the body's last line (so `continue` is banned in that loop), a
list popped as the body's first line, a positive int divided down, a
string shortened by `replace`, two pointers that meet, a bisection interval
that shrinks, or a step count that forces a `break`.
"""

from __future__ import annotations

from opencwm.data.synthetic.exprs import Iteration
from opencwm.data.synthetic.scope import (
    BOOL,
    ELEM,
    INT,
    LIST_INT,
    LIST_STR,
    SEQUENCES,
    STR,
    Loop,
)
from opencwm.data.synthetic.stmts import StmtBuilder


class WhileBuilder(StmtBuilder):
    """Adds the `while` forms to the statement builder."""

    def c_while(self, depth: int) -> bool:
        forms = (
            (3, self._w_index),
            (1, self._w_scan),
            (1.5, self._w_digits),
            (2, self._w_drain),
            (0.8, self._w_shrink),
            (1, self._w_pointers),
            (0.6, self._w_bisect),
            (1, self._w_until),
        )
        if not self.can_loop(self.typical_len):
            return False
        return self.rng.choices(forms, [w for w, _ in forms])[0][1](depth)

    def _counter(self, name: str, start: str) -> None:
        self.emit(f"{name} = {start}")
        self.scope.declare(name, INT)

    def _w_index(self, depth: int) -> bool:
        found = self.some_var(SEQUENCES)
        if found is None:
            return False
        seq = found[0]
        i = self.loop_name("index", INT)
        self._counter(i, "0")
        step = "1" if self.chance(0.8) else "2"
        loop = Loop(allow_continue=False)
        with self.block(f"while {i} < len({seq}):", loop, self.typical_len):
            self._enter_loop(Iteration(seq, [], index_for=[(i, seq)]), {seq, i})
            self.body(depth + 1)
            self.emit(f"{i} += {step}")
        self.scope.touch(i)
        return True

    def _w_scan(self, depth: int) -> bool:
        found = self.some_var((STR, LIST_INT, LIST_STR))
        if found is None:
            return False
        seq, ty = found
        i = self.loop_name("index", INT)
        self._counter(i, "0")
        item = f"{seq}[{i}]"
        if ty == LIST_INT:
            test = self.pick((f"{item} > {self.small(0, 5)}", f"{item} % 2 == 0"))
        else:
            test = self.pick(
                (f"{item}.isdigit()", f"{item}.isalpha()", f"{item} != {self.needle()}")
            )
        self.emit(f"while {i} < len({seq}) and {test}:")
        self.emit(f"    {i} += 1")
        self.scope.touch(i)
        return True

    def _w_digits(self, depth: int) -> bool:
        n = self.fresh(INT, ("n", "num", "m", "rest"))
        self._counter(n, f"abs({self.expr(INT, 1)})")
        base = self.pick(("10", "10", "2", "3"))
        with self.block(f"while {n} > 0:", Loop(allow_continue=False), 2.5):
            self._enter_loop(Iteration("", []), {n})
            if self.chance(0.6):
                acc = self.scope.mutable(INT)
                if acc:
                    total = self.pick(acc)
                    self.emit(f"{total} += {n} % {base}")
                    self.scope.touch(total)
            self.body(depth + 1, self.small(0, max(1, self.k.max_block - 1)))
            self.emit(f"{n} //= {base}")
        self.scope.touch(n)
        return True

    def _w_drain(self, depth: int) -> bool:
        found = [n for n in self.scope.mutable(LIST_INT) + self.scope.mutable(LIST_STR)]
        if found and self.chance(0.5):
            stack = self.pick(found)
            ty = self.scope.live[stack]
        else:
            src = self.some_var((LIST_INT, LIST_STR, STR))
            if src is None:
                return False
            ty = LIST_STR if src[1] == STR else src[1]
            stack = self.fresh(ty, ("stack", "queue", "todo", "pending", "work"))
            self.emit(f"{stack} = {self.pick(('list', 'sorted'))}({src[0]})")
            self.scope.declare(stack, ty)
        with self.block(f"while {stack}:", Loop(allow_continue=True), self.typical_len):
            self._enter_loop(Iteration("", []), {stack})
            x = self.loop_name(ELEM[ty], ELEM[ty])
            self.emit(f"{x} = {stack}.pop({self.pick(('', '', '0'))})")
            self.scope.touch(stack)
            self.scope.declare(x, ELEM[ty])
            self.body(depth + 1)
        self.scope.touch(stack)
        return True

    def _w_shrink(self, depth: int) -> bool:
        names = self.scope.mutable(STR)
        if not names:
            return False
        s = self.pick(names)
        pat = self.pick(self.vocab_words)[:2] or "ab"
        with self.block(f"while {pat!r} in {s}:", Loop(allow_continue=True), 1.5):
            # strictly shorter each time round, so the loop ends
            self.emit(f"{s} = {s}.replace({pat!r}, {pat[1:]!r}, 1)")
            self._enter_loop(Iteration("", []), {s})
            self.scope.touch(s)
            self.body(depth + 1, self.small(0, 1))
        self.scope.touch(s)
        return True

    def _w_pointers(self, depth: int) -> bool:
        found = self.some_var((LIST_INT, LIST_STR, STR))
        if found is None:
            return False
        seq, ty = found
        i = self.fresh(INT, ("i", "lo", "left"))
        j = self.fresh(INT, ("j", "hi", "right"))
        if i == j:
            return False
        self.emit(f"{i}, {j} = 0, len({seq}) - 1")
        self.scope.declare(i, INT)
        self.scope.declare(j, INT)
        with self.block(f"while {i} < {j}:", Loop(allow_continue=False), self.typical_len / 2):
            self._enter_loop(Iteration("", [], index_for=[(i, seq), (j, seq)]), {seq, i, j})
            if ty != STR and self.chance(0.5):
                self.emit(f"{seq}[{i}], {seq}[{j}] = {seq}[{j}], {seq}[{i}]")
                self._values_changed(seq)
            else:
                self.body(depth + 1)
            self.emit(f"{i} += 1")
            self.emit(f"{j} -= 1")
        self.scope.touch(i)
        self.scope.touch(j)
        return True

    def _w_bisect(self, depth: int) -> bool:
        found = self.some_var((LIST_INT, LIST_STR))
        if found is None:
            return False
        seq, ty = found
        lo, hi = self.fresh(INT, ("lo", "left", "low")), self.fresh(INT, ("hi", "right", "high"))
        self.emit(f"{lo}, {hi} = 0, len({seq})")
        self.scope.declare(lo, INT)
        self.scope.declare(hi, INT)
        with self.block(f"while {lo} < {hi}:", Loop(allow_continue=False), 3):
            self._enter_loop(Iteration("", []), {seq, lo, hi})
            mid = self.fresh(INT, ("mid", "m", "middle"))
            self.emit(f"{mid} = ({lo} + {hi}) // 2")
            self.scope.declare(mid, INT)
            self.emit(f"if {seq}[{mid}] < {self.leaf(ELEM[ty])}:")
            self.emit(f"    {lo} = {mid} + 1")
            self.emit("else:")
            self.emit(f"    {hi} = {mid}")
        self.scope.touch(lo)
        self.scope.touch(hi)
        return True

    def _w_until(self, depth: int) -> bool:
        steps = self.fresh(INT, ("steps", "rounds", "tries", "turns"))
        self._counter(steps, "0")
        with self.block("while True:", Loop(allow_continue=False), 3):
            self._enter_loop(Iteration("", []), {steps})
            self.body(depth + 1)
            self.emit(f"{steps} += 1")
            self.emit(f"if {steps} >= {self.small(2, 5)} or {self.operand(BOOL, 1)}:")
            self.emit("    break")
        self.scope.touch(steps)
        return True
