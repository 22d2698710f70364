"""Training: the loss falls, checkpoints load with transformers, resume is exact."""

import itertools
import json

import pytest
import torch

from opencwm.model.train import TrainConfig, lr_at, train


def config(data, out, **kw):
    base = dict(
        data=data if isinstance(data, list) else str(data),
        out=str(out),
        steps=24,
        batch_size=4,
        block=256,
        lr=3e-3,
        warmup=4,
        eval_every=12,
        save_every=12,
        vocab_size=512,
    )
    return TrainConfig(**{**base, **kw})


def test_a_few_steps_lower_the_loss(tiny_corpus, tmp_path):
    last = train(config(tiny_corpus, tmp_path / "m"))
    history = [json.loads(line) for line in (tmp_path / "m/history.jsonl").read_text().splitlines()]
    first_val = next(h["val_loss"] for h in history if "val_loss" in h)
    assert last["val_loss"] < first_val and last["loss"] < history[0]["loss"] * 0.7
    assert (tmp_path / "m/curves.png").stat().st_size > 1000


def test_checkpoint_loads_with_transformers(tiny_corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train(config(tiny_corpus, tmp_path / "m", steps=4, save_every=4, eval_every=4))
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert type(model).__name__ == "CwmForCausalLM"
    ids = tok("<|begin_of_text|><|trace_context_start|>def f():")["input_ids"]
    assert ids[:2] == [
        tok.convert_tokens_to_ids("<|begin_of_text|>"),
        tok.convert_tokens_to_ids("<|trace_context_start|>"),
    ]
    with torch.no_grad():
        assert model(input_ids=torch.tensor([ids])).logits.shape[-1] == len(tok)


class Killed(Exception):
    pass


def test_resume_continues_exactly(tiny_corpus, tmp_path):
    straight = train(config(tiny_corpus, tmp_path / "a", steps=10, save_every=4, eval_every=10))

    def die_after_step_6(record):
        if record["step"] == 6:
            raise Killed  # killed after the step-4 checkpoint, two steps lost

    with pytest.raises(Killed):
        train(
            config(tiny_corpus, tmp_path / "b", steps=10, save_every=4, eval_every=10),
            die_after_step_6,
        )
    resumed = train(config(tiny_corpus, tmp_path / "b", steps=10, save_every=4, eval_every=10))
    assert resumed["loss"] == pytest.approx(straight["loss"], rel=1e-5)
    from safetensors.torch import load_file

    a = load_file(tmp_path / "a/model.safetensors")
    b = load_file(tmp_path / "b/model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_schedule_warms_up_then_decays():
    c = TrainConfig(data="", out="", steps=100, warmup=10, lr=1.0, min_lr=0.1)
    assert lr_at(0, c) == pytest.approx(0.1) and lr_at(9, c) == pytest.approx(1.0)
    assert lr_at(55, c) == pytest.approx(0.55) and lr_at(100, c) == pytest.approx(0.1)


def test_a_warm_start_continues_the_weights_history(tiny_corpus, tmp_path):
    """Released weights copied to a new directory train on with a fresh
    optimizer and schedule, but the token count and curves go on."""
    import shutil

    train(config(tiny_corpus, tmp_path / "a", steps=4, save_every=4, eval_every=4))
    (tmp_path / "b").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "history.jsonl"):  # fmt: skip
        shutil.copy(tmp_path / "a" / name, tmp_path / "b" / name)
    last = train(config(tiny_corpus, tmp_path / "b", steps=3, save_every=3, eval_every=3))
    history = [json.loads(line) for line in (tmp_path / "b/history.jsonl").read_text().splitlines()]
    assert [(h["stage"], h["step"]) for h in history] == [(0, 1), (0, 2), (0, 3), (0, 4),
                                                          (1, 1), (1, 2), (1, 3)]  # fmt: skip
    assert last["tokens"] == 7 * 4 * 256
    assert history[4]["lr"] == pytest.approx(3e-3 / 4)  # a fresh schedule: warm-up again


def test_several_corpora_mix_with_a_cap_on_each(tiny_corpus, tmp_path):
    """Two corpora train together; --max-rows takes at most N traces from each."""
    import shutil

    from opencwm.model.train import corpus_rows

    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    c = config([str(tiny_corpus), str(other)], tmp_path / "m", max_rows=7)
    rows = corpus_rows(c, "train", c.max_rows)
    assert len(rows) == 14
    assert [r["id"] for r in rows[:7]] == [r["id"] for r in rows[7:]]
    last = train(config([str(tiny_corpus), str(other)], tmp_path / "m", steps=2, eval_every=2))
    assert last["step"] == 2 and "val_loss" in last


def test_each_corpus_takes_its_own_cap(tiny_corpus, tmp_path):
    """--max-rows once per corpus sets an uneven mixture; 0 takes them all."""
    import shutil

    from opencwm.data.pipeline import iter_rows
    from opencwm.model.train import corpus_rows

    other = tmp_path / "other"
    shutil.copytree(tiny_corpus, other)
    everything = len(list(iter_rows(other, "train")))
    c = config([str(tiny_corpus), str(other)], tmp_path / "m", max_rows=[3, 0])
    assert len(corpus_rows(c, "train")) == 3 + everything
    bad = config([str(tiny_corpus), str(other)], tmp_path / "bad", max_rows=[3, 4, 5])
    with pytest.raises(ValueError, match="3 row caps for 2 corpora"):
        train(bad)


def test_a_window_cap_keeps_the_start_of_long_traces(tiny_corpus, tmp_path, monkeypatch):
    """With --max-windows 1 a trace longer than the block gives its first
    window only, so long runs stop dominating the packed tokens."""
    from opencwm.model.tokenizer import load_tokenizer
    from opencwm.model.train import corpus_rows, prepare
    from opencwm.model.windows import row_windows

    train(config(tiny_corpus, tmp_path / "tok", steps=1, eval_every=1, save_every=1))
    tok = load_tokenizer(tmp_path / "tok")
    targets = {}
    for name, cap in (("full", None), ("capped", 1)):
        (tmp_path / name).mkdir()
        c = config(tiny_corpus, tmp_path / name, block=96, max_windows=cap)
        targets[name] = int(prepare(c, tok)["train"][1].sum())
    windows = [row_windows(r, tok, c.block + 1) for r in corpus_rows(c, "train")]
    assert max(map(len, windows)) > 1
    first_only = sum(w[0].mask.count(1) for w in windows if w)
    assert targets["capped"] == first_only < targets["full"]
    monkeypatch.setattr("opencwm.model.windows.ENCODE_CHUNK", 3)  # frames encoded lazily
    for row, w in zip(corpus_rows(c, "train"), windows, strict=True):
        assert row_windows(row, tok, c.block + 1) == w
        assert row_windows(row, tok, c.block + 1, max_windows=2) == w[:2]


def test_precision_picks_an_autocast_or_none():
    from opencwm.model.train import autocast_for

    cpu = torch.device("cpu")
    assert autocast_for(cpu, "fp32") is None
    assert autocast_for(cpu, "bf16").fast_dtype == torch.bfloat16
    caps = torch.cpu.get_capabilities()
    has_bf16 = bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    assert (autocast_for(cpu, "auto") is not None) == has_bf16
    with pytest.raises(ValueError, match="unknown precision"):
        autocast_for(cpu, "fp8")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")  # inductor's own imports
def test_compiled_training_saves_a_loadable_model(tiny_corpus, tmp_path):
    """torch.compile compiles the decoder in place: the checkpoint keeps plain names."""
    from transformers import AutoModelForCausalLM

    last = train(config(tiny_corpus, tmp_path / "m", steps=4, save_every=4, compile=True))
    assert last["loss"] == last["loss"]  # not NaN
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert not any("_orig_mod" in k for k in model.state_dict())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--precision", "fp8"], "unknown precision 'fp8'; known: auto, bf16, fp32"),
        (["--max-rows", "1", "--max-rows", "2"], "2 row caps for 1 corpora"),
        (["--time-budget", "soon"], "--time-budget: cannot read the duration 'soon'"),
        (["--time-budget", "0s"], "--time-budget: a time budget must be more than zero"),
        (["--time-budget", "inf"], "--time-budget: a time budget must be more than zero"),
        (["--workers", "0"], "--workers must be at least 1, not 0"),
    ],
)
def test_cli_refuses_bad_settings_in_one_line(tiny_corpus, tmp_path, extra, message):
    """Checked once, in `train`, before anything is written."""
    from typer.testing import CliRunner

    from opencwm.cli import app

    out = tmp_path / "m"
    args = ["train", "--data", str(tiny_corpus), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_durations_read_as_seconds():
    from opencwm.model.budget import parse_duration

    assert [parse_duration(t) for t in ("90s", "45m", "1h30m", "1.5h", "20", "2m30s")] == [
        90, 2700, 5400, 5400, 20, 150
    ]  # fmt: skip
    for bad in ("", "soon", "5d", "0s", "-3", "inf", "nan"):
        with pytest.raises(ValueError, match=r"duration|more than zero"):
            parse_duration(bad)


def test_a_replan_keeps_the_curve_drawn_so_far():
    """Moving the end bends the cosine from where it is: no jump, and the
    last planned step is at the floor."""
    from opencwm.model.budget import Schedule

    s = Schedule(warmup=10, end=99)
    assert s.lr(99, 1.0, 0.1) == pytest.approx(0.1)
    for end in (59, 299):
        r = s.replanned(40, end)
        assert r.lr(40, 1.0, 0.1) == pytest.approx(s.lr(40, 1.0, 0.1))
        assert r.lr(end, 1.0, 0.1) == pytest.approx(0.1)
        rates = [r.lr(k, 1.0, 0.1) for k in range(40, end + 1)]
        assert all(a >= b for a, b in itertools.pairwise(rates))  # still decaying


def test_the_plan_fits_steps_evals_and_saves_in_the_time_left():
    """Measured costs in, the most steps whose steps, evals and saves fit out."""
    from opencwm.model.budget import Budget

    b = Budget(100.0, deadline=100.0, c_warmup=50, eval_every=10, save_every=20, schedule=None)
    for _ in range(4):
        b.costs.step_took(1.0)  # the first two are not timed
    assert not b.needs_costs() and b.propose(4, 5.0) == (None, "")
    b.costs.step_took(1.0)
    assert b.needs_costs()  # three timed steps: time an eval and a save
    b.costs.evals.append(2.0)
    b.costs.saves.append(3.0)
    n = b.fit(step=0, now=0.0)  # 98 s usable (2% slack)
    assert b.costs.cost(0, n, 10, 20) <= 98 < b.costs.cost(0, n + 1, 10, 20)
    assert n == 70  # 70 steps + 7 evals + 4 saves (3 + the last) = 96 s
    total, reason = b.propose(0, 0.0)
    plan = b.apply(0, total, reason, 0.0)
    assert (plan.steps, plan.warmup, plan.reason) == (70, 7, "first")
    b.costs.steps.extend([2.0] * 64)  # the pace halves, seen at a re-plan
    total, reason = b.propose(40, 60.0)
    assert reason == "settle" and total < 70
    assert b.costs.cost(40, total - 40, 10, 20) <= 100 - 60 - 2
    assert b.apply(40, total, reason, 60.0).steps == total
    b.costs.steps.extend([3.0] * 60)  # slower still, between re-plans
    shrunk, reason = b.propose(41, 62.0)
    assert reason == "overrun" and shrunk < total
    assert b.costs.cost(41, shrunk - 41, 10, 20) <= 100 - 62 - 2


@pytest.fixture
def clock(monkeypatch):
    """The trainer's clock, on which an optimizer step takes 50 ms and
    every reading 1 ms: a budgeted run measures, plans and stops the same
    way on any machine, loaded or idle (real time is for benchmarks)."""
    import types

    from opencwm.model import train as trainer

    now = {"s": 1000.0}

    def monotonic() -> float:
        now["s"] += 0.001
        return now["s"]

    step = torch.optim.AdamW.step

    def timed_step(self, *args, **kwargs):
        now["s"] += 0.05
        return step(self, *args, **kwargs)

    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(monotonic=monotonic))
    monkeypatch.setattr(torch.optim.AdamW, "step", timed_step)
    return now


