"""Summary of a corpus built in parts (scripts/million.sh): traces, tokens,
rates, peak memory and disk per part, and a check that no trace was lost or
written twice.

    .venv/bin/python scripts/corpus_summary.py data/million [--cores 2] [--sample 1000]

Reads DIR/<part>/manifest.json and the part's shards, and DIR/timings.tsv
(one line per attempt of a part, from /usr/bin/time: a killed and resumed
part has several, and its wall time is their sum; its peak RSS their max).

Tokens are those of the bundled tokenizer (models/cwm-tiny/tokenizer.json) on
the `cwm` column. Every row's characters are counted; `--sample K` tokenizes
K rows per part spread evenly and scales by the part's characters per token
(marked `~` in the table); `--sample 0` tokenizes every row.

The check, per part: the shards hold exactly `items.traced` rows, their
`index` values are 0..traced-1 each once, and their `id`s are distinct.
Across parts it counts runs (program, entry, input, stdin) that appear in
more than one part: no build deduplicates across parts.

Prints a table, then one line of JSON, and draws DIR/summary.png: each
part's wall time and tokens, so where the build's hours went shows at a glance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "models" / "cwm-tiny" / "tokenizer.json"
SHARDS = ("train", "val", "test", "rejected")


def timings(path: Path) -> dict[str, dict]:
    """Per part: wall time summed over attempts, peak RSS the max, CPU summed."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines()[1:]:
        f = line.split("\t")
        if len(f) != 6:  # "Command terminated by signal 9" and the like
            continue
        t = out.setdefault(f[0], {"wall_s": 0.0, "peak_rss_kib": 0, "cpu_s": 0.0, "attempts": 0})
        t["wall_s"] += float(f[1])
        t["peak_rss_kib"] = max(t["peak_rss_kib"], int(f[2]))
        t["cpu_s"] += float(f[3]) + float(f[4])
        t["attempts"] += 1
    return out


def _bytes(path: Path, skip: str | None = None) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        if skip and skip in dirnames:
            dirnames.remove(skip)
        total += sum(os.path.getsize(os.path.join(dirpath, n)) for n in filenames)
    return total


def part_summary(part: Path, tokenizer, sample: int, runs: dict[int, str], shared: set) -> dict:
    manifest = json.loads((part / "manifest.json").read_text())
    traced = manifest["items"]["traced"]
    step = traced / sample if 0 < sample < traced else 1
    picks = sorted({int(k * step) for k in range(min(sample, traced) if step != 1 else traced)})
    shards = sorted(p for s in SHARDS for p in part.glob(f"{s}-*-of-*.parquet"))
    indices, ids, rows, chars, chosen = [], set(), 0, 0, []
    for path in shards:  # one shard in memory at a time
        t = pq.read_table(
            path, columns=["index", "id", "cwm", "program", "entry", "input", "stdin"]
        )
        indices.extend(t["index"].to_pylist())
        ids.update(t["id"].to_pylist())
        chars += pc.sum(pc.utf8_length(t["cwm"])).as_py() or 0
        for r in zip(
            *(t[c].to_pylist() for c in ("program", "entry", "input", "stdin")), strict=True
        ):
            first = runs.setdefault(hash(r), part.name)
            if first != part.name:
                shared.add(hash(r))
        mine = [i - rows for i in picks if rows <= i < rows + t.num_rows]
        chosen += t["cwm"].take(pa.array(mine, pa.int64())).to_pylist()
        rows += t.num_rows
    sampled_tokens = sum(len(e.ids) for e in tokenizer.encode_batch(chosen)) if chosen else 0
    sampled_chars = sum(len(s) for s in chosen)
    exact = len(chosen) == rows
    tokens = sampled_tokens if exact else round(chars * sampled_tokens / max(sampled_chars, 1))
    return {
        "part": part.name,
        "source": manifest["source"],
        "seed": manifest["seed"],
        "traced": traced,
        "kept": sum(v for s, v in manifest["splits"].items() if s != "rejected"),
        "rejected": manifest["splits"].get("rejected", 0),
        "frames": manifest["frames"]["total"],
        "chars": chars,
        "tokens": tokens,
        "tokens_exact": exact,
        "corpus_bytes": _bytes(part, skip=".build"),
        "build_bytes": _bytes(part / ".build"),
        "ok": rows == traced and sorted(indices) == list(range(traced)) and len(ids) == rows,
        "rows": rows,
        "distinct_ids": len(ids),
    }


