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
    import torch.nn.functional as F
    from transformers import CwmForCausalLM
    from transformers.utils import logging as hf_logging

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import train_tokenizer

    hf_logging.disable_progress_bar()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices on a shared machine: one thread is faster
    texts = [to_cwm(t) for t in sample_traces.values()]
    tok = train_tokenizer(texts, vocab_size=400)
    config = cwm_config("tiny", tok)
    for key, value in dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=128,
        max_position_embeddings=1024,
        sliding_window=1024,
    ).items():
        setattr(config, key, value)
    config.layer_types = config.layer_types[:2]
    torch.manual_seed(0)
    model = CwmForCausalLM(config)
    text = to_cwm(sample_traces[MEMORISED])
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])  # (1, T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(300):
        logits = model(input_ids=ids[:, :-1], use_cache=False).logits  # (1, T-1, V)
        loss = F.cross_entropy(logits.flatten(0, 1), ids[0, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.01:
            break
    assert loss.item() < 0.05, f"the micro model did not memorise its trace: loss {loss.item()}"
    out = tmp_path_factory.mktemp("micro-cwm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    torch.set_num_threads(threads)
    yield out