def near_the_floor(lr: float) -> bool:
    """Within the last tenth of the decay from lr 3e-3 to min_lr 2e-4: the
    cosine was planned over the budget (a plan that shrinks at the very
    end, as an overrunning step makes it, stops just short of the floor)."""
    return 2e-4 - 1e-12 <= lr <= 2e-4 + 0.1 * (3e-3 - 2e-4)


def budget_config(data, out, seconds, **kw):
    return config(
        data, out, preset="micro", time_budget=seconds, eval_every=25, save_every=50, **kw
    )


def test_a_budgeted_run_ends_saved_by_its_deadline_at_the_floor(tiny_corpus, tmp_path, clock):
    """A 10 s budget: a loadable checkpoint, saved within the budget, its
    cosine planned over the steps that fit and ending at min_lr."""
    from transformers import AutoModelForCausalLM

    train(config(tiny_corpus, tmp_path / "m", steps=0))  # tokenizer and packing, made once
    budget = 10.0
    start = clock["s"]
    last = train(budget_config(tiny_corpus, tmp_path / "m", budget))
    assert clock["s"] - start <= budget  # the last save was timed: it ended by the deadline
    record = json.loads((tmp_path / "m/train_config.json").read_text())["budget"]
    planned = record["planned_steps"]
    assert last["step"] == planned and planned > 24  # more than --steps: it was not used
    assert record["plans"][0]["reason"] == "first" and record["plans"][0]["step_s"] > 0
    assert near_the_floor(last["lr"]) and "val_loss" in last
    history = [json.loads(line) for line in (tmp_path / "m/history.jsonl").read_text().splitlines()]
    assert [h["plan"]["steps"] for h in history if "plan" in h][-1] == planned
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m").num_parameters() > 0


