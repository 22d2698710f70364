"""The policy as token-level decoding state, with weights that can change.

A sampler decodes many sequences, one token per sequence per round; each
`Seq` keeps its own KV cache and the logits for its next token, tagged
with the version of the weights that computed them. `Decoder.swap` loads
newer weights *between* decoding steps (never inside a forward pass) and,
by default, re-encodes every prefix with them, so every later token is
exactly on the new policy; `recompute=False` keeps the stale caches (what
some systems do: cheaper, and the tokens' recorded log-probs are then those
of a mix the learner's importance weights must correct).

The learner side is `token_logprobs`: teacher-forced log-probs of a padded
batch in one forward pass, at the same temperature the sampler used (the
policy being optimised is the tempered one).
"""

from __future__ import annotations

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


@dataclass
class Seq:
    ids: list[int]
    cache: Any = None
    logits: torch.Tensor | None = None  # (V,) for the next token
    version: int = 0
    """Version of the weights that computed `logits`."""


class Decoder:
    def __init__(self, model: Any, version: int = 0) -> None:
        self.model = model
        self.version = version
        self.context = int(model.config.max_position_embeddings)

    @torch.no_grad()
    def _forward(self, seq: Seq, new: list[int]) -> None:
        from transformers import DynamicCache

        if seq.cache is None:
            seq.cache = DynamicCache(config=self.model.config)
        x = torch.tensor([new])
        out = self.model(input_ids=x, cache=seq.cache, use_cache=True)
        seq.cache = out.cache
        seq.logits = out.logits[0, -1]
        seq.version = self.version

    def start(self, ids: list[int]) -> Seq:
        seq = Seq(list(ids))
        self._forward(seq, seq.ids)
        return seq

    def extend(self, seq: Seq, new: list[int]) -> None:
        """Append tokens (an observation, or the token just sampled)."""
        if seq.cache is None:  # dropped by a swap: re-encode everything
            seq.ids.extend(new)
            self._forward(seq, seq.ids)
        else:
            seq.ids.extend(new)
            self._forward(seq, new)

    def sample(self, seq: Seq, temperature: float, gen: torch.Generator) -> tuple[int, float, int]:
        """(token, its log-prob under the policy that made the logits, that version);
        the token is appended to `seq`."""
        assert seq.logits is not None, "sample() before start()"
        logits = seq.logits.float()
        if temperature > 0:
            logp = torch.log_softmax(logits / temperature, -1)
            tok = int(torch.multinomial(logp.exp(), 1, generator=gen))
        else:
            logp = torch.log_softmax(logits, -1)
            tok = int(logits.argmax())
        out = (tok, float(logp[tok]), seq.version)
        self.extend(seq, [tok])
        return out

    def swap(self, weights: dict, version: int, seqs: list[Seq], recompute: bool = True) -> None:
        """Load newer weights; with `recompute`, re-encode each live prefix now
        (sequences waiting for an environment are re-encoded when they resume)."""
        self.model.load_state_dict(weights)
        self.version = version
        if recompute:
            for seq in seqs:
                seq.cache = None
                if seq.logits is not None:
                    self._forward(seq, seq.ids)


def token_logprobs(model: Any, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-prob of each next token: ids (B, L) -> (B, L-1), with grad."""
    logits = model(input_ids=ids[:, :-1], use_cache=False).logits.float()  # (B, L-1, V)
    if temperature > 0:
        logits = logits / temperature
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
