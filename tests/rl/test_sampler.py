import time

import pytest
import torch

from opencwm.rl.policy import build_model, weights_of
from opencwm.rl.sampler import Engine, Ticket


def _engine(cfg):
    model, tok = build_model(cfg.model, cfg.seed)
    return Engine(cfg, model, tok), model


def _other_weights(model):
    w = weights_of(model)
    return {k: v + 0.05 * torch.randn_like(v) for k, v in w.items()}


@pytest.mark.parametrize("recompute", [True, False])
def test_swap_mid_episode_changes_the_version_of_later_tokens_only(micro, recompute):
    cfg = micro(
        "learner.group_size=1",
        "sampling.max_tokens=12",
        "env.latency.median_s=0",
        f"sampling.recompute_kv={recompute}",
    )
    engine, model = _engine(cfg)
    engine.add(Ticket(0, {"id": "t"}, 0))
    while engine.stats["tokens"] < 5:  # reset lands, then five tokens
        engine.tick()
        time.sleep(0.001)
    engine.swap(_other_weights(model), 1)
    (group,) = engine.run_groups([])
    traj = group.members[0]
    gen = [v for v, m in zip(traj.versions, traj.mask, strict=True) if m]
    assert len(gen) == 12
    if recompute:
        assert gen == [0] * 5 + [1] * 7
    else:  # the 6th token's logits were computed before the swap
        assert gen == [0] * 6 + [1] * 6
    assert traj.span == (0, 1)
    assert all(v == -1 for v, m in zip(traj.versions, traj.mask, strict=True) if not m)


def test_recomputed_logprobs_are_the_new_policys(micro):
    """After a swap with recompute, the next token's log-prob equals what a
    model loaded with the new weights from the start assigns to it."""
    from opencwm.rl.policy import token_logprobs

    cfg = micro("learner.group_size=1", "sampling.max_tokens=8", "env.latency.median_s=0")
    engine, model = _engine(cfg)
    new = _other_weights(model)
    engine.add(Ticket(0, {"id": "t"}, 0))
    while engine.stats["tokens"] < 3:
        engine.tick()
    engine.swap(new, 1)
    (group,) = engine.run_groups([])
    traj = group.members[0]
    fresh, _ = build_model(cfg.model, cfg.seed)
    fresh.load_state_dict(new)
    with torch.no_grad():
        ref = token_logprobs(fresh, torch.tensor([traj.ids]), cfg.sampling.temperature)[0]
    for i, (v, lp) in enumerate(zip(traj.versions, traj.logp, strict=True)):
        if v == 1:
            assert abs(lp - float(ref[i - 1])) < 1e-4


@pytest.mark.parametrize("kind,reason", [("hang", "timeout: step"), ("crash", "crash: step")])
def test_a_failing_environment_ends_its_episode_not_the_run(micro, kind, reason):
    cfg = micro(f"env.kind={kind}", "env.timeout_s=0.5", "learner.group_size=2")
    engine, _ = _engine(cfg)
    start = time.monotonic()
    groups = engine.run_groups([Ticket(0, {"id": "a"}, 0), Ticket(1, {"id": "b"}, 0)])
    assert time.monotonic() - start < 20
    members = [t for g in groups for t in g.members]
    assert len(members) == 4
    assert all(t.failed.startswith(reason) for t in members), [t.failed for t in members]
    assert engine.stats["env_failures"] == 4
    # The learner leaves failed episodes out of the loss rather than stopping.
    from opencwm.rl.learner import Learner

    out = Learner(cfg).step(groups)
    assert out["env_failures"] == 4 and out["tokens_trained"] == 0


def test_groups_are_deterministic(micro):
    cfg = micro("sampling.max_tokens=8")
    a, _ = _engine(cfg)
    b, _ = _engine(cfg)
    tickets = [Ticket(g, {"id": f"t{g}"}, 0) for g in range(2)]
    ga = a.run_groups(tickets)
    gb = b.run_groups(list(reversed(tickets)))
    assert [t.ids for g in ga for t in g.members] == [t.ids for g in gb for t in g.members]


@pytest.mark.parametrize("kind", ["latency", "crash"])
def test_the_evaluator_keeps_each_tasks_greedy_reward_and_counts_failures(micro, kind):
    from opencwm.rl.run import Evaluator

    cfg = micro(f"env.kind={kind}", "env.timeout_s=5", "sampling.temperature=1.0")
    tasks = [{"id": f"t{i}"} for i in range(3)]
    evaluator = Evaluator(cfg, tasks)
    first = evaluator(weights_of(evaluator.model))
    assert len(first["eval_rewards"]) == 3
    assert first["eval_reward"] == pytest.approx(sum(first["eval_rewards"]) / 3)
    assert first["eval_failed"] == (3 if kind == "crash" else 0)
    if kind == "latency":  # greedy: the same weights give the same rewards
        assert evaluator(weights_of(evaluator.model)) == first
        assert 0 < first["eval_reward"] <= 1


def test_a_sampled_evaluation_averages_its_episodes_and_repeats_exactly(micro):
    from opencwm.rl.run import Evaluator

    cfg = micro("env.eval_samples=3", "sampling.temperature=1.0")
    evaluator = Evaluator(cfg, [{"id": "a"}, {"id": "b"}])
    first = evaluator(weights_of(evaluator.model))
    assert len(first["eval_rewards"]) == 2
    assert evaluator(weights_of(evaluator.model)) == first  # the same seeds every time
    greedy = Evaluator(micro(), [{"id": "a"}, {"id": "b"}])
    assert greedy(weights_of(greedy.model)) != first


def test_a_groups_members_decode_as_one_batch_with_their_own_logprobs(micro):
    """One forward per token for the whole group, yet each member's recorded
    log-probs are what the learner computes for its own sequence."""
    from opencwm.rl.policy import token_logprobs

    cfg = micro("learner.group_size=4", "sampling.max_tokens=10", "env.latency.median_s=0")
    engine, model = _engine(cfg)
    forwards = 0
    inner = model.forward

    def counted(*args, **kwargs):
        nonlocal forwards
        forwards += 1
        return inner(*args, **kwargs)

    model.forward = counted
    (group,) = engine.run_groups([Ticket(0, {"id": "t"}, 0)])
    assert engine.stats["tokens"] == 40 and forwards == 1 + 10  # the prompt once, then per token
    model.forward = inner
    for traj in group.members:
        with torch.no_grad():
            ref = token_logprobs(model, torch.tensor([traj.ids]), cfg.sampling.temperature)[0]
        for i, (m, lp) in enumerate(zip(traj.mask, traj.logp, strict=True)):
            if m:
                assert abs(lp - float(ref[i - 1])) < 1e-4
    assert len({tuple(t.ids) for t in group.members}) > 1  # sampled apart
