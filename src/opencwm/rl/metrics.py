"""Run metrics: one JSON line per learner step, and the PNG made from them.

Each line holds the learner's numbers for that step (reward, loss, tokens,
importance weights, staleness histograms) and the run's around it: tokens/s
generated and trained, the learner's idle fraction, the samplers' idle
fraction by cause (waiting on environments, paced by the staleness bound,
refused by a full queue), queue depth and weight-publish latency.
"""

from __future__ import annotations

import json
from pathlib import Path

FORMAT = "opencwm.rl.metrics"


def step_line(learner: dict, sampler: dict, coord: dict, wall_s: float, dt: float) -> dict:
    """Merge one step's numbers; `sampler` holds counters summed since the last step."""
    idle = {k[5:]: v for k, v in sampler.items() if k.startswith("idle_")}
    sampler_total = sum(idle.values()) or 1.0
    learner_total = learner["idle_s"] + learner["train_s"] + learner["publish_s"]
    gen = sampler.get("tokens", 0)
    return {
        "format": FORMAT,
        **{k: v for k, v in learner.items()},
        "wall_s": round(wall_s, 3),
        "step_s": round(dt, 4),
        "tokens_generated": int(gen),
        "gen_tok_s": gen / dt if dt > 0 else 0.0,
        "train_tok_s": learner["tokens_trained"] / dt if dt > 0 else 0.0,
        "learner_idle": learner["idle_s"] / learner_total if learner_total > 0 else 0.0,
        "sampler_idle": {
            cause: v / sampler_total for cause, v in sorted(idle.items()) if cause != "busy"
        },
        "episodes": int(sampler.get("episodes", 0)),
        "env_failures_sampled": int(sampler.get("env_failures", 0)),
        "swaps": int(sampler.get("swaps", 0)),
        "adopt_lag_s": sampler.get("adopt_lag_s", 0.0) / max(1, sampler.get("swaps", 0)),
        "queue_depth": coord["queue_depth"],
        "in_flight": coord["in_flight"],
    }


def read(path: str | Path) -> list[dict]:
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]


def summary(lines: list[dict]) -> dict:
    """Whole-run figures: totals, and idle fractions weighted by time."""
    steps = [ln for ln in lines if "loss" in ln]
    if not steps:
        return {}
    idle = sum(s["idle_s"] for s in steps)
    busy = sum(s["train_s"] + s["publish_s"] for s in steps)
    tok_stale: dict[str, int] = {}
    for s in steps:
        for k, v in s["staleness_tokens"].items():
            tok_stale[k] = tok_stale.get(k, 0) + v
    return {
        "steps": len(steps),
        "wall_s": steps[-1]["wall_s"],
        "tokens_trained": sum(s["tokens_trained"] for s in steps),
        "learner_idle": idle / (idle + busy) if idle + busy else 0.0,
        "publish_s_mean": sum(s["publish_s"] for s in steps) / len(steps),
        "staleness_tokens": dict(sorted(tok_stale.items(), key=lambda kv: int(kv[0]))),
        "reward_first": steps[0]["reward"],
        "reward_last": steps[-1]["reward"],
    }


