"""opencwm: code world models, from execution traces to models that imagine them."""

__version__ = "0.1.0"
