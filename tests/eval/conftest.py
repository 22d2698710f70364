"""Fixtures for evaluation: a corpus of the bundled CRUXEval-format sample
and a micro model for the end-to-end CLI tests (backends: `eval_helpers`).

The micro model is fitted in seconds until it repeats one trace (sample_0,
`'stone'[::-1].upper()`) token for token; on every other program it writes
garbage. So an end-to-end run scores one trace right and the rest wrong,
which exercises both sides of every metric without a trained model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eval_helpers import MEMORISED, SAMPLE

from opencwm.trace.cwm import to_cwm
from opencwm.trace.frame import Trace


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 30 sample problems traced into a corpus (splits by program)."""
    from opencwm.data.pipeline import BuildConfig, build

    out = tmp_path_factory.mktemp("sample-corpus")
    build(BuildConfig(source=f"jsonl:{SAMPLE}", out=out, workers=1))
    return out


@pytest.fixture(scope="session")
def sample_traces(sample_corpus: Path) -> dict[str, Trace]:
    from opencwm.eval.trace_eval import load_cases

    return {
        c.id: c.trace
        for split in ("train", "val", "test")
        for c in load_cases(sample_corpus, split)
    }


@pytest.fixture(scope="session")
def micro_model(
    tmp_path_factory: pytest.TempPathFactory, sample_traces: dict[str, Trace]
) -> Iterator[Path]:
    """A model directory (HF layout) that has memorised the trace of sample_0."""
    import torch

    from opencwm.world.fake import memorised_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices on a shared machine: one thread is faster
    out = memorised_model(
        to_cwm(sample_traces[MEMORISED]), tmp_path_factory.mktemp("micro-cwm"), 300
    )
    torch.set_num_threads(threads)
    yield out
