"""The learner: batches of groups in, one optimizer step, weights out.

`Learner.step(groups, k)` turns a batch into padded tensors, computes GRPO
advantages over each group (episodes an environment failure ended are
left out of both the advantages and the loss: their reward says nothing
about the policy), the decoupled-PPO loss (`loss.py`) against the learner's
own pre-step policy with truncated behaviour weights, and takes one AdamW
step. It also measures what the run is about: how stale the trained
tokens were (per token and per trajectory), and the importance weights.
`serve_step` is what the actor runs: wait for batch `k` (timing the
wait as idle), step, publish.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from opencwm.rl.config import RLConfig
from opencwm.rl.loss import decoupled_ppo_loss, group_advantages
from opencwm.rl.policy import build_model, token_logprobs, weights_of
from opencwm.rl.sampler import Group


class Learner:
    def __init__(self, cfg: RLConfig) -> None:
        self.cfg = cfg
        self.model, self.tokenizer = build_model(cfg.model, cfg.seed)
        self.model.train()
        lc = cfg.learner
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=lc.lr, weight_decay=lc.weight_decay, betas=(0.9, 0.95)
        )
        self.version = 0
        self.pad = self.tokenizer.pad_token_id or 0

    def weights(self) -> dict[str, torch.Tensor]:
        return weights_of(self.model)

    def step(self, groups: list[Group]) -> dict:
        """One optimizer step on `groups` (batch number `self.version`)."""
        k = self.version
        lc = self.cfg.learner
        trajs = [t for g in groups for t in g.members]
        ok = [not t.failed for t in trajs]
        rewards = torch.tensor([t.reward for t in trajs], dtype=torch.float32)
        gids = torch.tensor([t.group for t in trajs])
        keep = torch.tensor(ok)
        adv = torch.zeros(len(trajs))
        if keep.any():
            adv[keep] = group_advantages(rewards[keep], gids[keep], lc.normalize_std)
        L = max(2, *(len(t.ids) for t in trajs))
        ids = torch.full((len(trajs), L), self.pad, dtype=torch.long)
        mask = torch.zeros(len(trajs), L - 1)
        behav = torch.zeros(len(trajs), L - 1)
        for i, t in enumerate(trajs):
            n = len(t.ids)
            if n < 2:  # the environment failed before the first observation
                continue
            ids[i, :n] = torch.tensor(t.ids)
            if ok[i]:
                mask[i, : n - 1] = torch.tensor(t.mask[1:], dtype=torch.float32)
            behav[i, : n - 1] = torch.tensor(t.logp[1:])
        t0 = time.monotonic()
        logp = token_logprobs(self.model, ids, self.cfg.sampling.temperature)  # (B, L-1)
        # One step per batch: the proximal (pre-step) policy is these very weights.
        loss, stats = decoupled_ppo_loss(
            logp, logp.detach(), behav, adv, mask, lc.clip_eps, lc.behav_cap, lc.loss_norm
        )
        self.opt.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), lc.grad_clip)
        self.opt.step()
        self.version += 1
        tok_stale: Counter = Counter()
        traj_stale: Counter = Counter()
        for t in trajs:
            tok_stale.update(k - v for v in t.versions if v >= 0)
            traj_stale[k - t.span[0]] += 1
        return {
            "step": k,
            "loss": stats.loss,
            "grad_norm": float(grad_norm),
            "reward": float(rewards[keep].mean()) if keep.any() else 0.0,
            "env_failures": len(trajs) - int(keep.sum()),
            "failure_reasons": dict(Counter(t.failed[:80] for t in trajs if t.failed)),
            "tokens_trained": stats.tokens,
            "tokens_in_batch": int(sum(len(t.ids) for t in trajs)),
            "iw_mean": stats.weight_mean,
            "iw_max": stats.weight_max,
            "iw_min": stats.weight_min,
            "iw_truncated": stats.truncated_frac,
            "clipped": stats.clipped_frac,
            "staleness_tokens": {str(s): n for s, n in sorted(tok_stale.items())},
            "staleness_trajs": {str(s): n for s, n in sorted(traj_stale.items())},
            "groups": [g.ticket.group for g in groups],
            "compute_s": round(time.monotonic() - t0, 4),
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        torch.save({"opt": self.opt.state_dict(), "version": self.version}, path / "learner.pt")

    def load(self, path: str | Path) -> None:
        from safetensors.torch import load_file

        path = Path(path)
        state = load_file(str(path / "model.safetensors"))
        missing, _ = self.model.load_state_dict(state, strict=False)
        assert all("lm_head" in m for m in missing), f"checkpoint lacks {missing}"
        self.model.tie_weights()
        extra = torch.load(path / "learner.pt", weights_only=False)
        self.opt.load_state_dict(extra["opt"])
        self.version = int(extra["version"])


def serve_step(learner: Learner, coord: Any, transport: Any, poll_s: float = 0.005) -> dict:
    """Wait for the next batch, train on it, publish: the learner actor's step."""
    from opencwm.rl.coordinator import call

    k = learner.version
    t0 = time.monotonic()
    while (batch := call(coord, "take_batch", k)) is None:
        time.sleep(poll_s)
    idle = time.monotonic() - t0
    t1 = time.monotonic()
    out = learner.step(batch)
    train_s = time.monotonic() - t1
    t2 = time.monotonic()
    handle = transport.publish(learner.version, learner.weights())
    call(coord, "publish", learner.version, handle)
    publish_s = time.monotonic() - t2
    return {**out, "idle_s": idle, "train_s": train_s, "publish_s": publish_s}
