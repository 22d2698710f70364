"""The same chunks on a Ray cluster: one actor per worker, each with its own sandbox.

Rows come back to the driver, which writes the part files, so the output
directory need not be shared with the cluster's nodes.
"""

from __future__ import annotations

from collections.abc import Iterator


class _TraceActor:
    def run(self, chunk: list, work) -> list[dict]:
        from opencwm.data.work import trace_chunk

        return trace_chunk(chunk, work)


def ensure_ray(address: str | None, num_cpus: int) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=256 * 1024 * 1024,
        )


def run_on_ray(config, chunks: dict[int, list]) -> Iterator[tuple[int, list[dict]]]:
    import ray

    ensure_ray(config.ray_address, config.workers)
    actor_cls = ray.remote(num_cpus=1)(_TraceActor)
    actors = [actor_cls.remote() for _ in range(config.workers)]
    todo = list(chunks.items())
    running = {}
    try:
        for actor in actors:
            for _ in range(2):
                if todo:
                    cid, chunk = todo.pop(0)
                    running[actor.run.remote(chunk, config.work)] = (cid, actor)
        while running:
            [ref], _ = ray.wait(list(running), num_returns=1)
            cid, actor = running.pop(ref)
            rows = ray.get(ref)
            if todo:
                nid, chunk = todo.pop(0)
                running[actor.run.remote(chunk, config.work)] = (nid, actor)
            yield cid, rows
    finally:
        for actor in actors:
            ray.kill(actor)
