"""Local worker processes: one warm sandbox each, chunks handed out as they finish."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from opencwm.data.work import trace_chunk


def run_local(config, chunks: dict[int, list]) -> Iterator[tuple[int, list[dict]]]:
    """Yield (chunk id, rows) in completion order; at most 2 chunks in flight per worker."""
    ctx = multiprocessing.get_context("spawn")
    todo = list(chunks.items())
    with ProcessPoolExecutor(
        max_workers=config.workers, mp_context=ctx, initializer=_exit_with, initargs=(os.getpid(),)
    ) as pool:
        running = {}
        try:
            while todo or running:
                while todo and len(running) < 2 * config.workers:
                    cid, chunk = todo.pop(0)
                    running[pool.submit(trace_chunk, chunk, config.work)] = cid
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield running.pop(fut), fut.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _exit_with(driver: int) -> None:
    """Pool initializer: a driver killed outright (SIGKILL, the OOM killer)
    cannot shut its pool down, and an orphaned worker would keep its warm
    sandbox for good; it leaves once it is no longer the driver's child."""

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
