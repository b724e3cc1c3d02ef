"""The one seam between agents and a chat model: structured calls with offline fallback.

``structured(client, system, user, Model, what)`` returns ``(result, note)``: the parsed reply, or
``None`` plus a one-line note for the report's Uncertainties when the model failed or its reply did
not parse after one repair attempt — the caller then runs its offline algorithm. A run never dies
because a model wrote bad JSON or an endpoint was down.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def structured(client, system: str, user: str, model: type[M], what: str) -> tuple[M | None, str | None]:
    from sovereign.adapters.nim import NimError

    try:
        result = client.chat_json(system, user, model)
    except NimError as exc:
        return None, f"{what}: {exc}; used the offline algorithm instead."
    if result is None:
        return None, f"{what}: the model's reply could not be parsed after one repair attempt; used the offline algorithm instead."
    return result, None


def model_label(client) -> str:
    return f"{client.cfg.chat_model} (NVIDIA NIM)"
