"""Will it halt? Termination prediction for a function and its input.

- `patterns.py`, `corpus.py`: the labelled `halting:N` source (pairs that
  do and do not halt, each label checked on a real trace);
- `repeat.py`: exact state-repeat detection (the proof of non-termination);
- `verify.py`: checking a label against a real trace;
- `predictors.py`: the world model, budgeted execution and the constant
  baseline, each a `Verdict` with evidence;
- `calibrate.py`: a probability from a rollout that neither ends nor repeats;
- `evaluate.py`, `cli.py`: `opencwm eval halt` and `opencwm halt`.

See docs/halting.md.
"""
