"""Fixtures for the imagined world: a micro model that has memorised one
trace, and `opencwm serve` running it in a subprocess.

The model is trained here, in seconds, from one real trace (no download,
no corpus): a 2-layer, 64-wide `CwmForCausalLM` fitted until it repeats
`total(3)` token for token. So greedy decoding on that input reproduces the
real trace exactly, and on any other input it soon diverges or writes
garbage, which is what the backend, rollout and `--compare` tests need.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC, free_port


@pytest.fixture(scope="session")
def torch_one_thread() -> Iterator[None]:
    """Tiny matrices on a shared 2-core machine: one thread is ~5x faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory: pytest.TempPathFactory, torch_one_thread: None) -> Path:
    """A model directory (HF layout) that has memorised the trace of total(3)."""
    import torch
    import torch.nn.functional as F
    from transformers import CwmForCausalLM

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import train_tokenizer
    from opencwm.trace.cwm import to_cwm
    from opencwm.tracer.api import trace_program

    text = to_cwm(trace_program(SRC, ENTRY, MEMORISED))
    tok = train_tokenizer([text] * 4, vocab_size=400)
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
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])  # (1, T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(400):
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
    return out


class Served:
    """`opencwm serve MODEL` in a subprocess, on a free localhost port."""

    def __init__(self, model: Path, log: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(log, "w") as out:  # a file, not a pipe: a full pipe would stall it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opencwm", "serve", str(model), "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def wait_ready(self, timeout_s: float = 120) -> str:
        import httpx

        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.2)
        pytest.fail(f"opencwm serve is not up ({self.proc.poll()}): {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def served(micro_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server process, started but maybe not ready yet (see `server`)."""
    s = Served(micro_model, tmp_path_factory.mktemp("serve") / "log.txt")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def server(served: Served) -> str:
    """The base URL of `opencwm serve MICRO_MODEL`, once it answers /health.
    Tests that run earlier can ask for `served` so its slow start (torch
    import, model load) overlaps their own work."""
    return served.wait_ready()


@pytest.fixture(scope="session")
def local_backend(micro_model: Path):
    """The micro model in this process (KV-cache reuse on)."""
    from opencwm.world.backends import LocalBackend

    return LocalBackend(str(micro_model), device="cpu")
