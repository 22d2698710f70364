"""Corpus pipeline throughput: traces/s per worker, 1 → 2 workers, local vs Ray.

The same synthetic items (same seed) are built into fresh directories with
1 and 2 local worker processes and with 2 Ray actors; each run traces every
item twice (the determinism check is on, as in a default build). Item
generation and dedup happen once, before the clock starts, so the figures
are about tracing, filtering and writing shards. `--full N` also times a
complete `opencwm data build --source synthetic:N` (the 100,000-trace
figure) end to end, generation included. `--halting N` times a whole
`halting:N` build with 2 local workers, listing included (the label checks
run on the workers), against the synthetic items/s at 2 workers measured
here (issue 19: within 2x of it).

Ray's figure is timed on a running Ray instance, as a cluster user has it:
starting the local instance (once per process, not per build) is timed
and printed on its own. The actors start inside the clock.

    .venv/bin/python benchmarks/corpus_pipeline.py [--items 2000] [--full 100000]
        [--halting 2000] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opencwm.data.pipeline import BuildConfig, finalize, prepare, run_chunks


def timed_build(source: str, out: Path, items_file: Path, workers: int, ray: bool) -> float:
    config = BuildConfig(source=source, out=out, workers=workers, ray=ray)
    (out / ".build").mkdir(parents=True)
    shutil.copy(items_file, out / ".build" / "items.jsonl")
    items, info = prepare(config)
    if ray:
        from opencwm.data.ray_backend import ensure_ray

        t0 = time.perf_counter()
        ensure_ray(None, workers)
        print(f"(starting the local Ray instance: {time.perf_counter() - t0:.1f} s, untimed)")
    start = time.perf_counter()
    run_chunks(config, items)
    manifest = finalize(config, info)
    elapsed = time.perf_counter() - start
    assert manifest["items"]["traced"] == len(items), manifest
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--full", type=int, default=0)
    ap.add_argument("--halting", type=int, default=0, help="also time a halting:N build")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = ap.parse_args()
    source = f"synthetic:{args.items}"
    tmp = Path(tempfile.mkdtemp(prefix="opencwm-bench-"))
    seed_dir = tmp / "items"
    items, _ = prepare(BuildConfig(source=source, out=seed_dir))
    items_file = seed_dir / ".build" / "items.jsonl"
    n = len(items)
    runs = {}
    setups = [("local x1", 1, False), ("local x2", 2, False), ("ray x2", 2, True)]
    for name, workers, ray in setups[: 2 if args.no_ray else 3]:
        runs[name] = timed_build(source, tmp / name.replace(" ", "_"), items_file, workers, ray)
        print(
            f"{name:9s} {n} items in {runs[name]:6.1f} s = {n / runs[name]:6.1f} items/s",
            flush=True,
        )
    speedup = runs["local x1"] / runs["local x2"]
    print(
        f"\nper worker (1 worker): {n / runs['local x1']:.1f} items/s "
        f"({2 * n / runs['local x1']:.1f} traces/s with the determinism re-run)"
    )
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x (target >= 1.7x)")
    result = {
        "benchmark": "corpus_pipeline",
        "items": n,
        "items_per_s_1_worker": round(n / runs["local x1"], 1),
        "items_per_s_2_workers": round(n / runs["local x2"], 1),
        "speedup_1_to_2": round(speedup, 2),
    }
    if not args.no_ray:
        ray_ratio = runs["ray x2"] / runs["local x2"]
        print(f"Ray / local at 2 workers: {ray_ratio:.2f}x the time (target <= 1.15x)")
        result["items_per_s_ray_2"] = round(n / runs["ray x2"], 1)
        result["ray_time_over_local"] = round(ray_ratio, 3)
    if args.halting:
        config = BuildConfig(source=f"halting:{args.halting}", out=tmp / "halting", workers=2)
        start = time.perf_counter()
        items, info = prepare(config)
        listed = time.perf_counter() - start
        run_chunks(config, items)
        finalize(config, info)
        took = time.perf_counter() - start
        rate = args.halting / took
        slower = (n / runs["local x2"]) / rate
        print(
            f"halting:{args.halting} x2: {took:.1f} s ({listed:.1f} s listing) = "
            f"{rate:.1f} items/s; synthetic x2 / halting x2: {slower:.2f}x (target <= 2x)"
        )
        result["halting_items"] = args.halting
        result["halting_items_per_s_2_workers"] = round(rate, 1)
        result["halting_listing_s"] = round(listed, 2)
        result["synthetic_over_halting"] = round(slower, 2)
    if args.full:
        out = tmp / "full"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "opencwm",
                "data",
                "build",
                "--source",
                f"synthetic:{args.full}",
                "--out",
                str(out),
                "--workers",
                "2",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        full = time.perf_counter() - start
        manifest = json.loads((out / "manifest.json").read_text())
        print(f"full build synthetic:{args.full}: {full / 60:.1f} min, splits {manifest['splits']}")
        result["full_build_items"] = args.full
        result["full_build_minutes"] = round(full / 60, 2)
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
