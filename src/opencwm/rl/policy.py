"""The policy as token-level decoding state, with weights that can change.

A sampler decodes many sequences, one token per sequence per round; each
`Seq` keeps the logits for its next token, tagged with the version of the
weights that computed them, and its keys and values in the cache of a
`Batch`: sequences of equal length that decode in lockstep (a group's
members, which share their prompt), one forward pass per token for all.
`Decoder.swap` loads newer weights *between* decoding steps (never inside a forward pass) and,
by default, re-encodes every prefix with them, so every later token is
exactly on the new policy; `recompute=False` keeps the stale caches (what
some systems do: cheaper, and the tokens' recorded log-probs are then those
of a mix the learner's importance weights must correct).

The learner side is `token_logprobs`: teacher-forced log-probs of a padded
batch in one forward pass, at the same temperature the sampler used (the
policy being optimised is the tempered one).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from opencwm.rl.config import ModelConfig


def build_model(cfg: ModelConfig, seed: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer): `cfg.path`'s weights, or a fresh `cfg.preset`
    model with its tokenizer (initialised from `seed`, so every actor
    that builds it gets the same weights)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, CwmForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(cfg.path)
    if cfg.preset:
        from opencwm.model.presets import cwm_config

        torch.manual_seed(seed)
        model = CwmForCausalLM(cwm_config(cfg.preset, tokenizer))
    else:
        model = AutoModelForCausalLM.from_pretrained(cfg.path)
    model.eval()
    return model, tokenizer


def weights_of(model: Any) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the weights (what a transport publishes)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass(eq=False)
class Seq:
    ids: list[int]
    logits: torch.Tensor | None = None  # (V,) for the next token
    version: int = 0
    """Version of the weights that computed `logits`."""
    batch: Batch | None = None
    """The lockstep batch whose cache holds this sequence's keys and values
    (set by `Decoder.start`)."""


@dataclass(eq=False)
class Batch:
    """Sequences of equal length decoded together: one forward per token for
    all of them. A group's members share their prompt, so they start as one
    batch and stay in it until their turn ends; that turns a group's n
    forward passes per token into one (the model is small: a forward costs
    about the same for 1 row as for 8)."""

    seqs: list[Seq]
    cache: Any


class Decoder:
    def __init__(self, model: Any, version: int = 0) -> None:
        self.model = model
        self.version = version
        self.context = int(model.config.max_position_embeddings)

    @torch.no_grad()
    def _encode(self, seqs: list[Seq]) -> None:
        """A fresh batch for `seqs` (equal lengths) from their whole ids;
        identical ids are encoded once and repeated."""
        from transformers import DynamicCache

        same = all(s.ids == seqs[0].ids for s in seqs)
        x = torch.tensor([seqs[0].ids] if same else [s.ids for s in seqs])
        out = self.model(input_ids=x, cache=DynamicCache(config=self.model.config), use_cache=True)
        cache = out.cache
        if same and len(seqs) > 1:
            cache.batch_repeat_interleave(len(seqs))
        batch = Batch(list(seqs), cache)
        for i, s in enumerate(seqs):
            s.batch, s.logits, s.version = batch, out.logits[0 if same else i, -1], self.version

    def start(self, prompts: list[list[int]], lockstep: bool = True) -> list[Seq]:
        """One sequence per prompt; equal prompts (a group's) share a batch
        unless `lockstep` is off."""
        seqs = [Seq(list(p)) for p in prompts]
        alike: dict[object, list[Seq]] = {}
        for s in seqs:
            alike.setdefault(tuple(s.ids) if lockstep else id(s), []).append(s)
        for members in alike.values():
            self._encode(members)
        return seqs

    @torch.no_grad()
    def advance(self, steps: list[tuple[Seq, int]]) -> None:
        """Append one token to each sequence: one forward per batch. The
        sequences of a batch advance together or not at all."""
        token = {id(s): t for s, t in steps}
        for batch in {id(s.batch): s.batch for s, _ in steps}.values():
            if any(id(s) not in token for s in batch.seqs):
                raise ValueError("every sequence of a batch must advance together")
            x = torch.tensor([[token[id(s)]] for s in batch.seqs])
            out = self.model(input_ids=x, cache=batch.cache, use_cache=True)
            batch.cache = out.cache
            for i, s in enumerate(batch.seqs):
                s.ids.append(token[id(s)])
                s.logits, s.version = out.logits[i, -1], self.version

    def leave(self, seq: Seq) -> None:
        """Take `seq` out of its batch (its turn ended: the others go on),
        with its own copy of its cache row for a later turn."""
        batch = seq.batch
        if len(batch.seqs) == 1:
            return
        i = batch.seqs.index(seq)
        own = copy.deepcopy(batch.cache)
        own.batch_select_indices(torch.tensor([i]))
        batch.cache.batch_select_indices(
            torch.tensor([j for j in range(len(batch.seqs)) if j != i])
        )
        batch.seqs.pop(i)
        seq.batch = Batch([seq], own)

    @torch.no_grad()
    def extend(self, seq: Seq, new: list[int]) -> None:
        """Append an observation to a sequence that decodes alone."""
        if len(seq.batch.seqs) > 1:
            raise ValueError("extend() on a sequence still in a batch; leave() it first")
        seq.ids.extend(new)
        out = self.model(input_ids=torch.tensor([new]), cache=seq.batch.cache, use_cache=True)
        seq.batch.cache = out.cache
        seq.logits, seq.version = out.logits[0, -1], self.version

    def sample(self, seq: Seq, temperature: float, gen: torch.Generator) -> tuple[int, float, int]:
        """(token, its log-prob under the policy that made the logits, that
        version). Nothing is appended: `advance` does that, batch by batch."""
        assert seq.logits is not None, "sample() before start()"
        logits = seq.logits.float()
        if temperature > 0:
            logp = torch.log_softmax(logits / temperature, -1)
            tok = int(torch.multinomial(logp.exp(), 1, generator=gen))
        else:
            logp = torch.log_softmax(logits, -1)
            tok = int(logits.argmax())
        return tok, float(logp[tok]), seq.version

    def swap(self, weights: dict, version: int, seqs: list[Seq], recompute: bool = True) -> None:
        """Load newer weights; with `recompute`, re-encode every batch of
        `seqs` now (those waiting for an environment too)."""
        self.model.load_state_dict(weights)
        self.version = version
        if recompute:
            for batch in {id(s.batch): s.batch for s in seqs}.values():
                self._encode(batch.seqs)


def token_logprobs(model: Any, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-prob of each next token: ids (B, L) -> (B, L-1), with grad."""
    logits = model(input_ids=ids[:, :-1], use_cache=False).logits.float()  # (B, L-1, V)
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
