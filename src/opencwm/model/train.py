"""Training a code world model: one loop, readable in one sitting.

Data: the corpus's Parquet rows become windows (`windows.py`) packed into
fixed rows; batch `k` of the run is a pure function of (seed, k), so a run
resumed from a checkpoint sees exactly the batches it would have seen.
Optimisation: AdamW, linear warm-up then cosine decay to `min_lr`, gradient
clipping. CPU by default; CUDA when present; several GPUs through
`torchrun` (DDP: each rank takes its slice of every batch). Matmuls run
under bf16 autocast wherever the hardware has bf16 units (CUDA, and CPUs
with AVX512-BF16 or AMX, where it about doubles CPU throughput); weights,
optimizer state and the loss stay fp32. `compile` adds `torch.compile`,
which pays back its compilation only over long runs (figures:
benchmarks/train_speed.py, docs/benchmarks.md).
Saved in standard HF layout, so `AutoModelForCausalLM.from_pretrained(out)`
loads the result; `out/train_state.pt` holds what resuming needs.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from opencwm.data.decontam import Decontam, describe, held_out_programs
from opencwm.model.budget import REASONS, Budget, Plan, Schedule
from opencwm.model.presets import cwm_config
from opencwm.model.tokenizer import PAD, load_tokenizer, train_tokenizer
from opencwm.model.windows import Windower, corpus_format, pack


@dataclass
class TrainConfig:
    data: str | list[str]
    """One corpus directory, or several whose traces are trained on together
    (e.g. the synthetic corpus and a `halting:` one)."""
    out: str
    preset: str = "tiny"
    steps: int = 1000
    batch_size: int = 16
    block: int = 1024
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    loss_on_all: bool = False
    eval_every: int = 100
    save_every: int = 200
    vocab_size: int = 2048
    seed: int = 0
    precision: str = "auto"
    """auto (bf16 autocast where the device has bf16 units), bf16 or fp32."""
    compile: bool = False
    max_rows: int | list[int] | None = None
    """At most this many traces from each corpus and split (one cap for all,
    or one per corpus in order; 0 means no cap): with several corpora, the
    knob that sets the mixture. Counted after decontamination drops any."""
    max_windows: int | None = None
    """At most this many windows of each trace. Looping runs cut at 300
    frames are several windows of a repeating state each; a cap keeps them
    from crowding out the short runs that end."""
    workers: int = 1
    """Processes that window the traces (tokenisation) for packing; the
    packed rows are the same for any number."""
    time_budget: float | None = None
    """Seconds the run may take, from the start of `train` to its last save:
    the steps are planned to fit (`budget.py`) and `steps` is not used. A
    run resumed with a budget fits the rest of its cosine into the new one;
    resumed without, it runs the rest of its last plan."""


PRECISIONS = ("auto", "bf16", "fp32")


def autocast_for(device: torch.device, precision: str):
    """The autocast context of a training step, or None for plain fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if precision == "auto":
        caps = torch.cpu.get_capabilities() if device.type == "cpu" else {}
        fast = device.type == "cuda" or caps.get("avx512_bf16") or caps.get("amx_bf16")
        precision = "bf16" if fast else "fp32"
    if precision == "fp32":
        return None
    return torch.autocast(device.type, dtype=torch.bfloat16)


def lr_at(step: int, c: TrainConfig) -> float:
    """The rate of a run of `c.steps` (no budget): its cosine ends one step
    past the last, as it always has, so older runs resume unchanged."""
    return Schedule(c.warmup, c.steps).lr(step, c.lr, c.min_lr)


def corpora(c: TrainConfig) -> list[Path]:
    return [Path(d) for d in ([c.data] if isinstance(c.data, str) else c.data)]


def row_caps(c: TrainConfig) -> list[int | None]:
    """The cap on each corpus's rows, in the order of `corpora(c)`."""
    paths = corpora(c)
    caps = c.max_rows if isinstance(c.max_rows, list) else [c.max_rows]
    if len(caps) == 1:
        caps = caps * len(paths)
    if len(caps) != len(paths):
        raise ValueError(f"{len(caps)} row caps for {len(paths)} corpora: give one, or one each")
    return [cap or None for cap in caps]


