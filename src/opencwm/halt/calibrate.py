"""From a rollout to a probability of halting: features and a logistic fit.

A world model that neither finishes nor repeats within its budget still
leaves a trail: how far it got before writing nonsense, whether its states
keep growing, whether it kept revisiting lines. `features` reads only the
imagined frames (never the program or the label), and `fit` learns the
weights on a corpus's *train* split, so the score on the test split is
held out. Plain logistic regression in numpy (no scikit-learn here),
L2-regularised, fitted by Newton steps: a dozen features, hundreds of
rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from opencwm.trace.frame import Frame

FEATURES = (
    "ended",
    "repeated",
    "frames_used",
    "gave_up",
    "invalid_rate",
    "distinct_states",
    "revisits",
    "growth",
    "max_depth",
    "returns",
)
VERSION = 1


def features(frames: list[Frame], ended: bool, invalid: int, budget: int) -> dict[str, float]:
    """What the imagined execution looked like, each in [0, 1]-ish."""
    from opencwm.halt.repeat import find_repeat

    n = max(len(frames), 1)
    states = [(f.line, tuple(sorted(f.locals.items()))) for f in frames]
    lines = [f.line for f in frames if f.event == "line"]
    sizes = [sum(len(k) + len(v) for k, v in f.locals.items()) for f in frames]
    growth = (sizes[-1] - sizes[0]) / (50.0 * n) if len(sizes) > 1 else 0.0
    return {
        "ended": float(ended),
        "repeated": float(find_repeat(frames, proof=False) is not None),
        "frames_used": len(frames) / max(budget, 1),
        "gave_up": float(not ended and invalid > 0 and len(frames) < budget),
        "invalid_rate": invalid / (invalid + n),
        "distinct_states": len(set(states)) / n,
        "revisits": 1.0 - len(set(lines)) / len(lines) if lines else 0.0,
        "growth": math.tanh(growth),
        "max_depth": min(max((f.depth for f in frames), default=0), 20) / 20.0,
        "returns": sum(f.event == "return" for f in frames) / n,
    }


@dataclass
class Calibration:
    """Weights of a logistic model over `FEATURES`, with where they came from."""

    weights: list[float]
    bias: float
    fitted_on: str
    rows: int
    model: str = ""

    def p_halts(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(
            w * feats.get(name, 0.0) for w, name in zip(self.weights, FEATURES, strict=True)
        )
        z = max(-30.0, min(30.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": "opencwm.halt.calibration",
            "version": VERSION,
            "features": list(FEATURES),
            "weights": self.weights,
            "bias": self.bias,
            "fitted_on": self.fitted_on,
            "rows": self.rows,
            "model": self.model,
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Raises ValueError (one line) for a file that is not a calibration."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read calibration {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != "opencwm.halt.calibration":
            raise ValueError(
                f"{path} is not a halting calibration (no opencwm.halt.calibration format)"
            )
        if data.get("features") != list(FEATURES):
            raise ValueError(f"{path} was fitted on other features: {data.get('features')}")
        return cls(
            data["weights"], data["bias"], data["fitted_on"], data["rows"], data.get("model", "")
        )


def fit(
    rows: list[dict[str, float]],
    labels: list[str],
    fitted_on: str,
    model: str = "",
    l2: float = 1.0,
) -> Calibration:
    """Logistic regression of halts (1) vs loops (0) on the features."""
    import numpy as np

    assert len(rows) == len(labels) and rows, f"{len(rows)} feature rows, {len(labels)} labels"
    x = np.array([[r[name] for name in FEATURES] for r in rows], dtype=float)  # (N, F)
    x = np.hstack([x, np.ones((len(rows), 1))])  # (N, F+1): last column is the bias
    y = np.array([1.0 if lab == "halts" else 0.0 for lab in labels])  # (N,)
    w = np.zeros(x.shape[1])
    reg = np.eye(x.shape[1]) * l2
    reg[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + reg @ w
        hess = (x.T * (p * (1 - p))) @ x + reg + np.eye(x.shape[1]) * 1e-9
        delta = np.linalg.solve(hess, grad)
        w -= delta
        if np.abs(delta).max() < 1e-8:
            break
    return Calibration([float(v) for v in w[:-1]], float(w[-1]), fitted_on, len(rows), model)
