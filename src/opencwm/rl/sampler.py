"""Samplers: many episodes in flight with the current policy.

`Engine` is the whole of a sampler's work without Ray: it keeps episodes,
each one environment and one decoding `Seq`, and `tick()` advances every
episode by one step: an episode whose environment call finished gets its
observation appended; every episode that is generating gets exactly one
token. Environment calls run on their own threads (`env.EnvCall`), so a
slow environment only idles its own episode while the others decode. A
group's members start together once all their resets are back, so their
shared prompt is encoded once and they decode in lockstep (`policy.Batch`:
one forward per token for the group).

Every generated token records its log-prob under the policy that produced
it and that policy's version; each trajectory knows the span of versions
it was generated with. `Sampler.run` is the loop a Ray actor runs: ask the
coordinator for a group (it may refuse: staleness pacing, or a full
queue), pick up newer weights between ticks (the in-flight update), push
finished groups, and account for idle time by cause.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

from opencwm.rl.config import RLConfig
from opencwm.rl.env import EnvCall
from opencwm.rl.policy import Decoder, Seq
from opencwm.rl.tasks import make_env
from opencwm.transition import Transition


@dataclass
class Ticket:
    """Permission to run one group: `group` is its index in the run."""

    group: int
    task: dict
    version: int
    """The published version when it was admitted."""


@dataclass
class Trajectory:
    group: int
    member: int
    task_id: str
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    """1 on tokens the policy generated (trained), 0 on observations."""
    logp: list[float] = field(default_factory=list)
    """Behaviour log-prob per token (0 on observations)."""
    versions: list[int] = field(default_factory=list)
    """Policy version per token (-1 on observations)."""
    reward: float = 0.0
    failed: str = ""
    """Why the environment ended the episode ('' when it ended normally)."""
    info: dict = field(default_factory=dict)
    turns: int = 0

    @property
    def span(self) -> tuple[int, int]:
        v = [x for x in self.versions if x >= 0]
        return (min(v), max(v)) if v else (-1, -1)

    @property
    def generated(self) -> int:
        return sum(self.mask)


@dataclass
class Group:
    ticket: Ticket
    members: list[Trajectory]
    stats: dict = field(default_factory=dict)


@dataclass
class _Episode:
    traj: Trajectory
    env: Any
    gen: torch.Generator
    seq: Seq | None = None
    call: EnvCall | None = None
    turn: list[int] = field(default_factory=list)
    stop_ids: set[int] = field(default_factory=set)


def episode_seed(seed: int, group: int, member: int) -> int:
    return (seed * 1_000_003 + group * 1009 + member) % (2**63)


class Engine:
    def __init__(self, cfg: RLConfig, model: Any, tokenizer: Any, version: int = 0) -> None:
        self.cfg = cfg
        self.tok = tokenizer
        self.decoder = Decoder(model, version)
        self.world = None
        if cfg.env.kind.startswith("imagined-"):
            from opencwm.world.backends import LocalBackend

            self.world = LocalBackend(cfg.env.world_model or cfg.model.path)
        self.episodes: list[_Episode] = []
        self.groups: dict[int, tuple[Ticket, list[Trajectory]]] = {}
        self.stats: Counter = Counter()

    @property
    def version(self) -> int:
        return self.decoder.version

    def active(self) -> int:
        return len(self.episodes)

    def add(self, ticket: Ticket) -> None:
        g = self.cfg.learner.group_size
        self.groups[ticket.group] = (ticket, [])
        for m in range(g):
            task = dict(ticket.task, episode=f"{ticket.group}/{m}")
            traj = Trajectory(ticket.group, m, str(ticket.task.get("id", "")))
            env = make_env(self.cfg.env, self.cfg.seed, self.world)
            gen = torch.Generator().manual_seed(episode_seed(self.cfg.seed, ticket.group, m))
            ep = _Episode(traj, env, gen)
            ep.call = EnvCall(lambda e=env, t=task: e.reset(t), self.cfg.env.timeout_s, "reset")
            self.episodes.append(ep)

    def swap(self, weights: dict, version: int) -> None:
        seqs = [e.seq for e in self.episodes if e.seq is not None]
        self.decoder.swap(weights, version, seqs, self.cfg.sampling.recompute_kv)
        self.stats["swaps"] += 1

    def tick(self) -> bool:
        """One step of every episode; True when a token was decoded."""
        decoding = []
        for ep in list(self.episodes):
            if ep.call is not None:
                out = ep.call.poll()
                if out is not None:
                    self._on_env(ep, *out)
            elif ep.seq is not None:
                decoding.append(ep)
        self._start_groups()
        if decoding:
            self._decode(decoding)
        return bool(decoding)

    def _on_env(self, ep: _Episode, tr: Transition | None, failure: str) -> None:
        assert ep.call is not None
        self.stats["env_s"] += time.monotonic() - ep.call.started
        ep.call = None
        if tr is None:
            ep.traj.failed = failure
            self.stats["env_failures"] += 1
            return self._finish(ep)
        if tr.terminal:
            ep.traj.reward = float(tr.reward)
            ep.traj.info = {k: v for k, v in tr.info.items() if _small(v)}
            return self._finish(ep)
        ids = self.tok(tr.observation, add_special_tokens=False)["input_ids"]
        traj = ep.traj
        traj.ids += ids
        traj.mask += [0] * len(ids)
        traj.logp += [0.0] * len(ids)
        traj.versions += [-1] * len(ids)
        if len(traj.ids) >= self.decoder.context - 1:
            traj.info["ended"] = "context full"
            return self._finish(ep)
        if ep.seq is not None:  # a later turn; the first waits for its group
            self.decoder.extend(ep.seq, ids)
        ep.stop_ids = {self.tok.convert_tokens_to_ids(s) for s in ep.env.stops}
        ep.turn = []

    def _start_groups(self) -> None:
        """Start a group's members together once every reset is back, so
        their shared prompt is encoded once and they decode as one batch."""
        waiting: dict[int, list[_Episode]] = {}
        blocked = set()
        for ep in self.episodes:
            if ep.seq is None:
                if ep.call is None:
                    waiting.setdefault(ep.traj.group, []).append(ep)
                else:
                    blocked.add(ep.traj.group)
        for group, eps in waiting.items():
            if group not in blocked:
                prompts = [e.traj.ids for e in eps]
                seqs = self.decoder.start(prompts, self.cfg.sampling.lockstep)
                for ep, seq in zip(eps, seqs, strict=True):
                    ep.seq = seq

    def _decode(self, episodes: list[_Episode]) -> None:
        """One token for each episode: sampled one by one (each its own
        generator), then appended with one forward pass per batch."""
        steps, ended = [], []
        for ep in episodes:
            assert ep.seq is not None
            tok, logp, version = self.decoder.sample(ep.seq, self.cfg.sampling.temperature, ep.gen)
            traj = ep.traj
            traj.ids.append(tok)
            traj.mask.append(1)
            traj.logp.append(logp)
            traj.versions.append(version)
            ep.turn.append(tok)
            self.stats["tokens"] += 1
            steps.append((ep.seq, tok))
            full = len(traj.ids) >= self.decoder.context - 1
            if tok in ep.stop_ids or len(ep.turn) >= self.cfg.sampling.max_tokens or full:
                ended.append(ep)
        self.decoder.advance(steps)
        for ep in ended:
            assert ep.seq is not None
            self.decoder.leave(ep.seq)
            ep.traj.turns += 1
            action = self.tok.decode(ep.turn, skip_special_tokens=False)
            ep.call = EnvCall(lambda e=ep.env, a=action: e.step(a), self.cfg.env.timeout_s, "step")

    def _finish(self, ep: _Episode) -> None:
        self.episodes.remove(ep)
        try:
            ep.env.close()
        except Exception as exc:  # a failing close is recorded, never raised
            ep.traj.info["close_error"] = f"{type(exc).__name__}: {exc}"[:200]
        self.stats["episodes"] += 1
        self.groups[ep.traj.group][1].append(ep.traj)

    def finished(self) -> list[Group]:
        """Groups whose every member has ended, in group order."""
        done = []
        for g in sorted(self.groups):
            ticket, members = self.groups[g]
            if len(members) == self.cfg.learner.group_size:
                done.append(Group(ticket, sorted(members, key=lambda t: t.member)))
                del self.groups[g]
        return done

    def run_groups(self, tickets: list[Ticket]) -> list[Group]:
        """Run these groups to the end with the current weights (no swaps)."""
        for t in tickets:
            self.add(t)
        out: list[Group] = []
        while self.groups:
            if not self.tick():
                time.sleep(0.001)
            out += self.finished()
        return sorted(out, key=lambda g: g.ticket.group)


def _small(v: object) -> bool:
    return isinstance(v, (int, float, bool, type(None))) or (isinstance(v, str) and len(v) < 200)


class Sampler:
    """The loop of one sampler actor (plain Python: tests run it in-process too).

    `coord` is a coordinator handle (`ray` actor or a local object behind
    `call`); `transport` fetches published weights."""

    def __init__(self, cfg: RLConfig, sampler_id: int, coord: Any, transport: Any) -> None:
        from opencwm.rl.policy import build_model

        self.cfg = cfg
        self.id = sampler_id
        self.coord = coord
        self.transport = transport
        model, tok = build_model(cfg.model, cfg.seed)
        self.engine = Engine(cfg, model, tok, version=-1)
        self.idle: Counter = Counter()

    def _call(self, name: str, *args: object) -> Any:
        from opencwm.rl.coordinator import call

        return call(self.coord, name, *args)

    def _maybe_swap(self, version: int, handle: Any, published_at: float) -> None:
        if version <= self.engine.version:
            return
        t0 = time.monotonic()
        weights = self.transport.fetch(handle)
        self.engine.swap(weights, version)
        self.engine.stats["swap_s"] += time.monotonic() - t0
        self.engine.stats["adopt_lag_s"] += max(0.0, time.time() - published_at)

    def run(self) -> dict:
        """Until the coordinator says stop; returns the final counters."""
        cfg = self.cfg
        last_poll, refused, refused_at = 0.0, "", 0.0
        g = cfg.learner.group_size
        while True:
            now = time.monotonic()
            if now - last_poll >= cfg.sampling.poll_s:
                last_poll = now
                version, handle, at = self._call("latest")
                if version > self.engine.version and (
                    cfg.sampling.inflight_updates or self.engine.active() == 0
                ):
                    self._maybe_swap(version, handle, at)
            # Ask for work while there is room; after a refusal, wait a poll period.
            while (
                self.engine.active() == 0 or self.engine.active() + g <= cfg.sampling.episodes
            ) and (not refused or now - refused_at >= cfg.sampling.poll_s):
                if not cfg.sampling.inflight_updates and self.engine.active():
                    v, _, _ = self._call("latest")
                    if v > self.engine.version:
                        break  # drain first, then swap: no trajectory spans two versions
                answer = self._call("ticket", self.id)
                if answer == "stop":
                    return self._report(final=True)
                if isinstance(answer, str):
                    refused, refused_at = answer, now
                    break
                refused = ""
                ticket, (version, handle, at) = answer
                self._maybe_swap(version, handle, at)
                self.engine.add(ticket)
            t0 = time.monotonic()
            worked = self.engine.tick()
            for group in self.engine.finished():
                group.stats = self._report()
                self._call("push", self.id, group)
            if worked:
                self.idle["busy"] += time.monotonic() - t0
            else:
                time.sleep(0.002)
                cause = "env" if self.engine.active() else (refused or "no_work")
                self.idle[cause] += time.monotonic() - t0

    def _report(self, final: bool = False) -> dict:
        out = {**{f"idle_{k}": v for k, v in self.idle.items()}, **self.engine.stats}
        self.idle.clear()
        self.engine.stats.clear()
        return out
