"""Scripted scores for a real `LocalBackend`: what the world tests share.
A module of its own, since `conftest` is a name every test folder uses."""

from __future__ import annotations

from types import SimpleNamespace


class FixedScores:
    """Stands in for the network inside a real `LocalBackend`, so what is
    tested is the backend's decoding (masks, tries, stops), not how a
    trained model's floating-point scores happen to fall on this machine.

    A token n-gram over a few replies: each reply proposes the token after
    the longest tail of what was generated so far that it contains, scored
    by that tail's length (ties: the earlier reply first); every other
    token scores 0. So greedy decoding writes the first reply unless a
    constraint forbids one of its tokens, and from there follows the reply
    that matches best. It reads the whole sequence on every
    call: use it with `reuse_cache = False`."""

    def __init__(self, config, prompt: list[int], replies: list[list[int]]) -> None:
        self.config, self.prompt, self.replies = config, prompt, replies

    def __call__(self, input_ids, cache, use_cache: bool):
        import torch

        seq = input_ids[0].tolist()
        assert seq[: len(self.prompt)] == self.prompt, "FixedScores is for one prompt"
        done = seq[len(self.prompt) :]
        logits = torch.zeros(1, len(seq), self.config.vocab_size)  # (1, T, V)
        for rank, reply in enumerate(self.replies):
            k, nxt = _continuation(reply, done)
            score = 1 + k + 1 / (2 + rank)
            logits[0, -1, nxt] = max(score, float(logits[0, -1, nxt]))
        return SimpleNamespace(logits=logits, cache=cache)


def _continuation(reply: list[int], done: list[int]) -> tuple[int, int]:
    """(k, the token after the longest tail of `done`, k tokens, in `reply`)."""
    for k in range(min(len(done), len(reply) - 1), 0, -1):
        tail = done[len(done) - k :]
        for i in range(len(reply) - k):
            if reply[i : i + k] == tail:
                return k, reply[i + k]
    return 0, reply[0]
