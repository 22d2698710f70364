"""Training throughput: our loop vs a `transformers.Trainer` baseline.

Both train the same `CwmForCausalLM` preset from the same initial weights
on the same packed rows, with the same batch size, schedule, clipping and
loss mask (frame tokens only; the Trainer gets -100 labels elsewhere), in
one process, one after the other, for the same number of steps. Reported:
tokens/s of the optimizer steps (rows x block per second) and peak RSS.

    .venv/bin/python benchmarks/train_speed.py --data DIR [--steps 30] [--preset tiny]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def ours(data: str, out: Path, args) -> float:
    from opencwm.model.train import TrainConfig, train

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
    )
    last = train(c)
    return last["tokens_per_s"]


def trainer_baseline(data: str, out: Path, args) -> float:
    from transformers import CwmForCausalLM, Trainer, TrainingArguments
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
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=Rows())
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    return args.steps * args.batch_size * args.block / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--preset", default="tiny")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opencwm-train-bench-"))
    a = ours(args.data, tmp, args)
    b = trainer_baseline(args.data, tmp, args)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'loop':20s} {'tokens/s':>10s}")
    print(f"{'opencwm train':20s} {a:10.0f}")
    print(f"{'transformers.Trainer':20s} {b:10.0f}")
    print(
        f"ratio {a / b:.2f}x (target >= 1.2x); peak RSS {rss:.0f} MiB; "
        f"{torch.get_num_threads()} torch threads"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "train_speed",
                "preset": args.preset,
                "steps": args.steps,
                "ours_tokens_per_s": round(a),
                "trainer_tokens_per_s": round(b),
                "ratio": round(a / b, 2),
                "peak_rss_mib": round(rss),
            }
        )
    )


if __name__ == "__main__":
    main()
