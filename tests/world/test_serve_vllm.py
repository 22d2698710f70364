"""The micro model under a real vLLM (docs/serving.md), constrained through
`structured_outputs`. Slow, and skipped where vllm is not installed: vLLM
pins its own torch, so it lives in an environment of its own, named by
`OPENCWM_VLLM_PYTHON` (e.g. /opt/vllm/bin/python, as docs/serving.md sets
it up), or in this one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from micro_cwm import ENTRY, MEMORISED, SRC, free_port

from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import Sampling, connect
from opencwm.world.rollout import RolloutConfig, rollout


@pytest.mark.slow
def test_a_constrained_rollout_through_vllm(tmp_path):
    python = os.environ.get("OPENCWM_VLLM_PYTHON")
    if not python:
        pytest.importorskip("vllm")
        python = sys.executable
    from opencwm.trace.cwm import to_cwm
    from opencwm.world.fake import memorised_model

    # the micro model with 32-wide heads: vLLM's CPU attention takes no 16-wide ones
    text = to_cwm(trace_program(SRC, ENTRY, MEMORISED))
    micro_model = memorised_model(
        text, tmp_path / "model", num_attention_heads=2, num_key_value_heads=1, head_dim=32
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_OMP_THREADS_BIND": "0-1"}
    log = tmp_path / "vllm.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [python, "-m", "vllm.entrypoints.openai.api_server", "--model",
             str(micro_model), "--port", str(port), "--max-model-len", "1024",
             "--dtype", "float32", "--gpu-memory-utilization", "0.2"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail(f"vllm did not start: {log.read_text()[-2000:]}")
        endpoint = connect(url)
        assert endpoint.structured  # not opencwm serve: constraints go in the request

        real = trace_program(SRC, ENTRY, MEMORISED)
        prompt = prompt_text(real.source) + frame_text(real.frames[0], None)
        prompt += frame_text(real.frames[1], real.frames[0]).split("<|action_sep|>")[0]
        choices = ["    return s\n", "    s += i\n"]  # not the line the model learnt here
        text, _ = endpoint.request(
            prompt + "<|action_sep|>", Sampling(temperature=0), 50, extra={
                "structured_outputs": {"choice": choices}})  # fmt: skip
        assert text.removesuffix("<|end_of_text|>") in choices  # vLLM ends a grammar with EOS

        config = RolloutConfig(max_frames=25, sampling=Sampling(max_tokens=96))
        trace, _ = rollout(SRC, ENTRY, MEMORISED, endpoint, config)  # a warning would fail
        assert trace.frames == real.frames and not endpoint.refused
    finally:
        proc.terminate()
        proc.wait(30)
