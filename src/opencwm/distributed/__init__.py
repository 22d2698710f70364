"""Concurrent and distributed programs: a seeded message-passing runtime
(`runtime.py`), generated systems with injected bugs (`systems.py`), the
recorder that names each frame's actor (`recorder.py`) and the
`distributed:N` corpus source (`corpus.py`). See docs/trace-format.md,
"Concurrent programs"."""