def plot(lines: list[dict], out: str | Path) -> Path:
    """A grid of the run's curves and histograms, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [ln for ln in lines if "loss" in ln]
    evals = [ln for ln in lines if "eval_reward" in ln]
    x = [s["step"] for s in steps]
    fig, ax = plt.subplots(3, 3, figsize=(14, 11))
    ax[0, 0].plot(x, [s["reward"] for s in steps], label="train (sampled)")
    if evals:
        ax[0, 0].plot(
            [e["step"] for e in evals],
            [e["eval_reward"] for e in evals],
            "o-",
            label="held-out",
        )
    ax[0, 0].set_title("reward")
    ax[0, 0].legend()
    ax[0, 1].plot(x, [s["gen_tok_s"] for s in steps], label="generated")
    ax[0, 1].plot(x, [s["train_tok_s"] for s in steps], label="trained")
    ax[0, 1].set_title("tokens/s")
    ax[0, 1].legend()
    ax[0, 2].plot(x, [s["learner_idle"] for s in steps])
    ax[0, 2].set_title("learner idle fraction")
    ax[0, 2].set_ylim(0, 1)
    causes = sorted({c for s in steps for c in s["sampler_idle"]})
    for c in causes:
        ax[1, 0].plot(x, [s["sampler_idle"].get(c, 0.0) for s in steps], label=c)
    ax[1, 0].set_title("sampler idle fraction by cause")
    ax[1, 0].set_ylim(0, 1)
    if causes:
        ax[1, 0].legend()
    for key, a, title in (
        ("staleness_tokens", ax[1, 1], "staleness per token"),
        ("staleness_trajs", ax[1, 2], "staleness per trajectory (oldest token)"),
    ):
        hist: dict[int, int] = {}
        for s in steps:
            for k, v in s[key].items():
                hist[int(k)] = hist.get(int(k), 0) + v
        a.bar(list(hist), list(hist.values()))
        a.set_title(title)
        a.set_xlabel("versions behind the learner")
    ax[2, 0].plot(x, [s["iw_mean"] for s in steps], label="mean")
    ax[2, 0].plot(x, [s["iw_max"] for s in steps], label="max")
    ax[2, 0].plot(x, [s["iw_min"] for s in steps], label="min")
    ax[2, 0].set_title("behaviour importance weights (before truncation)")
    ax[2, 0].legend()
    ax[2, 1].plot(x, [s["queue_depth"] for s in steps])
    ax[2, 1].set_title("queue depth (groups)")
    ax[2, 2].plot(x, [s["publish_s"] * 1000 for s in steps])
    ax[2, 2].set_title("weight publish latency (ms)")
    for a in ax.flat:
        if a not in (ax[1, 1], ax[1, 2]):
            a.set_xlabel("learner step")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _block_means(ys: list[float], window: int) -> list[float]:
    return [sum(ys[i : i + window]) / len(ys[i : i + window]) for i in range(0, len(ys), window)]


def _moving_means(ys: list[float], window: int) -> list[float]:
    return [sum(ys[max(0, i - window + 1) : i + 1]) / min(i + 1, window) for i in range(len(ys))]


def paired(before: list[float], after: list[float]) -> tuple[int, int, int]:
    """Tasks whose reward went (up, down, unchanged) between two evaluations
    of the same tasks."""
    pairs = list(zip(before, after, strict=True))
    return (
        sum(b > a for a, b in pairs),
        sum(b < a for a, b in pairs),
        sum(b == a for a, b in pairs),
    )


def digest(lines: list[dict], window: int = 10) -> dict:
    """What a reader of a learning run wants in a few numbers: the held-out
    evaluations (with tasks up/down against the first), and per block of
    `window` steps the sampled reward, tokens generated per step and steps
    with no gradient (every group unanimous); importance-weight range;
    generated tokens/s over the run."""
    steps = [ln for ln in lines if "loss" in ln]
    evals = [ln for ln in lines if "eval_reward" in ln]
    out: dict = {"evals": {str(e["step"]): round(e["eval_reward"], 3) for e in evals}}
    if len(evals) > 1 and "eval_rewards" in evals[0]:
        first = evals[0]["eval_rewards"]
        out["up_down_same"] = {str(e["step"]): paired(first, e["eval_rewards"]) for e in evals[1:]}
    if steps:
        out["reward"] = [round(x, 3) for x in _block_means([s["reward"] for s in steps], window)]
        gen = [s["tokens_generated"] for s in steps]
        out["tokens_per_step"] = [round(x) for x in _block_means(gen, window)]
        flat = [s["grad_norm"] == 0 for s in steps]
        out["no_gradient_steps"] = [sum(flat[i : i + window]) for i in range(0, len(flat), window)]
        out["iw_range"] = [
            round(min(s["iw_min"] for s in steps), 3),
            round(max(s["iw_max"] for s in steps), 2),
        ]
        out["gen_tok_s"] = round(sum(gen) / steps[-1]["wall_s"])
        out["wall_s"] = steps[-1]["wall_s"]
    return out


def compare(runs: dict[str, list[dict]], out: str | Path, window: int = 10) -> Path:
    """Several runs side by side (seeds, or one knob changed): held-out
    reward, sampled reward and tokens generated per step (the answers'
    length), the last two as moving means over `window` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, lines in runs.items():
        steps = [ln for ln in lines if "loss" in ln]
        evals = [ln for ln in lines if "eval_reward" in ln]
        ax[0].plot([e["step"] for e in evals], [e["eval_reward"] for e in evals], "o-", label=name)
        for a, key in ((ax[1], "reward"), (ax[2], "tokens_generated")):
            means = _moving_means([s[key] for s in steps], window)
            a.plot([s["step"] for s in steps], means, label=name)
    for a, title in zip(
        ax,
        (
            "held-out reward",
            f"sampled reward ({window}-step mean)",
            f"tokens generated per step ({window}-step mean)",
        ),
        strict=True,
    ):
        a.set_title(title)
        a.set_xlabel("learner step")
        a.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(
        description="RL runs side by side: a digest of each, and a PNG with --out. "
        "python -m opencwm.rl.metrics RUN... [--out F.png]; --evals A.json B.json... "
        "compares `opencwm rl --eval-only` results task by task against the first."
    )
    ap.add_argument("runs", nargs="*", help="run directories (each holds metrics.jsonl)")
    ap.add_argument("--out")
    ap.add_argument("--evals", nargs="+", default=[], help="--eval-only JSON outputs")
    args = ap.parse_args()
    named = {Path(r).name: read(Path(r) / "metrics.jsonl") for r in args.runs}
    for name, lines in named.items():
        print(name, json.dumps(digest(lines)))
    if args.evals:
        results = [json.loads(Path(f).read_text().strip().splitlines()[-1]) for f in args.evals]
        for f, r in zip(args.evals, results, strict=True):
            if r["tasks"] != results[0]["tasks"]:
                raise SystemExit(f"error: {f} scored other tasks than {args.evals[0]}")
            up, down, same = paired(results[0]["eval_rewards"], r["eval_rewards"])
            print(f"{f}: {r['eval_reward']:.3f} (up {up}, down {down}, same {same})")
    if args.out:
        print(compare(named, args.out))
