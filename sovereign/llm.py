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


def prefetch(call, system: str, user: str, model: type[M]) -> None:
    """Run ``call()`` — the first attempt of a structured call, returning the parsed reply, a
    :class:`~sovereign.adapters.nim_wire.PriorAttempt` or ``None`` — now, in a background thread,
    so that a later :func:`structured` call with the same prompts finds its answer under way (or
    continues from the failed attempt; ``None``: makes the whole call). Used to overlap the first
    model call of a run with start-up work (imports, index loading)."""
    key = (system, user, model.__name__)
    with _prefetch_lock:
        if key not in _prefetched:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sovereign-prefetch")
            _prefetched[key] = pool.submit(call)
            pool.shutdown(wait=False)


def prefetch_planner(question: str, cfg) -> None:
    """Send the planner's model call right away — it needs nothing but the question — straight over
    HTTP (:mod:`sovereign.adapters.nim_wire`, which imports nothing heavy), so that the model's
    latency overlaps the process's start-up; the plan node picks up the answer."""
    import httpx  # noqa: F401  (imported here, before the thread starts, so the request leaves at once)

    import sovereign.adapters.http  # noqa: F401
    from sovereign.adapters.nim_wire import first_attempt
    from sovereign.prompts.planner import PlannerReply, planner_prompts

    system, user = planner_prompts(question, cfg)
    timeout = min(cfg.nim_timeout_seconds, cfg.deadline_seconds)
    prefetch(lambda: first_attempt(cfg, system, user, PlannerReply, timeout), system, user, PlannerReply)


def structured(
    client, system: str, user: str, model: type[M], what: str
) -> tuple[M | None, str | None]:
    """The parsed reply (a prefetched one if :func:`prefetch` sent these prompts), or ``None`` and
    a note; see the module docstring."""
    from sovereign.adapters.nim import NimError

    prior = None
    with _prefetch_lock:
        future = _prefetched.pop((system, user, model.__name__), None)
    if future is not None:
        answer = future.result()
        if isinstance(answer, BaseModel):
            return answer, None
        prior = answer  # how the first attempt failed (or None: make the whole call here)
    try:
        result = client.chat_json(system, user, model, prior) if prior is not None else client.chat_json(system, user, model)
    except NimError as exc:
        return None, f"{what}: {exc}; used the offline algorithm instead."
    if result is None:
        return None, f"{what}: the model's reply could not be parsed after one repair attempt; used the offline algorithm instead."
    return result, None


def model_label(client) -> str:
    return f"{client.cfg.chat_model} (NVIDIA NIM)"
