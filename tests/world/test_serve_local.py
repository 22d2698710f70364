"""`opencwm serve` over a real `LocalBackend` (the micro model), in process:
what only a real tokenizer shows (token counts, cancellation, chat)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from scripted import FixedScores

from opencwm.trace import tokens as T
from opencwm.world.backends import Sampling
from opencwm.world.serve import create_app


class SetAfter(threading.Event):
    """An event that reads as set from its `k`-th look on: the client that
    hangs up after exactly `k` tokens, without a clock."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.looks = k, 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks > self.k or super().is_set()


@pytest.fixture
def client(local_backend) -> TestClient:
    return TestClient(create_app(local_backend, "micro"))


def test_usage_counts_the_tokens_generated_not_the_text_retokenized(micro_model):
    """A model need not write the tokenizer's own merges: a reply spelled a
    byte at a time decodes to text that re-encodes to fewer tokens, and
    usage must count what was generated. The network is scripted
    (`FixedScores`), so the reply does not hang on a model's floats."""
    from opencwm.world.backends import LocalBackend

    backend = LocalBackend(str(micro_model), device="cpu")
    backend.reuse_cache = False
    tok = backend.tokenizer
    spelled = [tok.convert_tokens_to_ids(c) for c in "returned"]
    assert len(tok("returned", add_special_tokens=False)["input_ids"]) < len(spelled)
    prompt = tok("s = ", add_special_tokens=False)["input_ids"]
    backend.model = FixedScores(backend.model.config, prompt, [spelled])
    body = {"prompt": "s = ", "max_tokens": len(spelled), "temperature": 0}
    r = TestClient(create_app(backend, "micro")).post("/v1/completions", json=body).json()
    (choice,) = r["choices"]
    assert choice["text"] == "returned" and choice["finish_reason"] == "length"
    assert r["usage"]["completion_tokens"] == len(spelled) == backend.generated_tokens
    assert backend.count_tokens(choice["text"]) < len(spelled)
    assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + len(spelled)


def test_a_cancelled_generation_stops_at_the_next_token(local_backend):
    for k in (0, 1, 7):
        cancel = SetAfter(k)
        local_backend.complete("a", Sampling(max_tokens=200, constrain=False, cancel=cancel))
        assert local_backend.generated_tokens == k


def test_chat_stop_tokens_end_the_reply(local_backend):
    free = local_backend.complete("a", Sampling(max_tokens=30))
    ids = local_backend.tokenizer(free, add_special_tokens=False)["input_ids"]
    second = local_backend.tokenizer.convert_ids_to_tokens(ids[1])
    if second in (T.FRAME_SEP, T.END_OF_TEXT):
        pytest.skip(f"the model stops at once after 'a': {free!r}")
    cut = local_backend.complete("a", Sampling(max_tokens=30, stop_tokens=(second,)))
    assert local_backend.generated_tokens == 2 and cut == local_backend.tokenizer.decode(ids[:2])


def test_chat_through_the_plain_template(client, local_backend):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    body = {"model": "micro", "messages": messages, "max_tokens": 12, "temperature": 0}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    reply = r.json()
    (choice,) = reply["choices"]
    assert reply["object"] == "chat.completion" and choice["message"]["role"] == "assistant"
    prompt = "<|begin_of_text|>=== system ===\nbe brief\n=== user ===\nhi\n=== assistant ===\n"
    assert reply["usage"]["prompt_tokens"] == local_backend.count_tokens(prompt)
    same = local_backend.complete(prompt, Sampling(max_tokens=12, temperature=0))
    cut = min((same.find(s) for s in ("\n=== ", T.FRAME_SEP, T.END_OF_TEXT) if s in same),
              default=len(same))  # fmt: skip
    assert choice["message"]["content"] == same[:cut]
    assert choice["finish_reason"] == ("stop" if cut < len(same) else "length")


def test_a_model_with_a_chat_template_is_served_with_it(micro_model):
    """facebook/cwm's tokenizer has a chat template; ours do not. With one,
    the template renders the prompt and the model's eos tokens end a reply."""
    from transformers import AutoTokenizer

    from opencwm.world.chat import PLAIN, model_chat

    tok = AutoTokenizer.from_pretrained(str(micro_model))
    assert model_chat(tok, 1) is PLAIN
    tok.chat_template = (
        "{% for m in messages %}<|begin_of_text|>{{ m['role'] }}: {{ m['content'] }}"
        "<|end_of_text|>{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    )
    eos = tok.convert_tokens_to_ids([T.END_OF_TEXT, T.FRAME_SEP])
    chat = model_chat(tok, eos)
    assert chat.stop_tokens == (T.END_OF_TEXT, T.FRAME_SEP) and chat.stops == ()
    prompt = chat.render([{"role": "user", "content": "hi"}])
    assert prompt == "<|begin_of_text|>user: hi<|end_of_text|>assistant:"
