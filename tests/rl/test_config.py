"""The config refuses what a local Ray instance could never schedule."""

import pytest

from opencwm.rl.config import ConfigError, load_config


def test_actors_that_cannot_fit_the_local_instance_are_refused():
    with pytest.raises(ConfigError, match=r"ask for 2\.1 CPUs .* has 2"):
        load_config(None, ["num_cpus=2", "learner.cpus=1", "sampler_cpus=1"])
    ok = load_config(None, ["num_cpus=2", "learner.cpus=1", "sampler_cpus=0.9"])
    assert ok.sampler_cpus == 0.9


def test_a_real_cluster_is_not_second_guessed():
    cfg = load_config(None, ["ray_address=ray://head:10001", "samplers=8", "sampler_cpus=1"])
    assert cfg.samplers == 8
