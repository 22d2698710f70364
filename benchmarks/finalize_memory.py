"""Peak memory of a build's final sharding: streamed (ours) vs all rows in memory.

The traced parts of a built corpus (`CORPUS/.build/parts`) are hard-linked
into two fresh directories, and each is sharded in its own subprocess, so
each peak RSS (`ru_maxrss`) is that mode's alone:
- `streamed`: `opencwm.data.pipeline.finalize` as a build runs it;
- `in-memory`: the baseline, the obvious way: every part read into one
  table, turned into row dicts, sorted, grouped by split and written.
Both write the same tables (checked with `Table.equals`).

    .venv/bin/python benchmarks/finalize_memory.py data/halting40k
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opencwm.data.items import split_of
from opencwm.data.pipeline import SPLITS, BuildConfig, finalize
from opencwm.data.rows import SCHEMA, kept, table


def in_memory(config: BuildConfig) -> None:
    parts = sorted((config.out / ".build" / "parts").glob("part-*.parquet"))
    rows = pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in parts]).to_pylist()
    rows.sort(key=lambda r: r["index"])
    groups: dict[str, list[dict]] = {s: [] for s in (*SPLITS, "rejected")}
    for r in rows:
        name = split_of(r["program"], config.val_fraction, config.test_fraction)
        groups[name if kept(r) else "rejected"].append(r)
    for name, group in groups.items():
        if not group:  # as finalize: a split with no rows gets no shard
            continue
        n = -(-len(group) // config.rows_per_shard)
        for k in range(n):
            shard = group[k * config.rows_per_shard : (k + 1) * config.rows_per_shard]
            path = config.out / f"{name}-{k:05d}-of-{n:05d}.parquet"
            pq.write_table(table(shard), path, compression="zstd")


def child(mode: str, out: str) -> None:
    config = BuildConfig(source="", out=Path(out))
    start = time.perf_counter()
    finalize(config, {}) if mode == "streamed" else in_memory(config)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def tables(out: Path) -> dict[str, list[pa.Table]]:
    return {
        s: [pq.read_table(p) for p in sorted(glob.glob(str(out / f"{s}-*.parquet")))]
        for s in SPLITS
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path, help="a built corpus (its .build/parts are reused)")
    args = ap.parse_args()
    parts = args.corpus / ".build" / "parts"
    if not parts.is_dir():
        sys.exit(f"{args.corpus} has no .build/parts to re-shard")
    results, outs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("in-memory", "streamed"):
            out = Path(tmp) / mode
            (out / ".build").mkdir(parents=True)
            shutil.copytree(parts, out / ".build" / "parts", copy_function=os.link)
            cmd = [sys.executable, __file__, "--child", mode, str(out)]
            results[mode] = json.loads(subprocess.check_output(cmd, text=True))
            outs[mode] = out
        a, b = tables(outs["in-memory"]), tables(outs["streamed"])
        same = all(len(a[s]) == len(b[s]) and all(map(pa.Table.equals, a[s], b[s])) for s in SPLITS)
    n = len(list(parts.glob("part-*.parquet")))
    print(f"{args.corpus}: {n} parts; identical tables: {same}")
    for mode, r in results.items():
        print(f"  {mode:9}  peak RSS {r['peak_bytes'] / 2**30:6.2f} GiB  {r['seconds']:7.1f} s")
    ratio = results["in-memory"]["peak_bytes"] / results["streamed"]["peak_bytes"]
    print(f"peak memory, in-memory / streamed: {ratio:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
