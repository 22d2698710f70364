"""Decontamination: a program in any test split is trained on from no corpus."""

import json
import shutil

import numpy as np
import pytest

from opencwm.data.decontam import Decontam, context_source, held_out_programs, row_programs
from opencwm.data.items import Item, program_key, split_of
from opencwm.data.pipeline import BuildConfig, build, iter_rows
from opencwm.data.work import WorkConfig
from opencwm.tracer.api import TraceConfig


def program(k: int, layout: str = "") -> str:
    """Program `k`; any `layout` writes the same program another way."""
    if layout:
        return f"def f(x):\n    # {layout}\n    y = x+{k}\n\n    return y*2\n"
    return f"def f(x):\n    y = x + {k}\n    return y * 2\n"


def corpus(root, name, seed, programs, inputs, test_fraction, layout=""):
    src = root / f"{name}.jsonl"
    rows = [
        {"id": f"{name}{k}_{i}", "code": program(k, layout), "input": str(i)}
        for k in programs
        for i in inputs
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / name
    build(
        BuildConfig(
            source=f"jsonl:{src}",
            out=out,
            seed=seed,
            workers=1,
            val_fraction=0.0,
            test_fraction=test_fraction,
            work=WorkConfig(TraceConfig(timeout_s=2), check_determinism=False),
        )
    )
    return out


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory):
    """A (seed 0) holds programs 0-7 with half the programs for test; B
    (seed 1) the same programs written another way, run on other inputs,
    and two of its own, all in train: A's test programs are B's training."""
    root = tmp_path_factory.mktemp("decontam")
    a = corpus(root, "a", 0, range(8), (1, 2), test_fraction=0.5)
    b = corpus(root, "b", 1, range(10), (3, 4), test_fraction=0.0, layout="another way")
    for shard in [*a.glob("train-*.parquet"), *b.glob("train-*.parquet")]:
        shutil.copy(shard, shard.with_name(shard.name.replace("train", "val")))
    return a, b


def in_a_test(k: int) -> bool:
    return split_of(program_key(Item("", "", program(k), "f")), 0.0, 0.5) == "test"


def test_corpora_built_apart_share_programs_across_splits(two_corpora):
    """The premise: B trains on programs that are A's test programs."""
    a, b = two_corpora
    assert 0 < sum(map(in_a_test, range(8))) < 8
    a_test = {r["program"] for r in iter_rows(a, "test")}
    b_train = {r["program"] for r in iter_rows(b, "train")}
    assert a_test and a_test <= b_train
    assert not a_test & {r["program"] for r in iter_rows(a, "train")}  # one corpus is clean


def test_the_trainer_drops_every_training_row_of_a_test_program(two_corpora, tmp_path):
    """Through `opencwm train`: it says what it dropped per corpus, records
    it, and packs exactly the rows that are left."""
    from typer.testing import CliRunner

    from opencwm.cli import app
    from opencwm.model.tokenizer import PAD, load_tokenizer
    from opencwm.model.train import TrainConfig, corpus_rows
    from opencwm.model.windows import pack, row_windows

    a, b = two_corpora
    out = tmp_path / "m"
    args = ["train", "--data", str(a), "--data", str(b), "--out", str(out), "--preset", "micro"]
    args += ["--steps", "2", "--block", "256", "--batch-size", "4", "--vocab-size", "512"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    dropped_b = 2 * sum(map(in_a_test, range(8)))  # two inputs a program
    assert f"0 of 10 from {a}" in result.output
    assert f"{dropped_b} of 20 from {b}" in result.output
    record = json.loads((out / "train_config.json").read_text())["decontam"]
    assert record["corpora"] == {
        str(a): {"read": 10, "dropped": 0},
        str(b): {"read": 20, "dropped": dropped_b},
    }

    test = held_out_programs([a, b])
    c = TrainConfig(data=[str(a), str(b)], out=str(out), block=256)
    kept = corpus_rows(c, "train", clean=Decontam(test))
    assert len(kept) == 30 - dropped_b
    assert not any(row_programs(r) & test for r in kept)
    tok = load_tokenizer(out)
    seqs = [w for r in kept for w in row_windows(r, tok, c.block + 1)]
    ids, _ = pack(seqs, c.block, tok.convert_tokens_to_ids(PAD))
    assert np.array_equal(np.load(out / "packed.npz")["train_ids"], ids)


def test_a_program_is_known_by_its_context_too():
    """A row whose `code` column is keyed otherwise is still caught by the
    source its trace shows the model."""
    ctx = "def f(x):  # << START_OF_TRACE\n    y = x + 1\n    return y * 2\n"
    cwm = f"<|begin_of_text|><|trace_context_start|>{ctx}<|frame_sep|><|call_sep|>"
    assert context_source(cwm) == program(1)
    row = {"program": "0" * 16, "code": "import os\n" + program(1), "cwm": cwm}
    keep = Decontam({program_key(Item("", "", program(1), "f"))})
    assert not keep.keep(row, "x") and keep.report()["corpora"] == {"x": {"read": 1, "dropped": 1}}


def test_a_slimmed_row_is_known_by_its_context():
    """Corpora staged for a GPU slot keep only `id`, `cwm` and `frames`."""
    cwm = f"<|begin_of_text|><|trace_context_start|>{program(2, 'slim')}<|frame_sep|>"
    slim = {"id": "s", "cwm": cwm, "frames": "[]"}
    assert Decontam(set()).keep(slim, "s")
    assert not Decontam({program_key(Item("", "", program(2), "f"))}).keep(slim, "s")
