"""GRPO advantages and the decoupled-PPO loss, as pure tensor functions.

Three policies meet in an asynchronous update (Hilton et al., "Batch size-
invariance for policy optimization", and AReaL):

- the *behaviour* policy produced each token (its log-prob `behav_logp` was
  recorded by the sampler, possibly several versions ago, possibly a
  different version for different tokens of one trajectory);
- the *proximal* policy is the learner's own policy before this step
  (`prox_logp`); the PPO trust region is drawn around it, not around the
  stale behaviour policy, so staleness does not shrink the step;
- the *current* policy `logp` is what the gradient flows through.

loss = -mean_tokens( w * min(r * A, clip(r, 1 - eps, 1 + eps) * A) )
with r = exp(logp - prox_logp) and the behaviour weight
w = min(exp(prox_logp - behav_logp), cap), detached (truncated importance
sampling corrects stale tokens; the cap bounds the variance).

`norm` says what the mean is over. "token" (DAPO): every trained token of
the batch weighs the same, so a long trajectory pulls harder. "sequence"
(GRPO as first written): each trajectory's tokens are averaged, then the
trajectories, so each weighs the same and a long one's tokens weigh less.
With a 0/1 reward on long answers the two move the length of the answers
in opposite directions; docs/rl.md has what each did on output prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from opencwm.rl.config import LOSS_NORMS


def group_advantages(
    rewards: torch.Tensor, group: torch.Tensor, normalize_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO: each reward minus its group's mean, divided by the group's
    std when `normalize_std` (Dr. GRPO argues for leaving it out: it
    up-weights groups that are nearly solved or nearly hopeless).

    rewards: (N,) float; group: (N,) int group ids. Returns (N,).
    """
    adv = torch.zeros_like(rewards)
    for g in group.unique():
        sel = group == g
        r = rewards[sel]
        a = r - r.mean()
        if normalize_std and len(r) > 1:
            a = a / (r.std(unbiased=False) + eps)
        adv[sel] = a
    return adv


@dataclass
class LossStats:
    loss: float
    weight_mean: float
    weight_max: float
    weight_min: float
    truncated_frac: float
    clipped_frac: float
    tokens: int


def decoupled_ppo_loss(
    logp: torch.Tensor,
    prox_logp: torch.Tensor,
    behav_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    behav_cap: float = 2.0,
    norm: str = "token",
) -> tuple[torch.Tensor, LossStats]:
    """The loss over masked tokens. All token tensors (B, T); `advantages`
    (B,) per trajectory, broadcast over its tokens. Returns (loss, stats);
    the stats describe the behaviour importance weights before and after
    truncation."""
    mask = mask.float()
    n = mask.sum().clamp(min=1.0)
    adv = advantages[:, None].expand_as(logp)
    ratio = torch.exp(logp - prox_logp.detach())
    raw_w = torch.exp(prox_logp.detach() - behav_logp.detach())
    w = raw_w.clamp(max=behav_cap)
    surr = torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    per_token = w * surr * mask
    if norm == "token":
        loss = -per_token.sum() / n
    elif norm == "sequence":
        lengths = mask.sum(-1)
        live = lengths > 0
        loss = -(per_token.sum(-1)[live] / lengths[live]).sum() / live.sum().clamp(min=1)
    else:
        raise ValueError(f"unknown loss norm {norm!r}; known: {', '.join(LOSS_NORMS)}")
    on = mask > 0
    sel = raw_w[on] if on.any() else torch.ones(1)
    clipped = ((ratio - 1).abs() > clip_eps)[on].float()
    stats = LossStats(
        loss=float(loss.detach()),
        weight_mean=float(sel.mean()),
        weight_max=float(sel.max()),
        weight_min=float(sel.min()),
        truncated_frac=float((sel > behav_cap).float().mean()),
        clipped_frac=float(clipped.mean()) if clipped.numel() else 0.0,
        tokens=int(on.sum()),
    )
    return loss, stats