def summarise(out: Path, cores: int, sample: int, tokenizer_path: Path = TOKENIZER) -> dict:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    times = timings(out / "timings.tsv")
    runs: dict[int, str] = {}  # hash of a run -> the first part that has it
    shared: set[int] = set()
    parts = []
    for part in sorted(p for p in out.iterdir() if (p / "manifest.json").exists()):
        s = part_summary(part, tokenizer, sample, runs, shared)
        s.update(
            times.get(part.name, {"wall_s": 0.0, "peak_rss_kib": 0, "cpu_s": 0.0, "attempts": 0})
        )
        parts.append(s)
    total = {
        k: sum(p[k] for p in parts)
        for k in (
            "traced",
            "kept",
            "rejected",
            "frames",
            "chars",
            "tokens",
            "corpus_bytes",
            "build_bytes",
            "wall_s",
            "cpu_s",
            "attempts",
        )
    }
    total["peak_rss_kib"] = max((p["peak_rss_kib"] for p in parts), default=0)
    total["ok"] = all(p["ok"] for p in parts)
    total["runs_in_several_parts"] = len(shared)
    for p in [*parts, total]:
        w = p["wall_s"]
        p["traces_per_s"] = round(p["traced"] / w, 1) if w else None
        p["tokens_per_s_per_core"] = round(p["tokens"] / w / cores) if w else None
        p["mb_per_m_tokens"] = round(p["corpus_bytes"] / p["tokens"], 2) if p["tokens"] else None
    return {"dir": str(out), "cores": cores, "sample": sample, "parts": parts, "total": total}


HEAD = ("part", "traces", "rejected", "tokens", "wall", "tries", "traces/s", "tok/s/core")
HEAD += ("peak RSS", "MB/Mtok", "check")


def _cells(p: dict) -> tuple[str, ...]:
    return (
        p["part"],
        f"{p['traced']:,}",
        f"{p['rejected']:,}",
        ("" if p["tokens_exact"] else "~") + f"{p['tokens']:,}",
        f"{p['wall_s']:.0f} s",
        str(p["attempts"]),
        str(p["traces_per_s"]),
        f"{p['tokens_per_s_per_core']:,}" if p["tokens_per_s_per_core"] else "-",
        f"{p['peak_rss_kib'] / 2**20:.2f} GiB",
        str(p["mb_per_m_tokens"]),
        "ok" if p["ok"] else "LOST/DUP",
    )


def table(summary: dict) -> str:
    parts, t = summary["parts"], summary["total"]
    exact = all(q["tokens_exact"] for q in parts)
    rows = [HEAD, *map(_cells, [*parts, {**t, "part": "TOTAL", "tokens_exact": exact}])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    gb = 1e9
    lines += [
        "",
        f"runs found in more than one part: {t['runs_in_several_parts']:,}; "
        f"corpus {t['corpus_bytes'] / gb:.2f} GB, "
        f"resume state (.build) {t['build_bytes'] / gb:.2f} GB",
        f"CPU {t['cpu_s']:.0f} s over {t['wall_s']:.0f} s wall on {summary['cores']} cores; "
        "~: tokens estimated from a sample of rows",
    ]
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    """Wall minutes per part (its traces/s beside the bar) and its tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts, t = summary["parts"], summary["total"]
    names = [
        f"{p['part']} ({p['attempts']} tries)" if p["attempts"] > 1 else p["part"] for p in parts
    ]
    fig, (wall, tokens) = plt.subplots(
        1, 2, figsize=(11, 1.6 + 0.32 * len(parts)), sharey=True, width_ratios=(3, 2)
    )
    wall.barh(names, [p["wall_s"] / 60 for p in parts], color="tab:blue")
    for y, p in enumerate(parts):
        wall.text(p["wall_s"] / 60, y, f" {p['traces_per_s']} traces/s", va="center", fontsize=7)
    wall.set_xlabel("wall clock (min), attempts summed")
    wall.invert_yaxis()
    tokens.barh(names, [p["tokens"] / 1e6 for p in parts], color="tab:orange")
    tokens.set_xlabel("tokens (M)")
    fig.suptitle(
        f"{t['traced']:,} traces, {t['tokens'] / 1e6:,.1f}M tokens, "
        f"{t['wall_s'] / 60:,.1f} min of wall clock on {summary['cores']} cores"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sample", type=int, default=1000, help="rows tokenized per part; 0: all")
    ap.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    a = ap.parse_args(argv)
    summary = summarise(a.dir, a.cores, a.sample, a.tokenizer)
    plot(summary, a.dir / "summary.png")
    print(table(summary))
    print(json.dumps(summary))
    return 0 if summary["total"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
