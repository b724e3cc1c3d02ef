"""The one seam between agents and a chat model: structured calls with offline fallback.

``structured(client, system, user, Model, what)`` returns ``(result, note)``: the parsed reply, or
``None`` plus a one-line note for the report's Uncertainties when the model failed or its reply did
not parse after one repair attempt — the caller then runs its offline algorithm. A run never dies
because a model wrote bad JSON or an endpoint was down.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


_prefetched: dict[tuple[str, str, str], Future] = {}
_prefetch_lock = threading.Lock()


def prefetch(make_client, system: str, user: str, model: type[M], what: str) -> None:
    """Start a structured call now, in a background thread, so that a later :func:`structured` call
    with the same prompts finds it under way (used to overlap the first model call of a run with
    start-up work such as imports and index loading)."""
    key = (system, user, model.__name__)

    def run():
        return structured(make_client(), system, user, model, what, use_prefetched=False)

    with _prefetch_lock:
        if key not in _prefetched:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sovereign-prefetch")
            _prefetched[key] = pool.submit(run)
            pool.shutdown(wait=False)


def structured(
    client, system: str, user: str, model: type[M], what: str, use_prefetched: bool = True
) -> tuple[M | None, str | None]:
    from sovereign.adapters.nim import NimError

    if use_prefetched:
        with _prefetch_lock:
            future = _prefetched.pop((system, user, model.__name__), None)
        if future is not None:
            return future.result()
    try:
        result = client.chat_json(system, user, model)
    except NimError as exc:
        return None, f"{what}: {exc}; used the offline algorithm instead."
    if result is None:
        return None, f"{what}: the model's reply could not be parsed after one repair attempt; used the offline algorithm instead."
    return result, None


def model_label(client) -> str:
    return f"{client.cfg.chat_model} (NVIDIA NIM)"
