"""Every knob of an RL run, each default defined here and nowhere else.

A run is described by one YAML file whose sections mirror these
dataclasses; `--set section.knob=value` overrides any of them from the
command line (values are parsed as YAML, so `--set learner.lr=3e-5` is a
float). Unknown keys are errors that list the known ones. The resolved
config is written beside every checkpoint, so a run says what it was.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelConfig:
    path: str = "models/cwm-tiny"
    """An HF model directory: the starting policy (and its tokenizer)."""
    preset: str | None = None
    """Set (e.g. "micro") to start from a freshly initialised model of that
    size with `path`'s tokenizer instead of `path`'s weights: fast tests."""
    threads: int = 1
    """torch threads per actor: one sequence at a time gains little from more."""


@dataclass
class LatencyConfig:
    """Simulated environment latency (sleeps, so it costs no CPU)."""

    dist: str = "lognormal"  # lognormal | constant
    median_s: float = 0.0
    sigma: float = 0.0
    """Spread of log-latency: 0 is constant, 1.5 is heavy-tailed."""


@dataclass
class EnvConfig:
    kind: str = "output"
    """output | trace | swe | latency, or imagined-output / imagined-trace."""
    data: str = "examples/cruxeval_sample.jsonl"
    """A corpus directory (Parquet) or a CRUXEval-format JSONL file."""
    split: str = "train"
    eval_split: str = "test"
    limit: int | None = None
    eval_limit: int = 32
    eval_samples: int = 0
    """Held-out episodes per task: 0 is one greedy episode; N > 0 is N at the
    sampling temperature (the policy RL optimises), averaged, with the same
    seeds at every evaluation so two steps differ only by the weights."""
    max_frames: int = 40
    """Corpus rows with more frames are skipped (trace env: the answer must fit)."""
    max_code_chars: int = 600
    answer: str = "direct"
    """output env: `direct` (the policy writes the return frame) or `trace`
    (it writes the whole execution; its return value is the answer)."""
    timeout_s: float = 30.0
    """Every reset/step runs under this wall-clock limit."""
    turns: int = 1
    """latency env: policy turns per episode."""
    prompt_chars: int = 0
    """latency env: filler text in the first observation (a long prompt costs
    the learner a forward and backward pass, the sampler one forward)."""
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    world_model: str | None = None
    """imagined envs: the world model directory (default: the policy's start)."""
    measure_real: bool = True
    """imagined envs: also run the real execution, to measure agreement and cost."""
    swe_tasks: str = "data/swe/tasks.jsonl"
    swe_repos: str = "data/swe/repos"


@dataclass
class SamplingConfig:
    temperature: float = 1.0
    max_tokens: int = 48
    """Per turn."""
    episodes: int = 16
    """Episodes each sampler keeps in flight at once."""
    recompute_kv: bool = True
    """On an in-flight weight swap, re-encode each prefix with the new
    weights; False keeps the stale cache (cheaper, slightly off-policy)."""
    inflight_updates: bool = True
    """False: a trajectory finishes with the weights it started with."""
    poll_s: float = 0.02
    """How often a sampler asks whether newer weights exist."""
    lockstep: bool = True
    """Decode a group's members as one batch (one forward per token for the
    group); False: one forward per sequence (the baseline of
    benchmarks/rl_sampler.py)."""


@dataclass
class LearnerConfig:
    lr: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    batch_groups: int = 4
    group_size: int = 8
    normalize_std: bool = True
    clip_eps: float = 0.2
    behav_cap: float = 2.0
    """Truncation of the behaviour importance weight."""
    loss_norm: str = "token"
    """token: the mean over every trained token of the batch (DAPO);
    sequence: over each trajectory's tokens, then over trajectories (GRPO)."""
    cpus: float = 0.5


@dataclass
class RLConfig:
    out: str = "runs/rl"
    seed: int = 0
    steps: int = 50
    samplers: int = 1
    sampler_cpus: float = 0.5
    max_staleness: int = 4
    """S: no token is trained more than S versions after the policy that
    made it. 0 is synchronous on-policy GRPO, exactly."""
    queue_groups: int = 16
    """Finished groups waiting for the learner, at most."""
    transport: str = "ray"  # ray | fs
    checkpoint_every: int = 10
    eval_every: int = 0
    """Held-out evaluation every N steps (and at the start and end); 0: never."""
    eval_before: bool = True
    ray_address: str | None = None
    object_store_mb: int = 256
    num_cpus: int | None = None
    """For a local Ray instance (default: all cores)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A config file or override that does not fit `RLConfig`; one line."""


def _build(cls: type, data: dict, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown key {where + key!r}; known: {', '.join(sorted(fields))}")
        sub = _nested(fields[key])
        kwargs[key] = _build(sub, value, f"{where}{key}.") if sub else _coerce(fields[key], value)
    return cls(**kwargs)


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """YAML reads `1e-5` as a string (it wants `1.0e-5`): make numbers numbers."""
    kind = str(f.type).split(" | ")[0]
    if value is None or kind not in ("float", "int"):
        return value
    try:
        return float(value) if kind == "float" else int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name} must be a number, got {value!r}") from None


def _nested(f: dataclasses.Field) -> type | None:
    for cls in (ModelConfig, EnvConfig, SamplingConfig, LearnerConfig, LatencyConfig):
        if f.type in (cls, cls.__name__):
            return cls
    return None


COORDINATOR_CPUS = 0.1


def from_dict(data: dict) -> RLConfig:
    cfg = _build(RLConfig, data, "")
    _check_cpus(cfg)
    _check_choices(cfg)
    return cfg


LOSS_NORMS = ("token", "sequence")


def _check_choices(cfg: RLConfig) -> None:
    """Choices a Ray actor would otherwise reject only when it first uses them."""
    if cfg.learner.loss_norm not in LOSS_NORMS:
        raise ConfigError(
            f"learner.loss_norm must be one of {', '.join(LOSS_NORMS)}, "
            f"got {cfg.learner.loss_norm!r}"
        )


def _check_cpus(cfg: RLConfig) -> None:
    """Actors that ask for more CPUs than a local Ray instance has are never
    scheduled, and the run would wait for them for ever without a word."""
    if cfg.ray_address:  # a real cluster may have more, or autoscale
        return
    have = cfg.num_cpus or os.cpu_count() or 1
    need = COORDINATOR_CPUS + cfg.learner.cpus + cfg.samplers * cfg.sampler_cpus
    if need > have + 1e-9:
        raise ConfigError(
            f"the actors ask for {need:g} CPUs (learner {cfg.learner.cpus:g}, "
            f"{cfg.samplers} sampler(s) x {cfg.sampler_cpus:g}, coordinator "
            f"{COORDINATOR_CPUS:g}) but the local Ray instance has {have:g}; "
            "lower learner.cpus or sampler_cpus, or raise num_cpus"
        )


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`a.b=value` strings applied to a nested dict (values parsed as YAML)."""
    import yaml

    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. learner.lr=1e-5)")
        node = data
        *path, last = key.strip().split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(text)
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RLConfig:
    """The YAML file (or the defaults) with `overrides` applied, checked."""
    import yaml

    data: dict = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return from_dict(apply_overrides(data, list(overrides)))
