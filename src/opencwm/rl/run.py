"""The run loop: Ray actors for the coordinator, the learner and the samplers.

    driver ──(step k)──> learner ──take_batch──> coordinator <──ticket/push── samplers
                            └─publish(version, handle)─┘        └─latest─┘ (weights via transport)

The driver asks the learner for one step at a time and, while it waits,
watches the samplers: one that dies is replaced and its groups are issued
again, so the run goes on. After each step it writes a metrics line;
every `checkpoint_every` steps it saves the learner (weights, optimizer,
version) and the coordinator's record of consumed groups, so a resumed run
continues from exactly that state (with S = 0, bit for bit: see
`tests/rl/test_run.py`). `synchronous_grpo` is the same learner and
sampler engine with no actors and no pacing: the reference S = 0 must equal.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opencwm.rl.config import COORDINATOR_CPUS, RLConfig
from opencwm.rl.metrics import plot, read, step_line, summary
from opencwm.rl.tasks import load_tasks, task_for

CKPT = "ckpt"


# --- actors -------------------------------------------------------------------------


class LearnerActor:
    def __init__(self, cfg: RLConfig, resume: str | None = None) -> None:
        from opencwm.rl.learner import Learner
        from opencwm.rl.transport import make_transport

        self.learner = Learner(cfg)
        if resume:
            self.learner.load(resume)
        self.transport = make_transport(cfg.transport, cfg.out)

    def publish(self, coord: Any) -> int:
        from opencwm.rl.coordinator import call

        handle = self.transport.publish(self.learner.version, self.learner.weights())
        call(coord, "publish", self.learner.version, handle)
        return self.learner.version

    def step(self, coord: Any) -> dict:
        from opencwm.rl.learner import serve_step

        return serve_step(self.learner, coord, self.transport)

    def save(self, path: str) -> None:
        self.learner.save(path)

    def weights(self) -> dict:
        return self.learner.weights()


class SamplerActor:
    def __init__(self, cfg: RLConfig, sampler_id: int, coord: Any) -> None:
        from opencwm.rl.sampler import Sampler
        from opencwm.rl.transport import make_transport

        self.sampler = Sampler(cfg, sampler_id, coord, make_transport(cfg.transport, cfg.out))

    def run(self) -> dict:
        return self.sampler.run()


@dataclass
class Handles:
    """What a running `run` holds; `on_step` callbacks get it (tests kill samplers)."""

    coord: Any
    learner: Any
    samplers: dict[int, Any] = field(default_factory=dict)
    futures: dict[int, Any] = field(default_factory=dict)
    replaced: list[int] = field(default_factory=list)


def ensure_ray(cfg: RLConfig) -> bool:
    """Start (or join) Ray unless it is up; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, log_to_driver=False)
    else:
        ray.init(
            num_cpus=cfg.num_cpus,
            include_dashboard=False,
            object_store_memory=cfg.object_store_mb * 1024 * 1024,
            log_to_driver=False,
        )
    return True


def latest_checkpoint(out: str | Path) -> Path | None:
    ckpts = sorted((Path(out) / CKPT).glob("step-*"))
    done = [c for c in ckpts if (c / "coordinator.json").exists()]
    return done[-1] if done else None


def _start_sampler(cfg: RLConfig, h: Handles, sid: int) -> None:
    import ray

    actor = ray.remote(num_cpus=cfg.sampler_cpus, max_restarts=0)(SamplerActor)
    h.samplers[sid] = actor.remote(cfg, sid, h.coord)
    h.futures[sid] = h.samplers[sid].run.remote()


