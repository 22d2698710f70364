"""`python -m opencwm.rl.metrics`: a digest of each run, evaluations
compared task by task, and runs plotted side by side."""

import json
import subprocess
import sys


def _run_dir(path, rewards, evals):
    path.mkdir()
    lines = [{"step": 0, "eval_reward": sum(evals[0]) / 3, "eval_rewards": evals[0]}]
    lines += [
        {
            "step": i,
            "loss": 0.0,
            "reward": r,
            "grad_norm": 0.0 if r == 0 else 0.1,
            "tokens_generated": 100 * (i + 1),
            "iw_min": 0.9,
            "iw_max": 1.1,
            "wall_s": 10.0 * (i + 1),
        }
        for i, r in enumerate(rewards)
    ]
    lines.append({"step": len(rewards), "eval_reward": sum(evals[1]) / 3, "eval_rewards": evals[1]})
    (path / "metrics.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    return str(path)


def _metrics(*args):
    done = subprocess.run(
        [sys.executable, "-m", "opencwm.rl.metrics", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_runs_are_digested_and_plotted_side_by_side(tmp_path):
    a = _run_dir(tmp_path / "seed0", [0.0, 0.2, 0.4, 0.6], [[0, 1, 0], [1, 1, 0]])
    b = _run_dir(tmp_path / "seed1", [0.3, 0.2, 0.1, 0.0], [[0, 1, 0], [0, 0, 0]])
    out = tmp_path / "cmp.png"
    printed = _metrics(a, b, "--out", str(out))
    first = json.loads(printed[0].split(" ", 1)[1])
    assert first["up_down_same"] == {"4": [1, 0, 2]}
    assert first["reward"] == [0.3] and first["no_gradient_steps"] == [1]
    assert first["gen_tok_s"] == round(1000 / 40) and first["iw_range"] == [0.9, 1.1]
    assert json.loads(printed[1].split(" ", 1)[1])["up_down_same"] == {"4": [0, 1, 2]}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_eval_only_results_compare_task_by_task(tmp_path):
    def result(name, rewards, tasks=("a", "b", "c")):
        path = tmp_path / f"{name}.json"
        path.write_text(
            json.dumps(
                {"tasks": list(tasks), "eval_reward": sum(rewards) / 3, "eval_rewards": rewards}
            )
        )
        return str(path)

    base, after = result("base", [0, 0.5, 1]), result("after", [0.25, 0.5, 0])
    assert _metrics("--evals", base, after)[1].endswith("0.250 (up 1, down 1, same 1)")
    other = result("other", [0, 0, 0], tasks=("x", "y", "z"))
    done = subprocess.run(
        [sys.executable, "-m", "opencwm.rl.metrics", "--evals", base, other],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "scored other tasks" in done.stderr
