"""Daemon threads for synchronous handlers.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit, so a sync
handler abandoned after its timeout would keep the worker process alive. This pool runs jobs on
daemon threads, reuses idle ones, and starts a new thread whenever none is idle: an abandoned
thread only costs its own slot until its handler returns.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple["cf.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """Run callables on reusable daemon threads that exit after ``idle_seconds`` unused."""

    def __init__(self, name: str = "pgflow-handler", idle_seconds: float = 60.0) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._count = itertools.count(1)
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Run ``fn(*args)`` on an idle thread, or a new one; return its future.

        Raises:
            RuntimeError: the pool is shut down.
        """
        future: cf.Future[Any] = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the handler thread pool is shut down")
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._serve, args=(inbox,), name=f"{self._name}-{next(self._count)}"
            )
            thread.daemon = True
            thread.start()
        inbox.put((future, fn, args))
        return future

    @property
    def idle_threads(self) -> int:
        """Return how many threads wait for a job."""
        with self._lock:
            return len(self._idle)

    def shutdown(self) -> None:
        """Stop the idle threads; busy ones exit once their job returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)

    def _serve(self, inbox: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            try:
                job = inbox.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:
                        self._idle.remove(inbox)
                        return
                continue  # a job was handed to us while we timed out: take it
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # the handler's error goes to its future
                    future.set_exception(exc)
            del job, future
            with self._lock:
                if self._closed:
                    return
                self._idle.append(inbox)
