"""Procedural bugs: small libcst rewrites inside function bodies.

Each operator is a kind of mistake people make: a flipped operator, swapped
operands, an off-by-one constant, a dropped guard, loop or assignment, an
inverted `if`, two statements in the wrong order. A `Mutation` names a
file, an operator and the n-th place that operator applies, so a bug is
reproducible from three values; `sites` counts places, `mutate` makes one.

Only code inside functions is touched: a broken module-level statement
usually breaks every import, which makes a bug no test can localise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

FLIPS: dict[type, type] = {
    cst.Add: cst.Subtract,
    cst.Subtract: cst.Add,
    cst.Multiply: cst.FloorDivide,
    cst.FloorDivide: cst.Multiply,
    cst.Divide: cst.Multiply,
    cst.Modulo: cst.FloorDivide,
    cst.BitAnd: cst.BitOr,
    cst.BitOr: cst.BitAnd,
    cst.LeftShift: cst.RightShift,
    cst.RightShift: cst.LeftShift,
    cst.LessThan: cst.LessThanEqual,
    cst.LessThanEqual: cst.LessThan,
    cst.GreaterThan: cst.GreaterThanEqual,
    cst.GreaterThanEqual: cst.GreaterThan,
    cst.Equal: cst.NotEqual,
    cst.NotEqual: cst.Equal,
    cst.Is: cst.IsNot,
    cst.IsNot: cst.Is,
    cst.In: cst.NotIn,
    cst.NotIn: cst.In,
    cst.And: cst.Or,
    cst.Or: cst.And,
    cst.AddAssign: cst.SubtractAssign,
    cst.SubtractAssign: cst.AddAssign,
}
NON_COMMUTATIVE = (cst.Subtract, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
ORDERED = (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual)

OPERATORS = (
    "flip_operator",
    "swap_operands",
    "change_constant",
    "remove_condition",
    "remove_loop",
    "remove_assignment",
    "invert_if",
    "shuffle_statements",
)


@dataclass(frozen=True)
class Mutation:
    path: str  # relative to the repository root
    operator: str
    index: int  # which site of that operator, in source order


def _flip(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.BinaryOperation | cst.BooleanOperation | cst.AugAssign):
        new = FLIPS.get(type(node.operator))
        if new is None:
            return None
        op = node.operator
        kw = {}
        if hasattr(op, "whitespace_before"):
            kw = {
                "whitespace_before": op.whitespace_before,
                "whitespace_after": op.whitespace_after,
            }
        return node.with_changes(operator=new(**kw))
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        target = node.comparisons[0]
        new = FLIPS.get(type(target.operator))
        if new is None:
            return None
        op = target.operator
        kw = {"whitespace_before": op.whitespace_before, "whitespace_after": op.whitespace_after}
        if new in (cst.IsNot, cst.NotIn):
            kw["whitespace_between"] = cst.SimpleWhitespace(" ")
        return node.with_changes(comparisons=[target.with_changes(operator=new(**kw))])
    return None


def _swap(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, NON_COMMUTATIVE):
        return node.with_changes(left=node.right, right=node.left)
    if (
        isinstance(node, cst.Comparison)
        and len(node.comparisons) == 1
        and isinstance(node.comparisons[0].operator, ORDERED)
    ):
        target = node.comparisons[0]
        return node.with_changes(
            left=target.comparator, comparisons=[target.with_changes(comparator=node.left)]
        )
    return None


def _constant(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.Integer):
        value = node.evaluated_value
        return node.with_changes(value=str(value + 1 if value != 1 else 0))
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.with_changes(value="False" if node.value == "True" else "True")
    return None


def _drop_condition(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.BooleanOperation):
        return node.left
    if (
        isinstance(node, cst.If)
        and node.orelse is None
        and isinstance(node.body, cst.IndentedBlock)
    ):
        return cst.FlattenSentinel(node.body.body)
    return None


def _drop_loop(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.For | cst.While) and node.orelse is None:
        return cst.RemovalSentinel.REMOVE
    return None


def _drop_assignment(node: cst.CSTNode) -> cst.CSTNode | None:
    if (
        isinstance(node, cst.SimpleStatementLine)
        and len(node.body) == 1
        and isinstance(node.body[0], cst.Assign | cst.AugAssign | cst.AnnAssign)
    ):
        return cst.RemovalSentinel.REMOVE
    return None


def _invert_if(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.If):
        test = node.test
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return node.with_changes(test=test.expression)
        if not isinstance(test, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
            test = test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return node.with_changes(test=cst.UnaryOperation(operator=cst.Not(), expression=test))
    return None


def _shuffle(node: cst.CSTNode) -> cst.CSTNode | None:
    if isinstance(node, cst.IndentedBlock):
        body = list(node.body)
        for i in range(len(body) - 1):
            a, b = body[i], body[i + 1]
            simple = all(isinstance(s, cst.SimpleStatementLine) for s in (a, b))
            if simple and _movable(a) and _movable(b) and not a.deep_equals(b):
                body[i], body[i + 1] = b, a
                return node.with_changes(body=body)
    return None


def _movable(stmt: cst.SimpleStatementLine) -> bool:
    """Not a jump (moving it only makes dead code) and not a docstring."""
    for s in stmt.body:
        if isinstance(s, cst.Return | cst.Raise | cst.Continue | cst.Break | cst.Pass):
            return False
        if isinstance(s, cst.Expr) and isinstance(
            s.value, cst.SimpleString | cst.ConcatenatedString
        ):
            return False
    return True


RULES: dict[str, Callable[[cst.CSTNode], cst.CSTNode | None]] = {
    "flip_operator": _flip,
    "swap_operands": _swap,
    "change_constant": _constant,
    "remove_condition": _drop_condition,
    "remove_loop": _drop_loop,
    "remove_assignment": _drop_assignment,
    "invert_if": _invert_if,
    "shuffle_statements": _shuffle,
}


class _Rewriter(cst.CSTTransformer):
    """Counts the sites of one rule inside functions; rewrites the `target`-th."""

    def __init__(self, rule: str, target: int = -1) -> None:
        self.rule = RULES[rule]
        self.target = target
        self.count = 0
        self.depth = 0  # function nesting
        self.docstrings: set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.depth += 1
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        if body and isinstance(body[0], cst.SimpleStatementLine):
            expr = body[0].body[0]
            if isinstance(expr, cst.Expr) and isinstance(expr.value, cst.SimpleString):
                self.docstrings.add(id(body[0]))
        return True

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        self.depth -= 1
        return updated

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        return False  # types are not behaviour

    def visit_Decorator(self, node: cst.Decorator) -> bool:
        return False

    def visit_Parameters(self, node: cst.Parameters) -> bool:
        return False  # defaults run once, at import

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode):
        updated = super().on_leave(original, updated)
        if self.depth == 0 or id(original) in self.docstrings:
            return updated
        if isinstance(original, cst.FunctionDef):  # its own header is outside
            return updated
        if not isinstance(updated, cst.CSTNode):
            return updated
        mutated = self.rule(updated)
        if mutated is None:
            return updated
        self.count += 1
        return mutated if self.count - 1 == self.target else updated


def sites(source: str | cst.Module, operator: str) -> int:
    """How many places in `source` the operator applies to."""
    module = cst.parse_module(source) if isinstance(source, str) else source
    rewriter = _Rewriter(operator)
    module.visit(rewriter)
    return rewriter.count


def mutate(source: str | cst.Module, operator: str, index: int) -> str | None:
    """The source with the index-th site of `operator` rewritten; None if that
    rewrite changes nothing or does not compile."""
    module = cst.parse_module(source) if isinstance(source, str) else source
    try:
        new = module.visit(_Rewriter(operator, index)).code
    except (cst.CSTValidationError, TypeError, ValueError):  # e.g. a guard that was an elif
        return None
    if new == module.code:
        return None
    try:
        compile(new, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return None
    return new
