"""Races for the concurrency tests: several acts released at once, each one's result or refusal."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(*acts: Callable[[], object]) -> list:
    """Run each act in its own thread, released together by a barrier; each one's result, or
    the exception it raised (the loser's refusal is a result)."""
    barrier = threading.Barrier(len(acts))
    results: list = [None] * len(acts)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = acts[i]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test as the act's result
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(acts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results