def test_a_budgeted_run_resumes_into_a_new_budget(tiny_corpus, tmp_path, clock):
    """Killed, then run again with a new budget: it goes on from its last
    checkpoint along the same curve and fits the rest of its cosine into
    the new budget; run again without one, it has no planned steps left."""
    from opencwm.model.budget import Schedule

    out = tmp_path / "m"
    train(config(tiny_corpus, out, steps=0))

    def die_after_step_60(record):
        if record["step"] == 60:
            raise Killed

    with pytest.raises(Killed):
        train(budget_config(tiny_corpus, out, 60.0), die_after_step_60)
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert state["step"] == 50 and state["schedule"]["end"] > 60  # planned for a minute
    before = Schedule(**state["schedule"])
    last = train(budget_config(tiny_corpus, out, 5.0))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    again = [h for h in history if h["step"] > 50]
    assert [h["step"] for h in history] == list(range(1, last["step"] + 1))
    assert again[0]["lr"] == pytest.approx(before.lr(50, 3e-3, 2e-4))  # no jump
    assert next(h["plan"] for h in again if "plan" in h)["reason"] == "resume"
    assert last["step"] < state["schedule"]["end"] and near_the_floor(last["lr"])
    done = train(config(tiny_corpus, out, steps=10_000))
    assert done["step"] == last["step"]


