"""NIM's OpenAI-compatible chat wire format, spoken directly with httpx — for the one model call a
run can send before its heavy imports are done.

Every model call of a run goes through ``ChatNVIDIA`` (:mod:`sovereign.adapters.nim`), except the
first one of a ``sovereign research --provider nim`` process: the planner's, which needs nothing
but the question. Importing langgraph and langchain-nvidia-ai-endpoints takes about 0.7 s of CPU,
so the CLI sends that request from here (this module imports only httpx, pydantic and the
standard library) about 0.3 s after start, and the imports overlap the model's latency instead of
preceding it. The request is the one ``ChatNVIDIA`` would send (same messages, model, sampling
parameters, ``response_format``, authorisation; ``tests/test_nim_wire.py`` compares the two on a
loopback server). This module makes one attempt; everything after it — retries, waits, the
repair of an invalid reply, the offline fallback — is the planner node's normal path: a failed
first attempt is handed over (:class:`PriorAttempt`) so that the call as a whole makes no more
attempts, and waits no less, than a call made the normal way.

Also here, because both clients share them: the process-wide request/token counters and the rule
that never sends the API key to an endpoint chosen per run.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "https://integrate.api.nvidia.com/v1"
"""ChatNVIDIA's endpoint for NVIDIA's hosted catalog when no base URL is configured."""


@dataclass
class Usage:
    """Process-wide NIM request and token counters (benchmarks, report metrics)."""

    requests: int = 0
    chat_requests: int = 0
    embed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def snapshot(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("requests", "chat_requests", "embed_requests", "prompt_tokens", "completion_tokens", "failures")}


USAGE = Usage()


class EndpointRefused(Exception):
    """The API key would be sent to an endpoint chosen per run."""


def check_endpoint(cfg) -> None:
    """Never send the API key to an endpoint chosen per run (e.g. by a graph-API caller): with
    NVIDIA_API_KEY set, ``nim_base_url`` must equal the operator's NVIDIA_BASE_URL, unless the
    operator allows per-run endpoints with SOVEREIGN_ALLOW_RUN_ENDPOINTS=1."""
    env_url = os.environ.get("NVIDIA_BASE_URL") or None
    if (
        os.environ.get("NVIDIA_API_KEY")
        and cfg.nim_base_url
        and cfg.nim_base_url.rstrip("/") != (env_url or "").rstrip("/")
        and os.environ.get("SOVEREIGN_ALLOW_RUN_ENDPOINTS") != "1"
    ):
        raise EndpointRefused(
            "refusing to send NVIDIA_API_KEY to a nim_base_url set for this run; set NVIDIA_BASE_URL in the "
            "environment instead (or SOVEREIGN_ALLOW_RUN_ENDPOINTS=1)"
        )


def json_request(system: str, user: str, model: type[BaseModel]) -> tuple[list[tuple[str, str]], dict]:
    """The messages and ``response_format`` of a structured call: the JSON Schema of ``model`` both
    as OpenAI-style structured output (NIM's guided decoding) and in the system prompt, for servers
    that ignore ``response_format``."""
    json_schema = model.model_json_schema()
    schema = json.dumps(json_schema, separators=(",", ":"))
    system = f"{system}\n\nAnswer with ONE JSON object and nothing else. JSON Schema of the answer:\n{schema}"
    response_format = {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": json_schema, "strict": True}}
    return [("system", system), ("user", user)], response_format


def extract_json(text: str) -> str:
    """The JSON object in a model reply (code fences and prose around it removed)."""
    import re

    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.S)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def chat_payload(cfg, messages: list[tuple[str, str]], response_format: dict | None) -> dict[str, Any]:
    """The body ChatNVIDIA posts for ``invoke(messages, response_format=...)`` with the adapter's
    settings (temperature 0, ``max_completion_tokens`` sent as ``max_tokens``, no streaming)."""
    payload: dict[str, Any] = {
        "messages": [{"role": role, "content": content} for role, content in messages],
        "model": cfg.chat_model,
        "temperature": 0.0,
        "max_tokens": cfg.max_output_tokens,
        "stream": False,
    }
    if response_format:
        payload["response_format"] = response_format
    return payload


WIRE_MISMATCH = frozenset({404, 405, 415, 422})
"""Statuses after which the normal path makes the whole call itself rather than report them."""


@dataclass
class PriorAttempt:
    """How a call's first attempt, made here, went wrong — handed to the normal path
    (:meth:`sovereign.adapters.nim.NimClient.chat_json`) so that the call as a whole keeps its
    attempt budget, its waits (``Retry-After``) and its single repair step."""

    content: str | None = None
    """The model answered, but not with valid JSON for the schema: the normal path sends the repair."""
    status: int | None = None
    """The endpoint answered with an error status (429 and 5xx are retried, after ``retry_after``)."""
    retry_after: float | None = None
    failure: str | None = None
    """"timeout", "connect" or "not-json" (an HTTP 200 whose body is not JSON)."""


def first_attempt(cfg, system: str, user: str, model: type[M], timeout: float) -> M | PriorAttempt | None:
    """The first attempt of a structured chat call, straight over HTTP: the validated reply, a
    :class:`PriorAttempt` saying what went wrong, or ``None`` when the normal path should make the
    whole call itself (an endpoint this module should not or cannot speak to). Never raises.
    Counted in :data:`USAGE` like every NIM request."""
    import httpx

    from sovereign.adapters.http import parse_retry_after

    try:
        check_endpoint(cfg)
        messages, response_format = json_request(system, user, model)
        payload = chat_payload(cfg, messages, response_format)
    except Exception:
        return None
    url = (cfg.nim_base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
    headers = {"Accept": "application/json", "Content-Type": "application/json", "User-Agent": "langchain-nvidia-ai-endpoints"}
    key = os.environ.get("NVIDIA_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    USAGE.add(requests=1, chat_requests=1)
    try:
        # no TLS on a plain-HTTP endpoint: skip loading the CA bundle (~20 ms)
        verify = not url.lower().startswith("http://")
        response = httpx.post(url, json=payload, headers=headers, timeout=timeout, verify=verify)
    except httpx.TimeoutException:
        return PriorAttempt(failure="timeout")
    except httpx.TransportError:
        return PriorAttempt(failure="connect")
    except Exception:
        return None
    if response.status_code in WIRE_MISMATCH:
        return None  # perhaps an endpoint that ChatNVIDIA would address differently: let it try
    if response.status_code != 200:  # 429 and 5xx are retried by the normal path, the rest reported
        return PriorAttempt(status=response.status_code, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    try:
        body = response.json()
    except ValueError:
        return PriorAttempt(failure="not-json")
    try:
        usage = body.get("usage") or {}
        USAGE.add(prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0))
        content = body["choices"][0]["message"]["content"]
        content = content if isinstance(content, str) else json.dumps(content)
    except Exception:
        return None
    try:
        return model.model_validate_json(extract_json(content))
    except ValueError:  # pydantic's ValidationError is a ValueError
        return PriorAttempt(content=content)
