"""`--source` specs: which programs a corpus is built from.

synthetic:N      N generated programs with inputs (seeded)
humaneval        the 164 HumanEval solutions on their tests' inputs
pytest:PKG       functions of a PyPI package, as its test suite calls them
jsonl:FILE       CRUXEval-format lines {"code", "input", "output", "id"}
scripts:DIR      whole programs NAME.py with standard input NAME.in
halting:N        N labelled (function, input) pairs, half halting, half not (docs/halting.md)
contests:N       N whole contest solutions looping over stdin test cases (long traces)
distributed:N    N message-passing systems of 2-5 nodes, labelled ok / deadlock / inconsistent
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from opencwm.data.benchmarks import SourceError, humaneval_items, jsonl_items, script_items
from opencwm.data.items import Item

KNOWN = (
    "synthetic",
    "humaneval",
    "pytest",
    "jsonl",
    "scripts",
    "halting",
    "contests",
    "distributed",
)


def items_from(spec: str, seed: int = 0, cache: Path | None = None) -> Iterator[Item]:
    """Items of one source spec, in a deterministic order for a given seed."""
    kind, _, arg = spec.partition(":")
    if kind == "synthetic":
        n = _count(spec, arg)
        from opencwm.data.synthetic import stream

        # A stream, not `generate`'s list: the build's bar moves with each item.
        for s in islice(stream(seed), n):
            yield Item(s.id, "synthetic", s.code, s.entry, s.input)
    elif kind == "humaneval":
        yield from humaneval_items()
    elif kind == "jsonl":
        yield from jsonl_items(Path(_need(spec, arg, "FILE")))
    elif kind == "scripts":
        yield from script_items(Path(_need(spec, arg, "DIR")))
    elif kind == "pytest":
        yield from _pytest_items(_need(spec, arg, "PKG"), cache)
    elif kind == "halting":
        from opencwm.halt.corpus import halting_items

        yield from halting_items(_count(spec, arg), seed)
    elif kind == "distributed":
        from opencwm.distributed.corpus import distributed_items

        yield from distributed_items(_count(spec, arg), seed)
    elif kind == "contests":
        from opencwm.data.contests import contest_items

        yield from contest_items(_count(spec, arg), seed)
    else:
        raise SourceError(f"unknown source {kind!r}; known: {', '.join(KNOWN)}")


def expected_count(spec: str) -> int | None:
    """How many items `spec` lists, where the spec says (`synthetic:N`, `halting:N`, ...)."""
    kind, _, arg = spec.partition(":")
    return (
        int(arg)
        if kind in ("synthetic", "halting", "contests", "distributed") and arg.isdigit()
        else None
    )


def _pytest_items(package: str, cache: Path | None) -> Iterator[Item]:
    from opencwm.data.pytest_source import fetch_project, pytest_traces

    cache = cache or Path.home() / ".cache" / "opencwm" / "sdists"
    project = fetch_project(package, cache)
    for row in pytest_traces(project, package):
        yield Item(row["id"], "pytest", row["code"], row["entry"], row["input"], trace=row["trace"])


def _need(spec: str, arg: str, what: str) -> str:
    if not arg:
        raise SourceError(f"source {spec!r} needs {what}: e.g. {spec.split(':')[0]}:{what}")
    return arg


def _count(spec: str, arg: str) -> int:
    try:
        n = int(_need(spec, arg, "N"))
    except ValueError:
        raise SourceError(f"source {spec!r}: N must be a whole number") from None
    if n <= 0:
        raise SourceError(f"source {spec!r}: N must be positive")
    return n
