"""What is in a corpus: counts, trace lengths, events and value types, failures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from opencwm.data.pipeline import SPLITS, iter_rows
from opencwm.trace.values import repr_type

_BUCKETS = (10, 25, 50, 100, 250, 500, 1000, 2500, 10**9)


def corpus_stats(out: Path) -> dict:
    by_split_source: Counter = Counter()
    lengths: Counter = Counter()
    events: Counter = Counter()
    types: Counter = Counter()
    reasons: Counter = Counter()
    raw_lengths: list[int] = []
    for split in (*SPLITS, "rejected"):
        for row in iter_rows(out, split):
            by_split_source[(split, row["source"])] += 1
            if split == "rejected":
                reasons[f"{row['status']}: {row['reason'][:70]}"] += 1
                continue
            n = row["n_frames"]
            raw_lengths.append(n)
            lengths[next(b for b in _BUCKETS if n <= b)] += 1
            for f in json.loads(row["frames"]):
                events[f["event"]] += 1
                for v in f["locals"].values():
                    types[repr_type(v)] += 1
                if f["arg"] is not None:
                    types[repr_type(f["arg"])] += 1
    return {
        "counts": {f"{s}/{src}": n for (s, src), n in sorted(by_split_source.items())},
        "length_histogram": {_label(b): lengths[b] for b in _BUCKETS if lengths[b]},
        "events": dict(events.most_common()),
        "value_types": dict(types.most_common()),
        "failure_reasons": dict(reasons.most_common(15)),
        "lengths": raw_lengths,
    }


def _label(bucket: int) -> str:
    i = _BUCKETS.index(bucket)
    lo = _BUCKETS[i - 1] + 1 if i else 1
    return f"{lo}+" if bucket == _BUCKETS[-1] else f"{lo}-{bucket}"


def plot_lengths(lengths: list[int], path: Path) -> None:
    """Histogram of trace lengths as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(lengths, bins=50, color="#4477aa")
    ax.set_xlabel("frames per trace")
    ax.set_ylabel("traces")
    ax.set_title(f"trace lengths (n={len(lengths)})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
