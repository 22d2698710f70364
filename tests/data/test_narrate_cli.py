"""`data narrate` -> `train` -> `predict --format nl` / `eval nl`, as users run them."""

import json
import subprocess
import sys

import pytest

from opencwm.data.pipeline import BuildConfig, build

PROGRAM = """\
def f(xs):
    out = []
    for x in xs:
        out.append(x + 1)
    return out


# input: "[1, 2]"
"""


def opencwm(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "opencwm", *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.fixture(scope="module")
def narrating_model(tmp_path_factory):
    """A micro model trained 3 steps on a narrated copy of a small corpus."""
    root = tmp_path_factory.mktemp("nl")
    code = (
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x + {k})\n    return out\n"
    )
    rows = [
        {"id": f"p{k}{s}", "code": code.format(k=k), "input": f"[{k}, {s}]", "output": ""}
        for k in range(10)
        for s in (1, 2)
    ]
    src = root / "items.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plain, told, model = root / "plain", root / "told", root / "model"
    build(BuildConfig(source=f"jsonl:{src}", out=plain, workers=1))
    r = opencwm("data", "narrate", "--data", str(plain), "--out", str(told))
    assert "narrated" in r.stdout
    opencwm(
        "train", "--data", str(told), "--out", str(model), "--preset", "micro", "--steps", "3",
        "--block", "256", "--batch-size", "2", "--vocab-size", "400",
    )  # fmt: skip
    return plain, model


def test_predict_knows_the_model_narrates(narrating_model, tmp_path):
    _, model = narrating_model
    assert json.loads((model / "train_config.json").read_text())["formats"] == ["nl"]
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    r = opencwm("predict", str(prog), "--model", str(model), "--format", "nl", "--max-frames", "4")
    # the model's own sentences (the call's first), not a CWM rollout stated in English
    assert r.stdout.startswith("Line 1: ")
    assert "imagined:" in r.stdout and "Tracing " not in r.stdout


def test_eval_nl_writes_a_report_and_a_plot(narrating_model, tmp_path):
    plain, model = narrating_model
    out = tmp_path / "nl.json"
    opencwm(
        "eval", "nl", "--data", str(plain), "--model", str(model), "--split", "val", "--limit", "2",
        "--max-tokens", "24", "--out", str(out),
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["format"] == "opencwm.eval.nl" and report["narrating"]
    assert out.with_suffix(".png").stat().st_size > 0
    parsed = report["teacher_forced"]["valid"]["all"]["value"]  # the parse rate
    assert isinstance(parsed, float) and 0 <= parsed <= 1, parsed
