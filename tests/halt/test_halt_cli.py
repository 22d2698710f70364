"""`opencwm halt` and `opencwm eval halt` as users run them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from halt_helpers import CYCLE, run

from opencwm.halt.calibrate import FEATURES, Calibration


def opencwm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "opencwm", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def cycle_file(tmp_path: Path) -> Path:
    path = tmp_path / "cycle.py"
    path.write_text(CYCLE + '# input: "5"\n')
    return path


def test_halt_by_execution_on_a_halting_and_a_looping_example(cycle_file: Path):
    r = opencwm("halt", str(cycle_file), "--entry", "f", "--input", "6", "--predictor", "execute")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        "execution (2 s budget): halts (p_halts 1.00) — returned 6 after 9 frames"
    )
    r = opencwm("halt", str(cycle_file), "--entry", "f", "--predictor", "execute")  # # input: 5
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        "execution (2 s budget): loops (p_halts 0.00) — proven: state at line 3 (f) repeats "
        "every 8 frames: {n: 5, i: 0} → {n: 5, i: 3}"
    )


def test_a_program_that_grows_forever_is_unknown_within_the_budget(tmp_path: Path):
    path = tmp_path / "grow.py"
    path.write_text("def f(s):\n    while len(s) > 0:\n        s = s + 'a'\n")
    r = opencwm("halt", str(path), "--entry", "f", "--input", "'x'", "--predictor", "execute",
                "--timeout", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "execution (1 s budget): unknown (p_halts 0.50) — no end and no exact repeat" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "does not exist"),
        (["BAD", "--predictor", "execute"], "syntax"),
        (["CYCLE", "--entry", "g", "--input", "1", "--predictor", "execute"], "g"),
        (["CYCLE", "--entry", "f", "--input", "1, 2", "--predictor", "execute"], "does not fit"),
        (["CYCLE", "--predictor", "oracle"], "unknown predictor"),
        (["CYCLE", "--model", "/nonexistent", "--predictor", "world"], "not a model directory"),
        (["CYCLE", "--calibration", "CYCLE", "--predictor", "world"], "calibration"),
    ],
)
def test_halt_errors_are_one_line(args: list[str], message: str, tmp_path: Path, cycle_file: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    swap = {"BAD": str(bad), "CYCLE": str(cycle_file)}
    r = opencwm("halt", *[swap.get(a, a) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert message.lower() in r.stderr.lower()


def test_eval_halt_errors_are_one_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    for text, message in [
        ('{"code": "def f(): pass", "input": ""}\n', "missing label"),
        ('{"code": "x", "input": "", "label": "maybe"}\n', "not 'halts' or 'loops'"),
        ("not json\n", "not JSON"),
        ("\n", "no cases"),
    ]:
        bad.write_text(text)
        r = opencwm("eval", "halt", "--data", str(bad))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert message in r.stderr
    r = opencwm("eval", "halt", "--data", str(tmp_path))
    assert r.returncode == 2 and "not a built corpus" in r.stderr


@pytest.fixture(scope="module")
def loop_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro model that has memorised the first 12 frames of f(5)."""
    import torch

    from opencwm.trace.cwm import to_cwm
    from opencwm.world.fake import memorised_model

    torch.set_num_threads(1)
    text = to_cwm(run(CYCLE, "f", "5", frames=12))
    return memorised_model(text, tmp_path_factory.mktemp("loop-cwm"))


@pytest.mark.slow
def test_halt_with_a_model_that_imagines_the_cycle(tmp_path: Path, loop_model: Path):
    path = tmp_path / "cycle.py"
    path.write_text(CYCLE)  # the very context the model memorised
    r = opencwm("halt", str(path), "--entry", "f", "--input", "5", "--model", str(loop_model))
    assert r.returncode == 0, r.stderr
    world, execution = r.stdout.strip().splitlines()
    assert world.startswith(
        "world model: loops (p_halts 0.10) — imagined state at line 3 (f) repeats every 8 frames"
    )
    assert execution.startswith("execution (2 s budget): loops (p_halts 0.00) — proven")


@pytest.mark.slow
def test_eval_halt_on_a_jsonl_file(tmp_path: Path, loop_model: Path):
    data = tmp_path / "halteval.jsonl"
    lines = [
        {"id": "a", "code": CYCLE, "entry": "f", "input": "5", "label": "loops"},
        {"id": "b", "code": CYCLE, "entry": "f", "input": "6", "label": "halts"},
        {"code": CYCLE, "entry": "f", "input": "3", "label": "halts", "pattern": "p"},
    ]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    calib = tmp_path / "calib.json"
    Calibration([0.0] * len(FEATURES), 0.0, "hand", 0).save(calib)
    out = tmp_path / "report.json"
    r = opencwm("eval", "halt", "--data", str(data), "--model", str(loop_model),
                "--calibration", str(calib), "--out", str(out), timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["n"] == 3 and last["balanced_accuracy"]["execute"] == 1.0
    assert last["balanced_accuracy"]["constant"] == 0.5
    report = json.loads(out.read_text())
    assert report["format"] == "opencwm.eval.halt" and out.with_suffix(".png").stat().st_size > 0
    world = {item["id"]: item["world"] for item in report["items"]}
    assert world["a"]["label"] == "loops"  # the memorised cycle
    assert report["by_pattern"]["p"]["execute"]["accuracy"] == 1.0