def corpus_rows(
    c: TrainConfig, split: str, limit: int | None = None, clean: Decontam | None = None
) -> list[dict]:
    """`split`'s rows of every corpus in turn, each corpus cut at its cap
    (`limit`, when given, overrides every cap); rows `clean` does not keep
    are skipped and not counted against the cap. Each row carries its
    corpus's `format` (`windows.corpus_format`): how its text is windowed."""
    from opencwm.data.pipeline import iter_rows

    rows = []
    caps = [limit] * len(corpora(c)) if limit else row_caps(c)
    for data, cap in zip(corpora(c), caps, strict=True):
        taken, fmt = 0, corpus_format(data)
        for row in iter_rows(data, split):
            if cap and taken >= cap:
                break
            if clean is None or clean.keep(row, data):
                row["format"] = fmt
                rows.append(row)
                taken += 1
    return rows


def prepare(
    c: TrainConfig,
    tokenizer,
    test: set[str] | None = None,
    packing: Callable[[str, int, int], None] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Packed (ids, mask) per split, cached beside the checkpoint. Training
    rows whose program is in any corpus's test split (`test`: their keys,
    read from the corpora when not given) are dropped; what was dropped is
    kept in `decontam.json` beside the cache. `packing(split, done, total)`
    follows the rows windowed."""
    cache = Path(c.out) / "packed.npz"
    if cache.exists():
        z = np.load(cache)
        return {s: (z[f"{s}_ids"], z[f"{s}_mask"]) for s in ("train", "val")}
    clean = Decontam(held_out_programs(corpora(c)) if test is None else test)
    pad = tokenizer.convert_tokens_to_ids(PAD)
    out = {}
    with Windower(tokenizer, c.block + 1, c.loss_on_all, c.max_windows, c.workers) as windows:
        for split in ("train", "val"):
            rows = corpus_rows(c, split, clean=clean if split == "train" else None)
            if packing:
                windows.advance = counter(packing, split, len(rows))
            seqs = windows(rows)
            if not seqs:
                names = ", ".join(map(str, corpora(c)))
                raise ValueError(f"{names} has no {split} traces to train on")
            ids, mask = pack(seqs, c.block, pad)
            if split == "val" and len(corpora(c)) > 1:
                # validation reads the first rows: let them come from every corpus
                order = np.random.default_rng(c.seed).permutation(len(ids))
                ids, mask = ids[order], mask[order]
            out[split] = (ids, mask)
    (Path(c.out) / "decontam.json").write_text(json.dumps(clean.report(), indent=2) + "\n")
    np.savez(
        cache,
        **{f"{s}_{k}": a for s, (ids, m) in out.items() for k, a in (("ids", ids), ("mask", m))},
    )
    return out


def counter(packing: Callable[[str, int, int], None], split: str, total: int):
    """`advance(n)` for a split's rows, telling `packing` the rows done so far."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        packing(split, done, total)

    advance(0)
    return advance


