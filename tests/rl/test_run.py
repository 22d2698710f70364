"""The whole loop on the session's local Ray instance (tests/conftest.py)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from opencwm.rl.metrics import read
from opencwm.rl.run import run, synchronous_grpo


def _weights(out, step):
    return load_file(str(out / "ckpt" / f"step-{step:06d}" / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return set(a) <= set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_staleness_zero_is_synchronous_grpo_exactly(ray_local, micro, tmp_path):
    cfg = micro("max_staleness=0", "samplers=2", "steps=3", "checkpoint_every=3")
    result = run(cfg)
    assert result["steps"] == 3 and result["staleness_tokens"].keys() == {"0"}
    learner, stats = synchronous_grpo(cfg)
    ours = _weights(tmp_path / "run", 3)
    assert _same(ours, learner.weights())
    lines = [ln for ln in read(tmp_path / "run" / "metrics.jsonl") if "loss" in ln]
    assert [ln["loss"] for ln in lines] == [s["loss"] for s in stats]
    assert [ln["groups"] for ln in lines] == [[0, 1], [2, 3], [4, 5]]


def test_resume_from_a_checkpoint_is_exact(ray_local, micro, tmp_path):
    cfg = micro("max_staleness=0", "steps=4", "checkpoint_every=2")
    run(cfg)
    out = tmp_path / "run"
    final = _weights(out, 4)
    before = read(out / "metrics.jsonl")
    shutil.rmtree(out / "ckpt" / "step-000004")
    result = run(cfg, resume=True)
    assert result["steps"] == 4
    assert _same(_weights(out, 4), final)
    after = read(out / "metrics.jsonl")
    assert [ln["step"] for ln in after] == [0, 1, 2, 3]
    assert [ln["loss"] for ln in after] == [ln["loss"] for ln in before]
    # A checkpoint is also a model directory: `--eval-only` and `from_pretrained` load it.
    from transformers import AutoModelForCausalLM

    ckpt = out / "ckpt" / "step-000004"
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    assert _same(final, model.state_dict())
    assert json.loads((ckpt / "rl_config.json").read_text())["steps"] == 4


def test_a_killed_sampler_is_replaced_and_the_run_goes_on(ray_local, micro, tmp_path):
    import ray

    def kill(k, handles):
        if k == 0:
            ray.kill(handles.samplers[0])

    cfg = micro("max_staleness=2", "samplers=2", "steps=4", "env.latency.median_s=0.05")
    result = run(cfg, on_step=kill)
    assert result["steps"] == 4
    assert result["replaced_samplers"] == [0]


def test_async_loop_records_what_it_promises(ray_local, micro, tmp_path):
    cfg = micro(
        "max_staleness=2",
        "steps=4",
        "env.latency.sigma=1.0",
        "env.latency.median_s=0.05",
        "env.turns=2",
    )
    result = run(cfg)
    out = tmp_path / "run"
    assert (out / "metrics.png").stat().st_size > 10_000
    assert max(int(s) for s in result["staleness_tokens"]) <= 2
    line = read(out / "metrics.jsonl")[-1]
    for key in (
        "reward", "gen_tok_s", "train_tok_s", "learner_idle", "sampler_idle",
        "staleness_tokens", "staleness_trajs", "iw_mean", "iw_max", "queue_depth", "publish_s",
    ):  # fmt: skip
        assert key in line, key
    assert json.loads((out / "config.json").read_text())["max_staleness"] == 2


@pytest.mark.parametrize("transport", ["fs"])
def test_file_transport(ray_local, micro, tmp_path, transport):
    result = run(micro(f"transport={transport}", "steps=2"))
    assert result["steps"] == 2
    assert list((tmp_path / "run" / "weights").glob("v*.safetensors"))