@pytest.mark.parametrize("block, max_windows", [(256, None), (96, 2)])
def test_packing_in_parallel_gives_the_serial_bytes(tiny_corpus, tmp_path, monkeypatch, block,
                                                    max_windows):  # fmt: skip
    """--workers 2 windows the traces in two processes, several tasks each:
    the packed rows are byte for byte those of one process."""
    import numpy as np

    from opencwm.model.tokenizer import load_tokenizer
    from opencwm.model.train import prepare

    train(config(tiny_corpus, tmp_path / "tok", steps=0))
    tok = load_tokenizer(tmp_path / "tok")
    monkeypatch.setattr("opencwm.model.windows.ROWS_PER_TASK", 7)
    packed = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        c = config(tiny_corpus, out, block=block, max_windows=max_windows, workers=workers)
        told: list[tuple] = []
        prepare(c, tok, packing=lambda *update, told=told: told.append(update))
        packed[workers] = dict(np.load(out / "packed.npz"))
        for split in ("train", "val"):  # progress: from 0 to every row, in steps of a task
            done = [d for s, d, total in told if s == split and total == 90]
            assert done[0] == 0 and done[-1] == 90 and done == sorted(done) and len(done) > 2
    assert packed[1].keys() == packed[2].keys() == {"train_ids", "train_mask", "val_ids",
                                                    "val_mask"}  # fmt: skip
    for name, serial in packed[1].items():
        assert serial.dtype == packed[2][name].dtype and serial.shape == packed[2][name].shape
        assert serial.tobytes() == packed[2][name].tobytes()
    assert packed[1]["train_mask"].sum() > 0


def test_a_first_cost_paying_for_compilation_is_not_planned_for():
    from opencwm.model.budget import typical

    assert typical([9.0]) == 9.0
    assert typical([9.0, 1.0, 2.0]) == 1.5
    assert typical([9.0, 1.0, 2.0, 3.0, 4.0]) == 3.0  # the last three


def test_a_plain_run_resumed_with_a_budget_goes_on_from_its_curve(tiny_corpus, tmp_path, clock):
    out = tmp_path / "m"
    plain = config(tiny_corpus, out, preset="micro", steps=200, save_every=10, eval_every=10)

    def die_after_step_12(record):
        if record["step"] == 12:
            raise Killed

    with pytest.raises(Killed):
        train(plain, die_after_step_12)
    last = train(budget_config(tiny_corpus, out, 4.0))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history[10]["lr"] == pytest.approx(lr_at(10, plain))  # step 11: the plain curve
    assert near_the_floor(last["lr"]) and last["step"] > 10


def test_a_budget_spent_before_the_first_step_is_a_clear_error(tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match="ran out before the first step"):
        train(budget_config(tiny_corpus, tmp_path / "m", 0.1))
    assert (tmp_path / "m/packed.npz").exists()  # kept for the next try