def run(
    cfg: RLConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, Handles], None] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """Train for `cfg.steps` learner steps; returns the run's summary."""
    import ray

    from opencwm.rl.coordinator import Coordinator

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started_ray = ensure_ray(cfg)
    ckpt = latest_checkpoint(out) if resume else None
    consumed: list[int] = []
    start = 0
    metrics_path = out / "metrics.jsonl"
    if ckpt is not None:
        state = json.loads((ckpt / "coordinator.json").read_text())
        consumed, start = state["consumed"], state["version"]
        keep = (
            [ln for ln in read(metrics_path) if ln.get("step", -1) < start]
            if (metrics_path.exists())
            else []
        )
        metrics_path.write_text("".join(json.dumps(ln) + "\n" for ln in keep))
        log(f"resuming from {ckpt} (step {start})")
    elif metrics_path.exists():
        metrics_path.unlink()
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    tasks = load_tasks(cfg.env, cfg.env.split, cfg.env.limit)
    eval_tasks = (
        load_tasks(cfg.env, cfg.env.eval_split, cfg.env.eval_limit) if cfg.eval_every else []
    )
    coord = ray.remote(num_cpus=COORDINATOR_CPUS)(Coordinator).remote(
        tasks,
        seed=cfg.seed,
        batch_groups=cfg.learner.batch_groups,
        max_staleness=cfg.max_staleness,
        queue_groups=cfg.queue_groups,
        consumed=consumed,
        start_version=start,
    )
    learner = ray.remote(num_cpus=cfg.learner.cpus)(LearnerActor).remote(
        cfg, str(ckpt) if ckpt else None
    )
    h = Handles(coord, learner)
    ray.get(learner.publish.remote(coord))
    evaluator = Evaluator(cfg, eval_tasks) if eval_tasks else None
    if evaluator and cfg.eval_before and start == 0:
        _log_eval(metrics_path, 0, evaluator(ray.get(learner.weights.remote())), log)
    for sid in range(cfg.samplers):
        _start_sampler(cfg, h, sid)
    t_start = time.monotonic()
    last = t_start
    try:
        for k in range(start, cfg.steps):
            fut = learner.step.remote(coord)
            while True:
                ready, _ = ray.wait([fut, *h.futures.values()], num_returns=1, timeout=1.0)
                if fut in ready:
                    break
                for sid, f in list(h.futures.items()):
                    if f in ready:
                        _replace(cfg, h, sid, log)
            learner_stats = ray.get(fut)
            now = time.monotonic()
            snap = ray.get(coord.snapshot.remote())
            sampler_stats = ray.get(coord.drain_stats.remote())
            line = step_line(learner_stats, sampler_stats, snap, now - t_start, now - last)
            last = now
            with metrics_path.open("a") as f:
                f.write(json.dumps(line) + "\n")
            log(
                f"step {k}: reward {line['reward']:.3f} loss {line['loss']:+.4f} "
                f"learner idle {line['learner_idle']:.0%} queue {line['queue_depth']}"
            )
            if cfg.checkpoint_every and (k + 1) % cfg.checkpoint_every == 0:
                save_checkpoint(h, out, k + 1, cfg)
            if (
                evaluator
                and cfg.eval_every
                and ((k + 1) % cfg.eval_every == 0 or k + 1 == cfg.steps)
            ):
                _log_eval(metrics_path, k + 1, evaluator(ray.get(learner.weights.remote())), log)
            if on_step is not None:
                on_step(k, h)
    finally:
        ray.get(coord.stop.remote())
        ray.wait(list(h.futures.values()), num_returns=len(h.futures), timeout=30)
        for a in [*h.samplers.values(), learner, coord]:
            ray.kill(a)
        if started_ray:
            ray.shutdown()
    lines = read(metrics_path)
    plot(lines, out / "metrics.png")
    result = {**summary(lines), "replaced_samplers": h.replaced}
    evals = [ln for ln in lines if "eval_reward" in ln]
    if evals:
        result["eval"] = {str(e["step"]): e["eval_reward"] for e in evals}
    return result


def _replace(cfg: RLConfig, h: Handles, sid: int, log: Callable[[str], None]) -> None:
    import ray

    try:
        ray.get(h.futures[sid])
        return  # it finished normally: the run is stopping
    except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
        why = type(exc).__name__
    lost = ray.get(h.coord.sampler_died.remote(sid))
    new = max(h.samplers) + 1
    del h.samplers[sid], h.futures[sid]
    h.replaced.append(sid)
    log(f"sampler {sid} died ({why}); groups {lost} issued again; sampler {new} replaces it")
    _start_sampler(cfg, h, new)


