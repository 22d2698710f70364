"""How published weights travel from the learner to the samplers.

A transport has two methods: `publish(version, weights) -> handle` (learner
side) and `fetch(handle) -> weights` (sampler side); the coordinator only
passes handles around. Two implementations:

- `RayTransport`: the Ray object store. The handle is a one-element list
  holding the ObjectRef (a bare ref passed to an actor method would be
  resolved by Ray into the whole state dict at every call). Only the
  newest version is referenced, so older ones are freed.
- `FileTransport`: safetensors files in a shared directory, for clusters
  with a shared filesystem; also shows what an NCCL broadcast would have to
  implement (publish on the learner rank, fetch on the sampler ranks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch


class Transport(Protocol):
    def publish(self, version: int, weights: dict[str, torch.Tensor]) -> Any: ...
    def fetch(self, handle: Any) -> dict[str, torch.Tensor]: ...


class RayTransport:
    def __init__(self) -> None:
        self._latest: list | None = None

    def publish(self, version: int, weights: dict[str, torch.Tensor]) -> list:
        import ray

        self._latest = [ray.put(weights)]
        return self._latest

    def fetch(self, handle: list) -> dict[str, torch.Tensor]:
        import ray

        return ray.get(handle[0])


class FileTransport:
    """`root/v{version}.safetensors`, written atomically; keeps the newest `keep`."""

    def __init__(self, root: str | Path, keep: int = 3) -> None:
        self.root = Path(root)
        self.keep = keep

    def publish(self, version: int, weights: dict[str, torch.Tensor]) -> str:
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"v{version:06d}.safetensors"
        tmp = path.with_suffix(".tmp")
        # Tied weights share storage; safetensors wants each tensor on its own.
        save_file({k: v.contiguous().clone() for k, v in weights.items()}, str(tmp))
        tmp.replace(path)
        for old in sorted(self.root.glob("v*.safetensors"))[: -self.keep]:
            old.unlink(missing_ok=True)
        return str(path)

    def fetch(self, handle: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        return load_file(handle)


class LocalTransport:
    """In one process: the handle is the weights themselves (tests, the sync loop)."""

    def publish(self, version: int, weights: dict[str, torch.Tensor]) -> dict:
        return weights

    def fetch(self, handle: dict) -> dict[str, torch.Tensor]:
        return handle


def make_transport(kind: str, out: str | Path) -> Transport:
    if kind == "ray":
        return RayTransport()
    if kind == "fs":
        return FileTransport(Path(out) / "weights")
    if kind == "local":
        return LocalTransport()
    raise ValueError(f"unknown transport {kind!r}; known: ray, fs, local")
