"""The plain-code corpus: filters, dedup, decontamination, shards, training on it."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opencwm.data.code_corpus import CodeConfig, CodeError, _parse, build_code, pieces
from opencwm.data.items import Item, program_key
from opencwm.data.pipeline import iter_rows
from opencwm.data.rows import SCHEMA
from opencwm.trace import tokens as T

HELPER = '''def has_close_elements(numbers, threshold):
    """Any two numbers closer than threshold?"""
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
'''


def module(k: int) -> str:
    """A distinct, parseable module of a few functions."""
    return "".join(
        f"def f{k}_{j}(x):\n    # step {j}\n    return x * {k} + {j}\n\n\n" for j in range(5)
    )


@pytest.fixture
def tree(tmp_path):
    """A folder of .py files: 30 good modules, one copy of the first with other
    comments, one that does not parse, one not UTF-8, one too large, one holding
    a test program's function, one generated."""
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for k in range(30):
        (root / "pkg" / f"m{k}.py").write_text(module(k))
    (root / "pkg" / "copy.py").write_text("# a copy\n" + module(0).replace("# step", "# s"))
    (root / "pkg" / "broken.py").write_text("def f(:\n    pass\n")
    (root / "pkg" / "latin.py").write_bytes(b"x = '\xe9'\n")
    (root / "pkg" / "big.py").write_text("x = 1\n" * 40_000)
    (root / "pkg" / "leak.py").write_text(
        "import math\n\n\n" + HELPER.replace("Any two", "Are any two") + "\n\nY = 2\n"
    )
    (root / "pkg" / "gen_pb2.py").write_text("X = 1\n")
    (root / "pkg" / "tests").mkdir()
    (root / "pkg" / "tests" / "test_m.py").write_text("def test_x():\n    pass\n")
    return root


@pytest.fixture
def test_corpus(tmp_path):
    """A corpus whose test split holds HELPER as a traced program."""
    corpus = tmp_path / "humaneval"
    corpus.mkdir()
    row = {name: None for name in SCHEMA.names}
    head = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START
    row.update(
        index=0,
        id="HumanEval/0/0",
        source="humaneval",
        program="0" * 16,
        code=HELPER,
        entry="has_close_elements",
        input="[1.0, 2.0], 0.5",
        cwm=head + HELPER + T.FRAME_SEP,
        frames="[]",
        n_frames=0,
        status="returned",
        reason="",
    )
    pq.write_table(
        pa.Table.from_pylist([row], schema=SCHEMA), corpus / "test-00000-of-00001.parquet"
    )
    (corpus / "manifest.json").write_text("{}")
    return corpus


def build(tree, out, **kw):
    return build_code(CodeConfig(out=out, sources=[f"sdists:{tree}"], **kw))


def test_filters_and_dedup_are_counted(tree, tmp_path):
    m = build(tree, tmp_path / "code")
    assert m["files"]["dropped"] == {
        "duplicate": 1,
        "does not parse": 1,
        "not utf-8": 1,
        "too large": 1,
        "generated": 1,
    }
    assert m["files"]["kept"] == 31  # 30 modules and the leak: no decontamination asked
    assert sum(m["files_per_split"].values()) == 31
    ids = {r["id"] for r in iter_rows(tmp_path / "code")}
    assert not any("tests/" in i for i in ids)  # test folders are not walked


def test_decontamination_drops_a_file_holding_a_test_program(tree, test_corpus, tmp_path):
    m = build(tree, tmp_path / "code", decontam=[test_corpus])
    assert m["files"]["dropped"]["contaminated"] == 1
    assert m["decontam"]["dropped"] == [
        {"id": "sdists:pkg/leak.py", "why": "holds has_close_elements"}
    ]
    assert all("leak" not in r["id"] for r in iter_rows(tmp_path / "code"))


def test_a_decontam_folder_that_is_no_corpus_is_refused(tree, tmp_path):
    with pytest.raises(CodeError, match="not a built corpus"):
        build(tree, tmp_path / "code", decontam=[tmp_path])


def test_shards_have_the_corpus_schema_and_split_by_file(tree, tmp_path):
    out = tmp_path / "code"
    build(tree, out, chunk_chars=100)
    rows = list(iter_rows(out))
    assert pq.read_schema(next(out.glob("train-*.parquet"))) == SCHEMA
    assert {r["source"] for r in rows} == {"code"} and {r["n_frames"] for r in rows} == {0}
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(r["id"].split("#")[0], []).append(r)
    for file, parts in by_file.items():
        text = "".join(r["code"] for r in sorted(parts, key=lambda r: r["index"]))
        assert parts[0]["program"] == program_key(Item("x", "code", text, None))
        assert len({r["program"] for r in parts}) == 1  # one file, one split
        assert all(r["cwm"].startswith(T.BEGIN_OF_TEXT) for r in parts)
        assert sum(r["cwm"].endswith(T.END_OF_TEXT) for r in parts) == 1, file
    assert max(len(parts) for parts in by_file.values()) > 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(manifest["splits"].values()) == len(rows)


def test_pieces_cut_between_statements_and_join_to_the_file():
    text = "import os\n\n# about f\n@dec\ndef f():\n    return 1\n\n\nclass C:\n    x = 1\n"
    parts = pieces(text, _parse(text), 20)
    assert "".join(parts) == text
    assert parts[1].startswith("\n# about f\n@dec\ndef f")


def test_a_micro_model_trains_on_every_code_token(tree, tmp_path):
    from opencwm.model.tokenizer import load_tokenizer, special_ids
    from opencwm.model.train import TrainConfig, prepare, train

    build(tree, tmp_path / "code", chunk_chars=200)
    c = TrainConfig(
        data=str(tmp_path / "code"),
        out=str(tmp_path / "m"),
        preset="micro",
        steps=3,
        batch_size=2,
        block=64,
        warmup=1,
        eval_every=3,
        save_every=3,
        vocab_size=400,
        loss_on_all=True,
    )
    last = train(c)
    assert last["loss"] == pytest.approx(last["loss"])  # not NaN
    tok = load_tokenizer(tmp_path / "m")
    special_ids(tok)  # a tokenizer trained on code keeps every special token whole
    ids, mask = prepare(c, tok)["train"]
    pad = tok.convert_tokens_to_ids("<|pad|>")
    real = ids != pad
    assert mask[real].mean() > 0.9  # all but each window's first token


def test_staging_keeps_code_rows_whole(tree, tmp_path):
    from opencwm.model.stage import stage

    build(tree, tmp_path / "code")
    stage(tmp_path / "code", tmp_path / "staged")
    full = {r["id"]: r for r in iter_rows(tmp_path / "code", "train")}
    slim = list(iter_rows(tmp_path / "staged", "train"))
    assert len(slim) == len(full)
    assert all(r["cwm"] == full[r["id"]]["cwm"] and r["code"] is None for r in slim)
