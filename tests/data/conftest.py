import json

import pytest


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def small_jsonl(tmp_path):
    """40 CRUXEval-format items: 20 programs, 2 inputs each, one exact duplicate."""
    rows = []
    for k in range(20):
        code = (
            "def f(xs):\n    out = []\n    for x in xs:\n"
            f"        out.append(x * {k} + 1)\n    return out\n"
        )
        rows.append({"id": f"p{k}a", "code": code, "input": f"[{k}, 1]", "output": ""})
        rows.append({"id": f"p{k}b", "code": code, "input": f"[2, {k}]", "output": ""})
    rows.append(
        {"id": "dup", "code": rows[0]["code"] + "\n# comment\n", "input": "[0,1]", "output": ""}
    )
    return write_jsonl(tmp_path / "small.jsonl", rows)
