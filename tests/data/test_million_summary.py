"""scripts/corpus_summary.py on a tiny corpus in parts: counts, tokens,
timings of killed and resumed attempts, and the lost/duplicated check."""

import importlib.util
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from opencwm.data.pipeline import BuildConfig, build
from opencwm.data.work import WorkConfig
from opencwm.tracer.api import TraceConfig

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("corpus_summary", ROOT / "scripts/corpus_summary.py")
corpus_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus_summary)

FAST = WorkConfig(TraceConfig(timeout_s=2.0, max_frames=500), check_determinism=True)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Two parts holding the same 20 synthetic runs, and the recipe's timings."""
    out = tmp_path_factory.mktemp("million")
    for name in ("synthetic-a", "synthetic-b"):
        build(BuildConfig(source="synthetic:20", out=out / name, work=FAST, chunk_size=8))
    (out / "timings.tsv").write_text(
        "part\twall_s\tpeak_rss_kib\tuser_s\tsys_s\texit\n"
        "Command terminated by signal 9\n"
        "synthetic-a\t3.0\t2097152\t1.0\t0.5\t0\n"  # killed, then resumed:
        "synthetic-a\t1.0\t1048576\t0.5\t0.0\t0\n"
        "synthetic-b\t2.0\t1048576\t1.0\t0.0\t0\n"
    )
    return out


def test_counts_tokens_and_timings(parts):
    s = corpus_summary.summarise(parts, cores=2, sample=0)
    a, b = s["parts"]
    assert (a["part"], a["traced"], a["rows"], a["distinct_ids"], a["ok"]) == (
        "synthetic-a",
        20,
        20,
        20,
        True,
    )
    assert a["tokens_exact"] and a["tokens"] > a["traced"]
    assert (a["wall_s"], a["attempts"], a["peak_rss_kib"], a["cpu_s"]) == (4.0, 2, 2097152, 2.0)
    assert a["traces_per_s"] == 5.0 and a["tokens_per_s_per_core"] == round(a["tokens"] / 8)
    t = s["total"]
    assert (t["traced"], t["wall_s"], t["attempts"], t["ok"]) == (40, 6.0, 3, True)
    assert t["tokens"] == a["tokens"] + b["tokens"] and a["tokens"] == b["tokens"]
    assert t["runs_in_several_parts"] == 20  # the same runs in both parts, counted once each
    assert a["corpus_bytes"] > 0 and a["build_bytes"] > 0


def test_sampled_tokens_are_an_estimate_near_the_exact_count(parts):
    exact = corpus_summary.summarise(parts, cores=2, sample=0)["parts"][0]["tokens"]
    est = corpus_summary.summarise(parts, cores=2, sample=5)["parts"][0]
    assert not est["tokens_exact"]
    assert 0.5 * exact < est["tokens"] < 2 * exact


def test_a_lost_row_fails_the_check_and_the_exit_status(parts, tmp_path, capsys):
    import shutil

    out = tmp_path / "c"
    shutil.copytree(parts / "synthetic-a", out / "synthetic-a")
    shard = next((out / "synthetic-a").glob("train-*.parquet"))
    t = pq.read_table(shard)
    pq.write_table(t.slice(1), shard)
    assert corpus_summary.main([str(out), "--cores", "2"]) == 1
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    assert "LOST/DUP" in lines[1]
    summary = json.loads(lines[-1])
    assert summary["parts"][0]["rows"] == 19 and not summary["total"]["ok"]
