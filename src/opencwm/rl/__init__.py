"""Asynchronous RL on Ray: samplers and a learner with in-flight weight
updates, off-policy correction, and environments from our own worlds.

See docs/rl.md. The pieces, one file each: `env` (the interface and the
guard), `exec_envs` / `swe_env` / `fakes` (environments), `tasks`,
`policy` (decoding with swappable weights), `sampler`, `coordinator`
(pacing, queue, versions), `learner`, `loss`, `transport`, `metrics`,
`config`, `run`, `cli`.
"""

from opencwm.rl.config import RLConfig, load_config
from opencwm.rl.env import Env
from opencwm.transition import Transition

__all__ = ["Env", "RLConfig", "Transition", "load_config"]
