"""Decontamination: no program of any test split in the training rows.

One corpus splits by program, so its own splits never share one. Corpora
built apart do not promise that: other val/test fractions, other sources
that meet the same program (HumanEval's functions in a `jsonl:` file, a
script traced as a package's test), or a program written another way
(comments, formatting) that the two builds keyed apart. Mixed for
training, one corpus's test programs could then be trained on through
another. This module collects the program of every test row of every
corpus in the mixture and drops each training row whose program is one
of them.

A program is its source normalised as the build normalises it (parsed
and unparsed: comments and layout do not count), compared twice: the
row's `program` key (its `code` column) and the source in its `cwm`
context with the entry marker taken off, which is what the model is
shown. Two programs that differ in any token (a renamed variable, another
constant) are different programs here.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from opencwm.data.items import normalize_code
from opencwm.trace import tokens as T
from opencwm.trace.source import source_lines, strip_marker

_HEAD = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START


def context_source(cwm: str) -> str:
    """The program source in a trace's context, without the entry marker."""
    context = cwm.removeprefix(_HEAD).partition(T.FRAME_SEP)[0]
    return "\n".join(strip_marker(line) for line in source_lines(context)) + "\n"


@functools.lru_cache(maxsize=1 << 16)
def source_key(source: str) -> str:
    """The build's program key of a source (`items.program_key`'s hash)."""
    return hashlib.sha256(normalize_code(source).encode()).hexdigest()[:16]


def row_programs(row: dict) -> set[str]:
    """Keys of the programs a row holds: its `program` (its `code`'s), and
    its context's source where that is not the same text. A slimmed row
    (`model/stage.py`: no `program` or `code`) has its context's only."""
    keys = set()
    code = row.get("code")
    if code is not None:
        keys.add(row.get("program") or source_key(code))
    source = context_source(row["cwm"])
    if code is None or source.strip() != code.strip():
        keys.add(source_key(source))
    return keys


def held_out_programs(corpora: Iterable[Path]) -> set[str]:
    """Keys of every program in the test split of any of `corpora`."""
    keys: set[str] = set()
    for corpus in corpora:
        for path in sorted(Path(corpus).glob("test-*-of-*.parquet")):
            table = pq.ParquetFile(path)
            columns = [c for c in ("program", "code", "cwm") if c in table.schema_arrow.names]
            for part in table.iter_batches(columns=columns, batch_size=1024):
                for row in part.to_pylist():
                    keys |= row_programs(row)
    return keys


class Decontam:
    """Keeps training rows whose programs are in no test split, and counts
    what it read and dropped per corpus."""

    def __init__(self, test: set[str]) -> None:
        self.test = test
        self.read: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    def keep(self, row: dict, corpus: str | Path) -> bool:
        self.read[str(corpus)] += 1
        if self.test and row_programs(row) & self.test:
            self.dropped[str(corpus)] += 1
            return False
        return True

    def report(self) -> dict:
        """What was dropped: test programs known, and per corpus the training
        rows read and dropped."""
        return {
            "test_programs": len(self.test),
            "corpora": {
                c: {"read": n, "dropped": self.dropped[c]} for c, n in sorted(self.read.items())
            },
        }


def describe(report: dict) -> str:
    """One line for a person: how many rows each corpus lost."""
    parts = [f"{r['dropped']:,} of {r['read']:,} from {c}" for c, r in report["corpora"].items()]
    return (
        f"decontamination: dropped training rows whose program is in a test split "
        f"({report['test_programs']:,} test programs): {'; '.join(parts) or 'none read'}"
    )
