import pytest

from opencwm.rl.config import RLConfig, load_config


def micro_config(tmp_path, *overrides: str) -> RLConfig:
    """A fast run: the micro preset with cwm-tiny's tokenizer, the latency env."""
    return load_config(
        None,
        [
            "model.preset=micro",
            "env.kind=latency",
            "env.latency.median_s=0.01",
            "learner.batch_groups=2",
            "learner.group_size=4",
            "learner.lr=1e-3",
            "sampling.max_tokens=6",
            "sampling.episodes=8",
            "steps=3",
            "checkpoint_every=0",
            f"out={tmp_path / 'run'}",
            *overrides,
        ],
    )


@pytest.fixture
def micro(tmp_path):
    return lambda *o: micro_config(tmp_path, *o)
