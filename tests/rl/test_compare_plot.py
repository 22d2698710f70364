"""`python -m opencwm.rl.metrics RUN... --out F.png`: runs side by side."""

import json
import subprocess
import sys


def _run_dir(path, rewards):
    path.mkdir()
    lines = [{"step": 0, "eval_reward": rewards[0]}]
    lines += [
        {"step": i, "loss": 0.0, "reward": r, "tokens_generated": 100 * (i + 1)}
        for i, r in enumerate(rewards)
    ]
    lines.append({"step": len(rewards), "eval_reward": rewards[-1]})
    (path / "metrics.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    return str(path)


def test_runs_are_plotted_side_by_side(tmp_path):
    a = _run_dir(tmp_path / "seed0", [0.1, 0.2, 0.3])
    b = _run_dir(tmp_path / "seed1", [0.3, 0.2, 0.1])
    out = tmp_path / "cmp.png"
    done = subprocess.run(
        [sys.executable, "-m", "opencwm.rl.metrics", a, b, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
