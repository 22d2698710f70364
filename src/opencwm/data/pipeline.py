"""Building a trace corpus: source → sandboxed traces → filters → dedup →
splits by program → sharded Parquet + manifest.json.

Resumable and safe to kill: the item list is written once (atomically)
before any tracing, and each traced chunk becomes a part file by an atomic
rename. A restarted build skips finished chunks, so no trace is lost and
none is written twice; the final shards are always rebuilt from the parts.

Layout of OUT:
    manifest.json                      counts and statistics
    train-00000-of-00001.parquet ...   kept traces, split by program
    rejected-00000-of-00001.parquet    failures, with their reasons
    (a split with no rows has no shard; its count in the manifest is 0)
    .build/                            config, items, parts (resume state)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opencwm.data.items import Item, item_key, split_of
from opencwm.data.rows import SCHEMA, kept, table
from opencwm.data.sources import items_from
from opencwm.data.work import WorkConfig

MANIFEST_VERSION = 1
SPLITS = ("train", "val", "test")


class BuildError(RuntimeError):
    """A build that cannot go on; the message is one line."""


@dataclass
class BuildConfig:
    source: str
    out: Path
    seed: int = 0
    workers: int = 2
    chunk_size: int = 32
    rows_per_shard: int = 20_000
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    ray: bool = False
    ray_address: str | None = None
    work: WorkConfig = field(default_factory=WorkConfig)

    def identity(self) -> dict:
        """What a resumed build must share with the one it continues."""
        return {
            "source": self.source,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "work": asdict(self.work),
        }


Progress = Callable[[int, int], None]
"""Called with (items done in this chunk, failures among them)."""


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _write_table(path: Path, t: pa.Table) -> None:
    _write_atomic(path, lambda p: pq.write_table(t, p, compression="zstd"))


def prepare(
    config: BuildConfig, on_item: Callable[[int], None] | None = None
) -> tuple[list[Item], dict]:
    """The deduplicated item list, enumerated once and kept for resumes;
    `on_item(1)` after each item listed, so a long listing shows progress."""
    state = config.out / ".build"
    state.mkdir(parents=True, exist_ok=True)
    ident_path = state / "config.json"
    ident = json.dumps(config.identity(), sort_keys=True)
    if ident_path.exists() and ident_path.read_text() != ident:
        raise BuildError(
            f"{config.out} holds a build with other settings; use a new --out or delete it"
        )
    _write_atomic(ident_path, lambda p: p.write_text(ident))
    items_path = state / "items.jsonl"
    if items_path.exists():
        lines = items_path.read_text(encoding="utf-8").splitlines()
        info = json.loads(lines[0])
        return [Item.from_dict(json.loads(line)) for line in lines[1:]], info
    seen: set[str] = set()
    items, duplicates = [], 0
    for item in items_from(config.source, config.seed, cache=state / "cache"):
        key = item_key(item)
        if on_item:
            on_item(1)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        items.append(item)
    info = {"enumerated": len(items) + duplicates, "duplicates": duplicates}

    def write(p: Path) -> None:
        with p.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(info) + "\n")
            for item in items:
                fh.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")

    _write_atomic(items_path, write)
    return items, info


def _chunks(items: list[Item], size: int) -> list[list[tuple[int, dict]]]:
    pairs = [(i, item.to_dict()) for i, item in enumerate(items)]
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


def part_path(config: BuildConfig, chunk: int) -> Path:
    return config.out / ".build" / "parts" / f"part-{chunk:06d}.parquet"


def run_chunks(config: BuildConfig, items: list[Item], on_chunk: Progress | None = None) -> None:
    """Trace every chunk that has no part file yet."""
    (config.out / ".build" / "parts").mkdir(parents=True, exist_ok=True)
    chunks = _chunks(items, config.chunk_size)
    pending = [i for i in range(len(chunks)) if not part_path(config, i).exists()]
    if on_chunk:
        done_items = sum(len(chunks[i]) for i in range(len(chunks)) if i not in set(pending))
        on_chunk(done_items, 0)
    if not pending:
        return
    if config.ray:
        from opencwm.data.ray_backend import run_on_ray as backend
    else:
        from opencwm.data.local_backend import run_local as backend
    for chunk_id, rows in backend(config, {i: chunks[i] for i in pending}):
        _write_table(part_path(config, chunk_id), table(rows))
        if on_chunk:
            on_chunk(len(rows), sum(not kept(r) for r in rows))


SUMMARY = ["index", "source", "program", "n_frames", "status", "reason", "label"]
"""The columns that decide a row's split and fill the manifest: read for all
rows at once, while the heavy ones (traces) stream through a part at a time."""


def finalize(config: BuildConfig, info: dict) -> dict:
    """Shards and manifest from the parts; idempotent. Memory stays at one
    part plus the summary columns, however large the corpus."""
    parts = sorted((config.out / ".build" / "parts").glob("part-*.parquet"))
    summary = [pq.read_table(p, schema=SCHEMA, columns=SUMMARY).to_pylist() for p in parts]
    rows = sorted((r for part in summary for r in part), key=lambda r: r["index"])
    groups: dict[str, list[dict]] = {s: [] for s in (*SPLITS, "rejected")}
    group_of: dict[int, str] = {}
    for r in rows:
        name = "rejected"
        if kept(r):
            name = split_of(r["program"], config.val_fraction, config.test_fraction)
        groups[name].append(r)
        group_of[r["index"]] = name
    shards = {name: _Shards(config, name, len(group)) for name, group in groups.items()}
    for path in parts:  # parts hold consecutive chunks, so rows stay in index order
        part = pq.read_table(path, schema=SCHEMA).sort_by("index")
        names = [group_of[i] for i in part.column("index").to_pylist()]
        for name, out in shards.items():
            out.add(part.filter(pa.array([n == name for n in names], pa.bool_())))
    written = {p.name for out in shards.values() for p in out.close()}
    for stale in config.out.glob("*-of-*.parquet"):
        if stale.name not in written:
            stale.unlink()
    manifest = _manifest(config, info, rows, groups)
    _write_atomic(
        config.out / "manifest.json",
        lambda p: p.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n"),
    )
    return manifest


class _Shards:
    """One group's shard files, filled in order from row groups of up to
    `ROW_GROUP` rows; each is written under a temporary name and renamed
    into place when full, so a killed finalize leaves no half-written shard."""

    ROW_GROUP = 2048

    def __init__(self, config: BuildConfig, name: str, total: int) -> None:
        self.config, self.name = config, name
        self.n = max(1, -(-total // config.rows_per_shard))
        self.rows = 0  # in the current shard
        self.pending: list[pa.Table] = []
        self.writer: pq.ParquetWriter | None = None
        self.done: list[Path] = []

    def _path(self) -> Path:
        return self.config.out / f"{self.name}-{len(self.done):05d}-of-{self.n:05d}.parquet"

    def add(self, t: pa.Table) -> None:
        while t.num_rows:
            taken = min(self.config.rows_per_shard - self.rows, t.num_rows)
            self.pending.append(t.slice(0, taken))
            self.rows += taken
            t = t.slice(taken)
            if self.rows == self.config.rows_per_shard:
                self._seal()
            elif sum(p.num_rows for p in self.pending) >= self.ROW_GROUP:
                self._flush()

    def _flush(self) -> None:
        if self.writer is None:
            self.tmp = self._path().with_name(f".{self._path().name}.tmp{os.getpid()}")
            self.writer = pq.ParquetWriter(self.tmp, SCHEMA, compression="zstd")
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending))
            self.pending = []

    def _seal(self) -> None:
        self._flush()
        self.writer.close()
        os.replace(self.tmp, self._path())
        self.done.append(self._path())
        self.rows, self.writer = 0, None

    def close(self) -> list[Path]:
        # An empty group gets no shard: a 0-row file makes `datasets` fail
        # ("corresponds to no data") for every split listed with it.
        if self.rows:
            self._seal()
        return self.done


def _manifest(config: BuildConfig, info: dict, rows: list[dict], groups: dict) -> dict:
    lengths = sorted(r["n_frames"] for r in rows if kept(r))

    def pct(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0

    return {
        "version": MANIFEST_VERSION,
        "source": config.source,
        "seed": config.seed,
        "items": {**info, "traced": len(rows)},
        "splits": {name: len(group) for name, group in groups.items()},
        "programs": {s: len({r["program"] for r in groups[s]}) for s in SPLITS},
        "by_source": dict(sorted(Counter(r["source"] for r in rows).items())),
        "status": dict(sorted(Counter(r["status"] for r in rows).items())),
        "reasons": dict(
            Counter(_reason_kind(r["reason"]) for r in rows if r["reason"]).most_common(20)
        ),
        "frames": {
            "total": sum(lengths),
            "mean": round(sum(lengths) / len(lengths), 2) if lengths else 0,
            "p50": pct(0.5),
            "p90": pct(0.9),
            "max": lengths[-1] if lengths else 0,
        },
        "config": {
            **config.identity(),
            "val_fraction": config.val_fraction,
            "test_fraction": config.test_fraction,
        },
    }


def _reason_kind(reason: str) -> str:
    """Reasons grouped by kind: numbers and quoted details dropped."""
    return reason.split(":")[0].split("(")[0].strip()[:80]


def build(
    config: BuildConfig,
    on_chunk: Progress | None = None,
    on_items: Callable[[int], None] | None = None,
) -> dict:
    items, info = prepare(config)
    if on_items:
        on_items(len(items))
    run_chunks(config, items, on_chunk)
    return finalize(config, info)


def iter_rows(out: Path, split: str | None = None) -> Iterator[dict]:
    """Rows of a built corpus (all splits, or one, or `rejected`)."""
    names = [split] if split else [*SPLITS, "rejected"]
    for name in names:
        for path in sorted(out.glob(f"{name}-*-of-*.parquet")):
            yield from pq.read_table(path).to_pylist()