def save_checkpoint(h: Handles, out: Path, step: int, cfg: RLConfig) -> Path:
    import ray

    path = out / CKPT / f"step-{step:06d}"
    ray.get(h.learner.save.remote(str(path)))
    snap = ray.get(h.coord.snapshot.remote())
    consumed = snap["consumed"]  # saved between steps: exactly the groups trained so far
    # config.json is the model's (HF layout: a checkpoint loads as a model)
    (path / "rl_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (path / "coordinator.json").write_text(json.dumps({"consumed": consumed, "version": step}))
    return path


def _log_eval(path: Path, step: int, result: dict, log: Callable[[str], None]) -> None:
    with path.open("a") as f:
        f.write(json.dumps({"step": step, **result}) + "\n")
    failed = f", {result['eval_failed']} failed" if result["eval_failed"] else ""
    log(f"held-out reward at step {step}: {result['eval_reward']:.3f}{failed}")


class Evaluator:
    """Held-out reward of given weights, in-process: one greedy episode per
    task, or `env.eval_samples` sampled ones (averaged per task).

    Per-task rewards are kept (`eval_rewards`, in task order), so two steps
    can be compared task by task; episodes the environment failed count as
    0 and are counted (`eval_failed`)."""

    def __init__(self, cfg: RLConfig, tasks: list[dict]) -> None:
        from opencwm.rl.policy import build_model

        self.cfg = copy.deepcopy(cfg)
        self.cfg.learner.group_size = max(1, cfg.env.eval_samples)
        if not cfg.env.eval_samples:
            self.cfg.sampling.temperature = 0.0
        self.tasks = tasks
        self.model, self.tok = build_model(cfg.model, cfg.seed)

    def __call__(self, weights: dict) -> dict:
        from opencwm.rl.sampler import Engine, Ticket

        self.model.load_state_dict(weights)
        engine = Engine(self.cfg, self.model, self.tok)
        groups = engine.run_groups([Ticket(i, t, 0) for i, t in enumerate(self.tasks)])
        rewards = [sum(m.reward for m in g.members) / len(g.members) for g in groups]
        return {
            "eval_reward": sum(rewards) / max(1, len(rewards)),
            "eval_failed": sum(bool(m.failed) for g in groups for m in g.members),
            "eval_rewards": rewards,
        }


def evaluate(cfg: RLConfig) -> dict:
    """The held-out reward of `cfg.model.path`'s weights, without Ray:
    scores the start or any checkpoint (`OUT/ckpt/step-N`) the way a run's
    `eval_reward` lines do, with the task ids, so runs compare task by task."""
    from opencwm.rl.policy import weights_of

    tasks = load_tasks(cfg.env, cfg.env.eval_split, cfg.env.eval_limit)
    evaluator = Evaluator(cfg, tasks)
    result = evaluator(weights_of(evaluator.model))
    return {"model": cfg.model.path, "tasks": [t.get("id", "") for t in tasks], **result}


def synchronous_grpo(cfg: RLConfig, steps: int | None = None) -> tuple[Any, list[dict]]:
    """The reference: generate batch k with policy k, train, repeat. No actors,
    no queue, no pacing. Returns (the learner, its per-step stats)."""
    from opencwm.rl.learner import Learner
    from opencwm.rl.policy import build_model
    from opencwm.rl.sampler import Engine, Ticket

    tasks = load_tasks(cfg.env, cfg.env.split, cfg.env.limit)
    learner = Learner(cfg)
    model, tok = build_model(cfg.model, cfg.seed)
    engine = Engine(cfg, model, tok)
    B = cfg.learner.batch_groups
    stats = []
    for k in range(steps if steps is not None else cfg.steps):
        engine.swap(learner.weights(), k)
        tickets = [Ticket(g, task_for(tasks, cfg.seed, g), k) for g in range(k * B, (k + 1) * B)]
        stats.append(learner.step(engine.run_groups(tickets)))
    return learner, stats
