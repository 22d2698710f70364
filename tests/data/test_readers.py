"""Readers no one here wrote (DuckDB, HF `datasets`) on a built corpus: the
snippets of docs/data.md run as written, and no split is an empty file."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from opencwm.data.pipeline import BuildConfig, build, iter_rows
from opencwm.data.work import WorkConfig
from opencwm.tracer.api import TraceConfig

DOC = Path(__file__).parents[2] / "docs" / "data.md"
FAST = WorkConfig(TraceConfig(timeout_s=2.0, max_frames=200), check_determinism=False)

pytest.importorskip("duckdb")
pytest.importorskip("datasets")


def _items(failures: bool) -> list[dict]:
    codes = {f"p{k}": f"def f(x):\n    y = x * {k}\n    return [y, y + 1]\n" for k in range(8)}
    if failures:
        codes["bad"] = "def f(x):\n    return x +\n"
        codes["loop"] = "def f(x):\n    while True:\n        x += 1\n"
    return [{"id": name, "code": code, "input": "3"} for name, code in codes.items()]


def _config(tmp: Path, failures: bool) -> BuildConfig:
    src = tmp / "items.jsonl"
    src.write_text("".join(json.dumps(row) + "\n" for row in _items(failures)))
    config = BuildConfig(
        source=f"jsonl:{src}",
        out=tmp / "corpus",
        workers=1,
        chunk_size=16,
        val_fraction=0.25,
        test_fraction=0.25,
        work=FAST,
    )
    return config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Has rows in every split, rejected included."""
    config = _config(tmp_path_factory.mktemp("readers"), failures=True)
    return config.out, build(config)


def _run_python(code: str, cwd: Path, tmp: Path) -> dict:
    """Code in a fresh interpreter (its `datasets` cache in tmp, offline);
    the JSON-able names it defines come back."""
    code += (
        "\nimport json as _j\nprint(_j.dumps({k: v for k, v in dict(globals()).items()"
        " if k in _WANT}, default=str))"
    )
    env = {**os.environ, "HF_HOME": str(tmp / "hf"), "HF_DATASETS_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _doc_snippets(heading: str) -> str:
    """The ```python blocks under one `## heading` of docs/data.md."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no python block under '## {heading}' in {DOC}"
    return "\n".join(blocks)


def test_duckdb_snippets_of_the_doc_read_the_corpus(corpus, tmp_path):
    out, manifest = corpus
    code = "_WANT = {'counts', 'events', 'reasons'}\n" + _doc_snippets("DuckDB")
    got = _run_python(code, out.parent, tmp_path)

    per_split: dict[str, int] = {}
    for split, _status, n in got["counts"]:
        per_split[split] = per_split.get(split, 0) + n
    assert per_split == {s: n for s, n in manifest["splits"].items() if n}

    events: dict[str, int] = {}
    for row in iter_rows(out, "train"):
        for frame in json.loads(row["frames"]):
            events[frame["event"]] = events.get(frame["event"], 0) + 1
    assert {e: n for e, n in got["events"]} == events and events["call"] >= 1

    assert [(i, s) for i, s, _ in got["reasons"]] == [("bad", "failed"), ("loop", "truncated")]
    assert "syntax error" in got["reasons"][0][2]


def test_datasets_snippet_of_the_doc_loads_every_split(corpus, tmp_path):
    out, manifest = corpus
    code = (
        "_WANT = {'sizes', 'first_frame', 'n_rejected'}\n"
        + _doc_snippets("Hugging Face `datasets`")
        + "\nsizes = {name: split.num_rows for name, split in ds.items()}"
        + "\nn_rejected = rejected['rejected'].num_rows\n"
    )
    got = _run_python(code, out.parent, tmp_path)
    splits = manifest["splits"]
    assert got["sizes"] == {
        "train": splits["train"],
        "validation": splits["val"],
        "test": splits["test"],
    }
    assert got["n_rejected"] == splits["rejected"] == 2
    assert got["first_frame"]["event"] == "call" and got["first_frame"]["line"] == 1


def test_a_build_without_failures_writes_no_empty_shard(tmp_path):
    """`datasets` refuses a 0-row split ("corresponds to no data"), so a
    build must not leave one; every shard present loads by name."""
    config = _config(tmp_path, failures=False)
    out, manifest = config.out, build(config)
    assert manifest["splits"]["rejected"] == 0
    assert not list(out.glob("rejected-*"))
    shards = sorted(out.glob("*-of-*.parquet"))
    assert shards and all(pq.read_metadata(p).num_rows > 0 for p in shards)
    names = sorted({p.name.split("-")[0] for p in shards})
    files = {n: f"corpus/{n}-*.parquet" for n in names}
    code = (
        "_WANT = {'sizes'}\nfrom datasets import load_dataset\n"
        f"ds = load_dataset('parquet', data_files={files!r})\n"
        "sizes = {name: split.num_rows for name, split in ds.items()}\n"
    )
    got = _run_python(code, out.parent, tmp_path)
    assert got["sizes"] == {n: manifest["splits"][n] for n in names}

    # finalize removes shards it did not write: an empty split left by an
    # older build (or an older opencwm) does not linger after a rebuild
    from opencwm.data.pipeline import finalize, prepare

    stale = out / "rejected-00000-of-00001.parquet"
    pq.write_table(pq.read_table(shards[0]).slice(0, 0), stale)
    assert finalize(config, prepare(config)[1]) == manifest
    assert not stale.exists()
