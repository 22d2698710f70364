import math

import pytest
import torch

from opencwm.rl.loss import decoupled_ppo_loss, group_advantages


def test_importance_weights_on_hand_made_logprobs():
    # Two trajectories of two tokens; the second token of each is masked out.
    prox = torch.tensor([[math.log(0.5), 0.0], [math.log(0.2), 0.0]])
    behav = torch.tensor([[math.log(0.25), 0.0], [math.log(0.8), 0.0]])
    logp = prox.clone().requires_grad_(True)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss, stats = decoupled_ppo_loss(logp, prox, behav, adv, mask, clip_eps=0.2, behav_cap=1.5)
    # w = prox / behav: 2.0 (truncated to 1.5) and 0.25; the ratio to prox is 1.
    assert math.isclose(stats.weight_max, 2.0, rel_tol=1e-5)
    assert math.isclose(stats.weight_min, 0.25, rel_tol=1e-5)
    assert stats.truncated_frac == 0.5 and stats.tokens == 2
    assert math.isclose(loss.item(), -(1.5 * 1.0 + 0.25 * -1.0) / 2, rel_tol=1e-5)
    loss.backward()
    # d loss / d logp = -w * A / n on kept tokens, 0 on masked ones.
    assert torch.allclose(logp.grad, torch.tensor([[-0.75, 0.0], [0.125, 0.0]]))


def test_clip_is_against_the_proximal_policy():
    prox = torch.zeros(1, 1)
    logp = torch.full((1, 1), math.log(1.5), requires_grad=True)  # ratio 1.5 > 1 + eps
    loss, stats = decoupled_ppo_loss(logp, prox, prox, torch.tensor([1.0]), torch.ones(1, 1))
    assert stats.clipped_frac == 1.0
    assert math.isclose(loss.item(), -1.2, rel_tol=1e-5)  # clipped at 1 + 0.2
    loss.backward()
    assert logp.grad.abs().sum() == 0  # no gradient past the trust region


def test_group_advantages():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0])
    g = torch.tensor([0, 0, 0, 0, 1, 1])
    plain = group_advantages(r, g, normalize_std=False)
    assert torch.allclose(plain, torch.tensor([0.75, -0.25, -0.25, -0.25, 0.0, 0.0]))
    norm = group_advantages(r, g, normalize_std=True)
    assert torch.allclose(norm[:4], plain[:4] / math.sqrt(0.1875), atol=1e-4)
    assert torch.all(norm[4:] == 0)


def test_sequence_norm_weighs_each_trajectory_the_same():
    """A right answer of 1 token and a wrong one of 3: under `token` the
    wrong one's tokens outnumber it; under `sequence` each trajectory
    weighs 1/2, whatever its length."""
    logp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    adv = torch.tensor([1.0, -1.0])
    token, _ = decoupled_ppo_loss(logp, logp.detach(), logp.detach(), adv, mask, norm="token")
    assert math.isclose(token.item(), -(1 - 3) / 4, rel_tol=1e-6)
    seq, _ = decoupled_ppo_loss(logp, logp.detach(), logp.detach(), adv, mask, norm="sequence")
    assert math.isclose(seq.item(), 0.0, abs_tol=1e-7)
    seq.backward()
    expected = torch.tensor([[-0.5, 0.0, 0.0], [0.5 / 3, 0.5 / 3, 0.5 / 3]])
    assert torch.allclose(logp.grad, expected)


def test_an_unknown_loss_norm_is_refused_by_the_config():
    from opencwm.rl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="loss_norm must be one of token, sequence"):
        load_config(None, ["learner.loss_norm=tokens"])
