"""`opencwm rl --eval-only`: a policy's held-out score without Ray or training."""

import json

from typer.testing import CliRunner

from opencwm.cli import app


def test_eval_only_scores_the_policy_on_the_held_out_split(tmp_path):
    args = ["rl", "--eval-only", "--out", str(tmp_path / "run")]
    for knob in (
        "model.preset=micro",
        "env.kind=output",
        "env.data=examples/cruxeval_sample.jsonl",
        "env.eval_limit=2",
        "sampling.max_tokens=4",
    ):
        args += ["--set", knob]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert len(out["tasks"]) == len(out["eval_rewards"]) == 2
    assert out["eval_reward"] == sum(out["eval_rewards"]) / 2
    assert out["eval_failed"] == 0
    assert not (tmp_path / "run").exists()  # nothing written
