"""Thread helpers that carry the run's context (deadline) into worker threads."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("sovereign_deadline", default=None)
"""Monotonic-clock instant after which model calls give up (set per node from the run's deadline)."""


def remaining() -> float | None:
    d = DEADLINE.get()
    return None if d is None else d - time.monotonic()


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], max_workers: int) -> list[R]:
    """``list(map(fn, items))`` on a bounded pool; each call runs in a copy of the caller's context."""
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), max_workers))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn, x) for x in items]
        return [f.result() for f in futures]
