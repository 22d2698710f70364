"""Training throughput: our loop vs a `transformers.Trainer` baseline.

Both train the same `CwmForCausalLM` preset from the same initial weights
on the same packed rows, with the same batch size, schedule, clipping and
loss mask (frame tokens only; the Trainer gets -100 labels elsewhere), in
one process, one after the other, for the same number of steps.

Precision is held equal: our loop's default (`precision="auto"`: bf16
autocast on a CPU with bf16 units) is compared with the Trainer given
`bf16=True` (the same autocast); the Trainer's own default, fp32, is
printed beside it. `--compile` also times our loop with `torch.compile`.
The Trainer otherwise keeps its defaults (no compile).

Two rates per loop: *steady* (tokens per step / median step time after the
first `--skip` steps: what a long run sees) and *overall* (all steps, the
first included, so compile time is paid, as a short run pays it). Peak RSS
is the process's.

    .venv/bin/python benchmarks/train_speed.py --data DIR [--steps 40] [--compile]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def rates(stamps: list[float], start: float, tokens_per_step: int, skip: int) -> dict:
    steps = np.diff([start, *stamps])
    steady = statistics.median(steps[skip:]) if len(steps) > skip else float("nan")
    return {
        "steady": tokens_per_step / steady,
        "overall": tokens_per_step * len(steps) / (stamps[-1] - start),
        "first_step_s": float(steps[0]),
    }


def prepare_data(data: str, out: Path, args) -> None:
    """The tokenizer and the packed rows, made once, outside every clock."""
    from opencwm.model.train import TrainConfig, train

    train(TrainConfig(data=data, out=str(out), preset=args.preset, steps=0, block=args.block))


def ours(data: str, out: Path, args, compile: bool = False) -> tuple[dict, str]:
    from opencwm.model.train import TrainConfig, autocast_for, train

    for f in ("model.safetensors", "train_state.pt", "history.jsonl"):
        (out / f).unlink(missing_ok=True)  # a fresh run; tokenizer and packing reused
    c = TrainConfig(
        data=data,
        out=str(out),
        preset=args.preset,
        steps=args.steps,
        batch_size=args.batch_size,
        block=args.block,
        warmup=5,
        eval_every=10**9,
        save_every=10**9,
        compile=compile,
    )
    stamps: list[float] = []
    start = time.perf_counter()
    train(c, lambda record: stamps.append(time.perf_counter()))
    bf16 = autocast_for(torch.device("cpu"), c.precision) is not None
    return rates(stamps, start, args.batch_size * args.block, args.skip), (
        "bf16" if bf16 else "fp32"
    )


def trainer_baseline(data: str, out: Path, args, bf16: bool) -> dict:
    from transformers import CwmForCausalLM, Trainer, TrainerCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import load_tokenizer
    from opencwm.model.train import TrainConfig, prepare

    hf_logging.set_verbosity_error()
    tok = load_tokenizer(out)  # the tokenizer our run trained, so the data is identical
    c = TrainConfig(data=data, out=str(out), block=args.block)
    ids, mask = prepare(c, tok)["train"]
    torch.manual_seed(0)
    model = CwmForCausalLM(cwm_config(args.preset, tok))

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(ids)

        def __getitem__(self, i: int) -> dict:
            x = torch.from_numpy(ids[i, :-1].astype(np.int64))
            labels = x.clone()
            labels[torch.from_numpy(mask[i, :-1]) == 0] = -100
            return {"input_ids": x, "labels": labels}

    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_, **__) -> None:
            stamps.append(time.perf_counter())

    targs = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=2e-3,
        lr_scheduler_type="cosine",
        warmup_steps=5,
        weight_decay=0.1,
        max_grad_norm=1.0,
        adam_beta2=0.95,
        logging_steps=10**9,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=bf16,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=Rows(), callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    return rates(stamps, start, args.batch_size * args.block, args.skip)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip", type=int, default=5, help="steps left out of the steady rate")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--compile", action="store_true", help="also time ours with torch.compile")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opencwm-train-bench-"))
    prepare_data(args.data, tmp, args)
    default, precision = ours(args.data, tmp, args)
    rows = {f"opencwm train ({precision})": default}
    if args.compile:
        rows[f"opencwm train ({precision}, compiled)"] = ours(args.data, tmp, args, True)[0]
    same = trainer_baseline(args.data, tmp, args, bf16=precision == "bf16")
    rows[f"transformers.Trainer ({precision})"] = same
    if precision == "bf16":
        rows["transformers.Trainer (fp32)"] = trainer_baseline(args.data, tmp, args, False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'loop':36s} {'steady tok/s':>13s} {'overall tok/s':>14s} {'first step s':>13s}")
    for name, r in rows.items():
        print(f"{name:36s} {r['steady']:13.0f} {r['overall']:14.0f} {r['first_step_s']:13.1f}")
    best = max(r["steady"] for name, r in rows.items() if name.startswith("opencwm"))
    ratios = {
        "default_steady": default["steady"] / same["steady"],
        "default_overall": default["overall"] / same["overall"],
        "best_steady": best / same["steady"],
    }
    print(
        f"against the Trainer at the same precision ({precision}): default loop "
        f"{ratios['default_steady']:.2f}x steady / {ratios['default_overall']:.2f}x overall, "
        f"best {ratios['best_steady']:.2f}x steady (target >= 1.2x); peak RSS {rss:.0f} MiB; "
        f"{torch.get_num_threads()} torch threads"
    )
    print(
        json.dumps(
            {
                "benchmark": "train_speed",
                "preset": args.preset,
                "steps": args.steps,
                "precision": precision,
                "tokens_per_s": {
                    n: {k: round(v, 1) for k, v in r.items()} for n, r in rows.items()
                },
                "ratios": {k: round(v, 2) for k, v in ratios.items()},
                "peak_rss_mib": round(rss),
            }
        )
    )


if __name__ == "__main__":
    main()