def batch(
    ids: np.ndarray, mask: np.ndarray, step: int, c: TrainConfig, rank: int = 0, world: int = 1
):
    """Rows of batch `step`: epoch-wise permutation seeded by (seed, epoch)."""
    n = len(ids)
    per_epoch = max(1, n // c.batch_size)
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng([c.seed, epoch]).permutation(n)
    pick = order[k * c.batch_size : (k + 1) * c.batch_size]
    pick = pick[rank::world]
    x = torch.from_numpy(ids[pick].astype(np.int64))
    m = torch.from_numpy(mask[pick].astype(np.float32))
    return x[:, :-1], x[:, 1:], m[:, 1:]


def masked_loss(model, x, y, m, need_logits: bool = False):
    """Mean next-token loss where `m` is 1. The LM head and the softmax run
    only on those positions: the source in the prompt is given, so its
    logits would be computed for nothing."""
    core = model.module if hasattr(model, "module") else model
    hidden = core.model(input_ids=x, use_cache=False).last_hidden_state  # (B, T, H)
    keep = m.flatten() > 0
    logits = core.lm_head(hidden.flatten(0, 1)[keep])  # (N, V)
    loss = F.cross_entropy(logits.float(), y.flatten()[keep])
    if need_logits:
        return loss, core.lm_head(hidden)
    return loss, None


@torch.no_grad()
def evaluate(
    model,
    val: tuple[np.ndarray, np.ndarray],
    c: TrainConfig,
    frame_sep: int,
    device,
    rows: int | None = 64,
) -> dict:
    """Validation loss and teacher-forced accuracy: tokens, and whole frames
    (every target token of the frame predicted right), on the first `rows`
    packed rows (all of them for None)."""
    model.eval()
    ids, mask = val
    total, count, tok_ok, tok_n, fr_ok, fr_n = 0.0, 0, 0, 0, 0, 0
    for start in range(0, len(ids) if rows is None else min(len(ids), rows), c.batch_size):
        x = torch.from_numpy(ids[start : start + c.batch_size].astype(np.int64)).to(device)
        m = torch.from_numpy(mask[start : start + c.batch_size].astype(np.float32)).to(device)
        loss, logits = masked_loss(model, x[:, :-1], x[:, 1:], m[:, 1:], need_logits=True)
        total += loss.item()
        count += 1
        right = (logits.argmax(-1) == x[:, 1:]) | (m[:, 1:] == 0)
        tok_ok += int(((logits.argmax(-1) == x[:, 1:]) & (m[:, 1:] > 0)).sum())
        tok_n += int(m[:, 1:].sum())
        for r in range(x.shape[0]):
            ends = (x[r, 1:] == frame_sep) & (m[r, 1:] > 0)
            seg = torch.cumsum(ends.int(), 0) - ends.int()  # frame index per position
            for f in range(int(ends.sum())):
                sel = (seg == f) & (m[r, 1:] > 0)
                fr_ok += int(right[r][sel].all())
                fr_n += 1
    model.train()
    return {
        "val_loss": total / max(count, 1),
        "val_token_acc": tok_ok / max(tok_n, 1),
        "val_frame_acc": fr_ok / max(fr_n, 1),
    }


def train(
    c: TrainConfig,
    progress=None,
    log: Callable[[str], None] | None = None,
    started: float | None = None,
    packing: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Train as `c` says; `progress` gets every step's record, `log` lines
    for a person (what decontamination dropped), `packing` (split, rows
    done, rows) the data's preparation. A time budget counts from
    `started` (a `time.monotonic()`; by default, now): a command passes
    its own start, so that importing torch is in the budget too."""
    started = time.monotonic() if started is None else started
    from transformers import CwmForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if ddp:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    device = torch.device(
        f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    )
    autocast = autocast_for(device, c.precision)
    row_caps(c)  # a mismatched mixture fails here, before any work
    torch.manual_seed(c.seed)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "train_state.pt"
    test = None if (out / "packed.npz").exists() else held_out_programs(corpora(c))
    if (out / "tokenizer.json").exists():
        tokenizer = load_tokenizer(out)
    else:
        texts = [r["cwm"] for r in corpus_rows(c, "train", 20_000, Decontam(test or set()))]
        tokenizer = train_tokenizer(texts, c.vocab_size)
        if rank == 0:
            tokenizer.save_pretrained(out)
    data = prepare(c, tokenizer, test, packing if rank == 0 else None)
    if log and rank == 0:
        if (out / "decontam.json").exists():
            log(describe(json.loads((out / "decontam.json").read_text())))
        else:  # packed by an older opencwm: kept, so a resumed run sees the same batches
            log(f"{out / 'packed.npz'} predates decontamination; delete it to re-pack")
    frame_sep = tokenizer.convert_tokens_to_ids("<|frame_sep|>")
    if state_path.exists() or (out / "model.safetensors").exists():
        # resume a run, or keep training released weights (e.g. models/cwm-tiny
        # copied to a new directory) with a fresh optimizer and schedule
        model = CwmForCausalLM.from_pretrained(out)
    else:
        model = CwmForCausalLM(cwm_config(c.preset, tokenizer))
    model.to(device)
    raw = model
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    if c.compile:
        # the decoder only: masked_loss runs the LM head on a data-dependent
        # subset of positions, which would recompile every step
        raw.model.compile()
    decay = [p for p in raw.parameters() if p.dim() >= 2]
    no_decay = [p for p in raw.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": c.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=c.lr,
        betas=(0.9, 0.95),
    )
    history: list[dict] = []
    step, tokens, stage = 0, 0, 0
    planned, plans = None, []  # a budgeted run's schedule and plans, kept in its state
    if state_path.exists():
        st = torch.load(state_path, weights_only=False)
        opt.load_state_dict(st["optimizer"])
        step, tokens, history = st["step"], st["tokens"], st["history"]
        torch.set_rng_state(st["rng"])
        stage = history[-1].get("stage", 0) if history else 0
        planned = Schedule(**st["schedule"]) if st.get("schedule") else None
        plans = st.get("plans") or []
        if c.time_budget and not planned:  # a plain run goes on from its own curve
            planned = Schedule(st["config"]["warmup"], st["config"]["steps"])
    elif (out / "model.safetensors").exists() and (out / "history.jsonl").exists():
        # warm start: the weights' own history goes on, so the curves and the
        # token count cover all the training these weights have had; `stage`
        # tells the runs (each with its own step counter) apart
        history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
        tokens = history[-1]["tokens"] if history else 0
        stage = history[-1].get("stage", 0) + 1 if history else 0
    budget = None
    if c.time_budget:
        budget = Budget(
            c.time_budget,
            started + c.time_budget,
            c.warmup,
            c.eval_every,
            c.save_every,
            planned,
            plans,
        )
        schedule, total = budget.schedule, budget.total
    elif planned:  # resumed without a budget: the rest of its last plan
        schedule, total = planned, planned.end + 1
    else:
        schedule, total = Schedule(c.warmup, c.steps), c.steps
    saved_at = step if state_path.exists() else -1

    def checkpoint(record: dict, do_eval: bool, do_save: bool) -> None:
        """Validate into `record` and/or save, each timed for the budget."""
        nonlocal saved_at
        if do_eval:
            t = time.monotonic()
            record.update(evaluate(raw, data["val"], c, frame_sep, device))
            if budget:
                budget.costs.evals.append(time.monotonic() - t)
        if do_save:
            t = time.monotonic()
            if rank == 0:
                kept = budget.record() if budget else {}
                if budget and budget.total is None:
                    kept.pop("schedule")  # not planned yet: nothing to resume along
                elif planned and not budget:
                    kept = {"schedule": asdict(schedule), "plans": plans}
                save(raw, tokenizer, opt, c, step, tokens, history, out, kept)
            saved_at = step
            if budget:
                budget.costs.saves.append(time.monotonic() - t)

    ids, mask = data["train"]
    busy, tok_window = 0.0, 0  # time in optimizer steps only, for tokens/s
    first = step
    while True:
        plan = None
        if budget:
            if budget.needs_costs():
                checkpoint(history[-1], True, True)
            plan = replan(budget, step, ddp, device)
            schedule, total = budget.schedule, budget.total
        if total is not None and step >= total:
            break
        t0 = time.monotonic()
        lr = schedule.lr(step, c.lr, c.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, m = (t.to(device) for t in batch(ids, mask, step, c, rank, world))
        if autocast:
            with autocast:
                loss, _ = masked_loss(model, x, y, m)
        else:
            loss, _ = masked_loss(model, x, y, m)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), c.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        n = x.numel() * world
        tokens += n
        tok_window += n
        step += 1
        busy += time.monotonic() - t0
        rate = tok_window / max(busy, 1e-6)
        record = {
            "stage": stage,
            "step": step,
            "tokens": tokens,
            "loss": loss.item(),
            "lr": lr,
            "tokens_per_s": rate,
        }
        if plan:
            record["plan"] = asdict(plan)
        took = time.monotonic() - t0
        checkpoint(record, step % c.eval_every == 0 or step == total, False)
        history.append(record)
        if progress:
            progress(record)
        t1 = time.monotonic()
        if step % c.save_every == 0 or step == total:
            checkpoint(record, False, True)
        if budget:
            budget.costs.step_took(took + time.monotonic() - t1)
    if budget and first < step != saved_at:
        # the plan shrank to the step just done: close with its eval and save
        checkpoint(history[-1], "val_loss" not in history[-1], True)
    elif budget and rank == 0 and budget.made:
        write_config(c, out, budget.record())  # the last plan, made after the last save
    if budget and not (out / "model.safetensors").exists():
        raise ValueError(
            f"the time budget of {c.time_budget:.0f} s ran out before the first step "
            f"(preparation took {time.monotonic() - started:.0f} s); give more time, "
            f"or run again: {out} keeps the tokenizer and the packed data"
        )
    if ddp:
        torch.distributed.destroy_process_group()
    return history[-1] if history else {}


def replan(budget: Budget, step: int, ddp: bool, device) -> Plan | None:
    """The budget's plan before `step`; under DDP rank 0's proposal is everyone's."""
    now = time.monotonic()
    total, reason = budget.propose(step, now)
    if ddp:
        code = REASONS.index(reason) if reason else -1
        sent = torch.tensor([-1 if total is None else total, code], device=device)
        torch.distributed.broadcast(sent, 0)
        total = None if sent[0] < 0 else int(sent[0])
        reason = REASONS[int(sent[1])] if sent[1] >= 0 else ""
    return budget.apply(step, total, reason, now)


def save(
    model, tokenizer, opt, c: TrainConfig, step, tokens, history, out: Path, plan: dict
) -> None:
    """Model in HF layout, then resume state, each written atomically.
    `plan`: a budgeted run's plans and schedule (empty for a plain run)."""
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    tmp = out / "train_state.pt.tmp"
    torch.save(
        {
            "optimizer": opt.state_dict(),
            "step": step,
            "tokens": tokens,
            "history": history,
            "rng": torch.get_rng_state(),
            "config": asdict(c),
            "schedule": plan.get("schedule"),
            "plans": plan.get("plans"),
        },
        tmp,
    )
    os.replace(tmp, out / "train_state.pt")
    write_config(c, out, plan)
    (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    plot_curves(history, out / "curves.png")


def write_config(c: TrainConfig, out: Path, plan: dict) -> None:
    """The run's settings, with each corpus's format (`predict` and `eval nl`
    know a narrating model by it), what decontamination dropped and the
    budget's plans."""
    config = asdict(c)
    config["formats"] = [corpus_format(d) for d in corpora(c)]
    if (out / "decontam.json").exists():
        config["decontam"] = json.loads((out / "decontam.json").read_text())
    if plan:
        config["budget"] = plan
    (out / "train_config.json").write_text(json.dumps(config, indent=2) + "\n")


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    t = [h["tokens"] / 1e6 for h in history]
    a.plot(t, [h["loss"] for h in history], lw=0.8, label="train")
    ev = [h for h in history if "val_loss" in h]
    a.plot([h["tokens"] / 1e6 for h in ev], [h["val_loss"] for h in ev], "o-", label="val")
    a.set_xlabel("training tokens (M)")
    a.set_ylabel("loss (trace tokens)")
    a.set_yscale("log")
    a.legend()
    b.plot([h["tokens"] / 1e6 for h in ev], [h["val_token_acc"] for h in ev], "o-", label="token")
    b.plot(
        [h["tokens"] / 1e6 for h in ev], [h["val_frame_acc"] for h in ev], "o-", label="whole frame"
    )
    starts = [
        h["tokens"] / 1e6
        for g, h in itertools.pairwise(history)
        if h.get("stage", 0) != g.get("stage", 0)
    ]
    for x in starts:  # a warm start: new optimizer and schedule from here
        for ax in (a, b):
            ax.axvline(x, color="grey", ls=":", lw=0.8)
    b.set_xlabel("training tokens (M)")
    b.set_ylabel("teacher-forced accuracy (val)")
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
