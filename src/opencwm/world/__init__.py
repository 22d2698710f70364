"""The imagined world: a language model asked for the next frame, again and again."""

from pathlib import Path


def bundled_model() -> Path:
    """`models/cwm-tiny` at the repository root: the default model of
    predict, serve, eval, the debugger and the demo (defined here only)."""
    import opencwm

    return Path(opencwm.__file__).parents[2] / "models" / "cwm-tiny"
