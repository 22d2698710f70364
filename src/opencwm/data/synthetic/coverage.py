"""What generated programs use, read back from their code with `ast`.

Coverage is measured on the text, never taken from the generator's own
bookkeeping, so it also holds for programs from any other source: a
feature counts when its construct appears in the code (or, for value
types, in the input). Method names are matched by name alone (`x.count`
is one feature whether `x` is a str or a list); `dict.pop` is told apart
from `list.pop` by its two arguments.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Protocol

VALUES = ("int", "bool", "str", "list", "dict", "tuple", "set")
SYNTAX = (
    "for", "while", "if", "elif", "else", "break", "continue", "slice",
    "list_comprehension", "dict_comprehension", "set_comprehension", "generator_expression",
    "helper_function", "nested_function", "recursion", "try", "except", "raise", "finally",
    "fstring", "ternary", "augassign", "unpacking", "star_unpacking", "lambda", "del",
    "membership", "boolop", "not", "while_true",
)  # fmt: skip
OPS = ("floordiv", "mod", "str_mult")
BUILTINS = (
    "range", "len", "sorted", "min", "max", "sum", "abs", "zip", "enumerate", "any", "all",
    "reversed", "list", "dict", "set", "tuple", "divmod", "int", "str", "ord", "chr", "map",
    "bool",
)  # fmt: skip
METHODS = (
    "replace", "split", "join", "find", "count", "strip", "upper", "lower", "startswith",
    "isdigit", "append", "pop", "insert", "extend", "remove", "index", "sort", "reverse",
    "get", "items", "keys", "update", "setdefault", "endswith", "isalpha", "lstrip", "rstrip",
    "title", "swapcase", "partition", "rfind", "zfill", "center", "ljust", "capitalize",
    "values", "dict.pop", "add", "discard", "clear", "rjust", "rpartition", "isupper",
    "islower", "isspace", "isalnum", "fromkeys",
)  # fmt: skip

FEATURES: tuple[str, ...] = (
    *(f"value:{v}" for v in VALUES),
    *(f"syntax:{s}" for s in SYNTAX),
    *(f"op:{o}" for o in OPS),
    *(f"builtin:{b}" for b in BUILTINS),
    *(f"method:{m}" for m in METHODS),
)
"""Every feature reported, in report order."""

REQUIRED: tuple[str, ...] = FEATURES
"""Features a corpus of 2,000 default items must each use at least once."""

_BUILTINS, _METHODS = frozenset(BUILTINS), frozenset(METHODS)
_NODE_FEATURES: dict[type, tuple[str, ...]] = {
    ast.For: ("syntax:for",),
    ast.While: ("syntax:while",),
    ast.If: ("syntax:if",),
    ast.Break: ("syntax:break",),
    ast.Continue: ("syntax:continue",),
    ast.ListComp: ("syntax:list_comprehension", "value:list"),
    ast.DictComp: ("syntax:dict_comprehension", "value:dict"),
    ast.SetComp: ("syntax:set_comprehension", "value:set"),
    ast.GeneratorExp: ("syntax:generator_expression",),
    ast.Try: ("syntax:try",),
    ast.ExceptHandler: ("syntax:except",),
    ast.Raise: ("syntax:raise",),
    ast.JoinedStr: ("syntax:fstring", "value:str"),
    ast.IfExp: ("syntax:ternary",),
    ast.AugAssign: ("syntax:augassign",),
    ast.Lambda: ("syntax:lambda",),
    ast.Delete: ("syntax:del",),
    ast.BoolOp: ("syntax:boolop",),
    ast.List: ("value:list",),
    ast.Dict: ("value:dict",),
    ast.Set: ("value:set",),
}


class HasCode(Protocol):
    code: str
    input: str


def features_of(code: str, input: str = "") -> frozenset[str]:
    """The features used by `code` and by the argument string `input`."""
    found: set[str] = set()
    tree = ast.parse(code)
    _walk_defs(tree, found)
    for node in ast.walk(tree):
        _node(node, found)
    if input:
        for node in ast.walk(ast.parse(f"f({input})", mode="eval")):
            _value(node, found)
    return frozenset(found)


def _walk_defs(tree: ast.Module, found: set[str]) -> None:
    for top in tree.body:
        if isinstance(top, ast.FunctionDef):
            if top.name != "f":
                found.add("syntax:helper_function")
            for node in ast.walk(top):
                if isinstance(node, ast.FunctionDef) and node is not top:
                    found.add("syntax:nested_function")
                if isinstance(node, ast.FunctionDef) and _calls_itself(node):
                    found.add("syntax:recursion")


def _calls_itself(fn: ast.FunctionDef) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == fn.name
        for n in ast.walk(fn)
    )


def _value(node: ast.AST, found: set[str]) -> None:
    if isinstance(node, ast.Constant):
        v = node.value
        kind = type(v).__name__
        if kind in ("int", "bool", "str"):
            found.add(f"value:{kind}")
    elif isinstance(node, ast.List):
        found.add("value:list")
    elif isinstance(node, ast.Dict):
        found.add("value:dict")
    elif isinstance(node, ast.Set) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "set"
    ):
        found.add("value:set")
    elif isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load):
        found.add("value:tuple")


def _node(node: ast.AST, found: set[str]) -> None:
    found.update(_NODE_FEATURES.get(type(node), ()))
    _value(node, found)
    if isinstance(node, ast.If):
        if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
            if node.orelse[0].col_offset == node.col_offset:
                found.add("syntax:elif")
            else:
                found.add("syntax:else")
        elif node.orelse:
            found.add("syntax:else")
    elif isinstance(node, ast.While):
        if isinstance(node.test, ast.Constant) and node.test.value is True:
            found.add("syntax:while_true")
    elif isinstance(node, ast.Try):
        if node.finalbody:
            found.add("syntax:finally")
    elif isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            found.add("syntax:slice")
    elif isinstance(node, (ast.Assign, ast.For)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if isinstance(t, ast.Tuple):
                found.add("syntax:unpacking")
                if any(isinstance(e, ast.Starred) for e in t.elts):
                    found.add("syntax:star_unpacking")
    elif isinstance(node, ast.Compare):
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            found.add("syntax:membership")
    elif isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            found.add("syntax:not")
    elif isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.FloorDiv):
            found.add("op:floordiv")
        elif isinstance(node.op, ast.Mod):
            found.add("op:mod")
        elif isinstance(node.op, ast.Mult) and any(
            isinstance(side, ast.JoinedStr)
            or (isinstance(side, ast.Constant) and isinstance(side.value, str))
            for side in (node.left, node.right)
        ):
            found.add("op:str_mult")
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in _BUILTINS:
            found.add(f"builtin:{func.id}")
            if func.id in ("list", "dict", "tuple", "set"):
                found.add(f"value:{func.id}")
        elif isinstance(func, ast.Attribute) and func.attr in _METHODS:
            found.add(f"method:{func.attr}")
            if func.attr == "pop" and len(node.args) == 2:
                found.add("method:dict.pop")


def coverage(items: Iterable[HasCode]) -> dict[str, int]:
    """For every feature in `FEATURES`, how many items use it (zeros included)."""
    counts = dict.fromkeys(FEATURES, 0)
    for item in items:
        for feature in features_of(item.code, item.input):
            counts[feature] = counts.get(feature, 0) + 1
    return counts


def missing_features(counts: Mapping[str, int]) -> list[str]:
    """Required features that no item uses."""
    return [f for f in REQUIRED if counts.get(f, 0) == 0]


def coverage_table(counts: Mapping[str, int], width: int = 4) -> str:
    """A compact text table, `width` features a row, rarest first."""
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    cells = [f"{name:<28}{n:>6}" for name, n in ranked]
    return "\n".join("  ".join(cells[i : i + width]) for i in range(0, len(cells), width))
