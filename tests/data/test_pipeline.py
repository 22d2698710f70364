"""The corpus pipeline on small real inputs: shards, splits, dedup, failures, resume."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import write_jsonl

from opencwm.data.pipeline import BuildConfig, BuildError, build, iter_rows, prepare
from opencwm.data.sources import expected_count
from opencwm.data.work import WorkConfig
from opencwm.tracer.api import TraceConfig

FAST = WorkConfig(TraceConfig(timeout_s=2.0, max_frames=500), check_determinism=True)


def config(source, out, **kw):
    return BuildConfig(source=str(source), out=out, work=FAST, chunk_size=8, **kw)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}


def test_build_dedups_splits_by_program_and_writes_manifest(small_jsonl, tmp_path):
    out = tmp_path / "c"
    m = build(config(f"jsonl:{small_jsonl}", out, workers=1, val_fraction=0.2, test_fraction=0.2))
    assert m["items"] == {"enumerated": 41, "duplicates": 1, "traced": 40}
    assert sum(m["splits"].values()) == 40 and m["splits"]["rejected"] == 0
    split_of = {}
    for split in ("train", "val", "test"):
        for row in iter_rows(out, split):
            assert split_of.setdefault(row["program"], split) == split
            assert row["status"] == "returned" and row["cwm"].endswith("<|end_of_text|>")
    assert len(split_of) == 20 and len(set(split_of.values())) == 3
    assert json.loads((out / "manifest.json").read_text()) == m


def test_listing_reports_each_item_as_it_goes(small_jsonl, tmp_path):
    ticks = []
    items, info = prepare(config(f"jsonl:{small_jsonl}", tmp_path / "c"), ticks.append)
    assert ticks == [1] * 41 and info == {"enumerated": 41, "duplicates": 1} and len(items) == 40
    listed = len(prepare(config("halting:7", tmp_path / "h"))[0])
    assert expected_count("halting:7") == listed and expected_count(f"jsonl:{small_jsonl}") is None


def test_same_inputs_give_byte_identical_shards(small_jsonl, tmp_path):
    build(config(f"jsonl:{small_jsonl}", tmp_path / "a", workers=1))
    build(config(f"jsonl:{small_jsonl}", tmp_path / "b", workers=2))
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")


def test_shards_stream_in_index_order_and_roll_over_when_full(small_jsonl, tmp_path):
    """Finalize writes a part at a time: with 7 rows a shard, every split's
    rows still come out whole, in item order, across numbered shards."""
    from opencwm.data.pipeline import finalize, prepare

    c = config(f"jsonl:{small_jsonl}", tmp_path / "c", workers=1, rows_per_shard=7)
    m = build(c)
    for split in ("train", "val", "test"):
        paths = sorted((tmp_path / "c").glob(f"{split}-*-of-*.parquet"))
        n = max(1, -(-m["splits"][split] // 7))
        assert [p.name for p in paths] == [f"{split}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
        assert all(pq.read_metadata(p).num_rows <= 7 for p in paths)
        index = [r["index"] for r in iter_rows(tmp_path / "c", split)]
        assert index == sorted(index) and len(index) == m["splits"][split]
    before = shard_bytes(tmp_path / "c")
    assert finalize(c, prepare(c)[1]) == m and shard_bytes(tmp_path / "c") == before


def test_hostile_items_become_failure_rows(tmp_path):
    rows = [
        {"id": "hang", "code": "def f(x):\n    while True:\n        pass\n", "input": "1"},
        {"id": "crash", "code": "import os\ndef f(x):\n    os._exit(1)\n", "input": "1"},
        {
            "id": "fork",
            "code": "import os\ndef f(x):\n    while True:\n        os.fork()\n",
            "input": "1",
        },
        {
            "id": "print",
            "code": "def f(x):\n    while True:\n        print('x' * 10**6)\n",
            "input": "1",
        },
        {"id": "syntax", "code": "def f(x:\n    return x\n", "input": "1"},
        {"id": "badinput", "code": "def f(x):\n    return x\n", "input": "[1,"},
        {
            "id": "nondet",
            "code": "import time\ndef f(x):\n    return time.time_ns()\n",
            "input": "1",
        },
        {"id": "ok", "code": "def f(x):\n    return x + 1\n", "input": "1"},
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    m = build(config(f"jsonl:{path}", tmp_path / "c", workers=1))
    got = {r["id"]: r for r in iter_rows(tmp_path / "c")}
    assert set(got) == {r["id"] for r in rows}
    assert got["ok"]["status"] == "returned" and got["ok"]["output"] == "2"
    assert got["nondet"]["status"] == "nondeterministic"
    for name in ("hang", "crash", "fork", "print", "syntax", "badinput"):
        # a fork bomb's trace varies with how many forks succeed: rejected either way
        assert got[name]["status"] in ("failed", "truncated", "nondeterministic"), name
        assert got[name]["reason"], name
    assert "syntax error at line 1" in got["syntax"]["reason"]
    assert m["splits"]["rejected"] == 7


def test_a_killed_build_leaves_no_workers_and_resumes_losing_and_duplicating_nothing(tmp_path):
    rows = [
        {
            "id": f"i{k}",
            "code": f"import time\ndef f(x):\n    time.sleep(0.02)\n    return x + {k}\n",
            "input": str(k),
        }
        for k in range(120)
    ]
    path = write_jsonl(tmp_path / "slow.jsonl", rows)
    out = tmp_path / "c"
    cmd = [
        sys.executable,
        "-m",
        "opencwm",
        "data",
        "build",
        "--source",
        f"jsonl:{path}",
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-check-determinism",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    parts = out / ".build" / "parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(parts.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as the OOM killer would
    proc.wait()
    try:
        deadline = time.monotonic() + 15
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _session(proc.pid), "the pool's workers outlived their killed driver"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "manifest.json").exists(), "killed too late to test resume"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ids = [row["id"] for row in iter_rows(out)]
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert all(row["output"] == str(2 * int(row["input"])) for row in iter_rows(out))


def _session(sid: int) -> list[int]:
    """Live processes of session `sid` (the build and the workers it spawned)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, _ppid, _pgrp, session = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        if int(session) == sid and state != "Z":
            pids.append(int(proc.name))
    return pids


def test_resume_refuses_other_settings(small_jsonl, tmp_path):
    build(config(f"jsonl:{small_jsonl}", tmp_path / "c", workers=1))
    with pytest.raises(BuildError, match="other settings"):
        build(config(f"jsonl:{small_jsonl}", tmp_path / "c", workers=1, seed=5))


def test_shards_read_with_pyarrow_duckdb_and_datasets(small_jsonl, tmp_path, monkeypatch):
    out = tmp_path / "c"
    build(config(f"jsonl:{small_jsonl}", out, workers=1))
    n = sum(pq.read_table(p).num_rows for p in out.glob("train-*.parquet"))
    duckdb = pytest.importorskip("duckdb")
    q = f"select count(*) from read_parquet('{out}/train-*.parquet')"
    assert duckdb.sql(q).fetchall()[0][0] == n
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(
        "parquet",
        data_files={"train": str(out / "train-*.parquet")},
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds["train"].num_rows == n and "cwm" in ds["train"].column_names


def test_ray_backend_gives_the_same_shards(small_jsonl, tmp_path, ray_local):
    build(config(f"jsonl:{small_jsonl}", tmp_path / "local", workers=2))
    build(config(f"jsonl:{small_jsonl}", tmp_path / "ray", workers=2, ray=True))
    assert shard_bytes(tmp_path / "local") == shard_bytes(tmp_path / "ray")
