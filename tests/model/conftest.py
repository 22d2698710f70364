import json

import pytest

from opencwm.data.pipeline import BuildConfig, build
from opencwm.data.work import WorkConfig
from opencwm.tracer.api import TraceConfig

PROGRAMS = [
    ("def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n", "{k}"),
    (
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n",
        "[{k}, {k} + 1]",
    ),
    ("def f(s):\n    t = s.upper()\n    return t + '!'\n", "'a{k}'"),
]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """A corpus of ~90 short traces: small enough to train on in seconds."""
    root = tmp_path_factory.mktemp("corpus")
    rows = [
        {"id": f"p{i}_{k}", "code": code, "input": args.format(k=k)}
        for i, (code, args) in enumerate(PROGRAMS)
        for k in range(30)
    ]
    src = root / "items.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "corpus"
    build(
        BuildConfig(
            source=f"jsonl:{src}",
            out=out,
            workers=1,
            val_fraction=0.0,
            test_fraction=0.0,
            work=WorkConfig(TraceConfig(timeout_s=2), check_determinism=False),
        )
    )
    # every program landed in train; give val a copy so validation has data
    for shard in out.glob("train-*.parquet"):
        (out / shard.name.replace("train", "val")).write_bytes(shard.read_bytes())
    return out
