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
    from opencwm.trace.cwm import to_cwm
    from opencwm.tracer.api import trace_program
    from opencwm.world.fake import memorised_model

    text = to_cwm(trace_program(SRC, ENTRY, MEMORISED))
    return memorised_model(text, tmp_path_factory.mktemp("micro-cwm"))


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
