"""Run a function on untrusted files in child processes, so a decoder crash costs one file.

FFmpeg can kill its process on a malformed file (a segfault or an abort, which no try/except
catches). `IsolatedPool.map` calls `fn(arg)` in spawned children; when a child dies, the calls in
flight are redone one at a time in a fresh child, and the one that kills it again gets CRASHED.
This module knows nothing about videos; ingest uses it inside each Ray Data shard writer.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import cloudpickle

CRASHED = "decoder crashed"


class IsolatedPool:
    """A pool of `workers` spawned child processes; `map` never raises for a child's death."""

    def __init__(self, workers: int = 1) -> None:
        self._workers = workers
        self._pool = self._new_pool()

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        """`fn(a)` for every a, in order; CRASHED where the child running it died."""
        # cloudpickle, not pickle: `fn` may be a function defined where the child cannot import
        # it (a local function, or one a Ray worker received by value).
        packed = cloudpickle.dumps(fn)
        futures: list[Future | None] = []
        for arg in args:
            try:
                futures.append(self._pool.submit(_call, packed, arg))
            except BrokenProcessPool:
                futures.append(None)
        outcomes: list[Any] = []
        lost = False
        for future in futures:
            try:
                outcomes.append(future.result() if future is not None else None)
            except BrokenProcessPool:
                outcomes.append(None)
                lost = True
        if lost or any(f is None for f in futures):
            # A dead child fails every call in flight and we cannot tell whose input killed it:
            # redo each of those alone, so a crash then names its input.
            self._restart()
            for i, future in enumerate(futures):
                if future is None or outcomes[i] is None:
                    outcomes[i] = self._alone(packed, args[i])
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _alone(self, packed: bytes, arg: Any) -> Any:
        try:
            return self._pool.submit(_call, packed, arg).result()
        except BrokenProcessPool:
            self._restart()
            return CRASHED

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        """A started pool whose children are known to run, so a later death is blamed on a file."""
        # spawn, not fork: the caller may hold Ray or torch threads, and forking a threaded
        # process can deadlock the child.
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=spawn)
        try:
            pool.submit(os.getpid).result()
        except BrokenProcessPool:
            pool.shutdown(wait=False)
            raise RuntimeError(
                "isolated pool: child processes die before running anything; when calling "
                "ingest from a script, put the call under `if __name__ == '__main__':` "
                "(multiprocessing spawn re-imports the script in every child)"
            ) from None
        return pool


def _call(packed: bytes, arg: Any) -> Any:
    return cloudpickle.loads(packed)(arg)
