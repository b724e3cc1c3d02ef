"""NVIDIA NIM adapter: chat through ``ChatNVIDIA`` and embeddings through ``NVIDIAEmbeddings``,
against NVIDIA's hosted catalog (``NVIDIA_API_KEY``) or a self-hosted NIM (``NVIDIA_BASE_URL``).

What this adapter adds to the clients:

* retries with exponential backoff and jitter (tenacity) on 429 (honouring ``Retry-After``), 5xx,
  timeouts and connection errors — the clients have none;
* a bound on requests in flight (``Configuration.max_concurrency``), process-wide;
* JSON replies validated against a pydantic model, with one repair attempt; ``None`` when the
  reply still does not parse, so the calling agent falls back to its offline algorithm;
* request and token counters (for benchmarks and the report's metrics);
* one-line errors that never carry the API key.

The key itself is read by the clients from the environment and never stored in configuration,
state or reports.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from sovereign.adapters.embeddings import l2_normalize
from sovereign.adapters.http import parse_retry_after
from sovereign.adapters.nim_wire import USAGE, EndpointRefused, PriorAttempt, extract_json, json_request  # noqa: F401  (USAGE, extract_json: re-exported)
from sovereign.adapters.nim_wire import check_endpoint as wire_check_endpoint
from sovereign.graph.configuration import Configuration
from sovereign.redact import redact

EMBED_BATCH = 50
MAX_RETRY_AFTER = 60.0
M = TypeVar("M", bound=BaseModel)

os.environ.setdefault("NVIDIA_USAGE_TELEMETRY_ENABLED", "false")  # opt-in only (README)


class NimHttpError(Exception):
    """A NIM answer with an error status (raised from a response hook, before the client's own)."""

    def __init__(self, status: int, retry_after: float | None = None):
        super().__init__(f"NIM answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class DeadlineReached(Exception):
    """The run's overall deadline has passed; no further model calls are made."""


class NimError(Exception):
    """A NIM call failed after retries; the message is one line without secrets."""


def one_line_error(exc: BaseException) -> str:
    if isinstance(exc, NimHttpError):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError) or str(exc).startswith(("Expecting value", "Expecting property name")):
        return "NIM answered with a body that is not JSON"
    name = exc.__class__.__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "timed out" in text.lower() or "timeout" in name.lower():
        return "NIM request timed out"
    if "connection" in name.lower() or "Connection refused" in text or "Max retries exceeded" in text:
        return "cannot connect to the NIM endpoint"
    m = re.match(r"\[(\d{3})\]", text)
    if m:
        return f"NIM answered HTTP {m.group(1)}"
    return redact(text)[:200]


def _retryable(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, NimHttpError):
        return exc.status == 429 or exc.status >= 500
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return True
    m = re.match(r"\[(\d{3})\]", str(exc))
    return bool(m and (m.group(1) == "429" or m.group(1).startswith("5")))


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, NimHttpError) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return wait_exponential_jitter(multiplier=0.5, max=10.0)(state)


class _FirstAttempt:
    """The retry state after one failed attempt, as :func:`_wait` reads it."""

    attempt_number = 1

    def __init__(self, error: BaseException):
        from concurrent.futures import Future

        self.outcome = Future()
        self.outcome.set_exception(error)


def prior_error(prior: PriorAttempt) -> BaseException:
    """The exception the langchain client would have raised for a failed first attempt."""
    import requests

    if prior.status is not None:
        return NimHttpError(prior.status, prior.retry_after)
    if prior.failure == "timeout":
        return requests.Timeout("NIM request timed out")
    if prior.failure == "connect":
        return requests.ConnectionError("Connection refused")
    return json.JSONDecodeError("Expecting value", "", 0)


def _raise_on_error(response, *args, **kwargs):
    if response.status_code == 429 or response.status_code >= 500:
        raise NimHttpError(response.status_code, parse_retry_after(response.headers.get("Retry-After")))
    return response


def _session():
    import requests

    session = requests.Session()
    session.hooks["response"].append(_raise_on_error)
    return session


_semaphores: dict[int, threading.BoundedSemaphore] = {}
_sem_lock = threading.Lock()


def _slot(n: int) -> threading.BoundedSemaphore:
    with _sem_lock:
        if n not in _semaphores:
            _semaphores[n] = threading.BoundedSemaphore(n)
        return _semaphores[n]


class NimClient:
    """One configured pair of NIM clients (chat + embeddings)."""

    def __init__(self, cfg: Configuration):
        self.cfg = cfg
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self.name = f"{cfg.embed_model} (NVIDIA NIM)"
        self._free.put(self._build())  # fail early (bad model name, bad URL) in the calling thread

    def _build(self):
        """A (ChatNVIDIA, NVIDIAEmbeddings) pair. The langchain clients keep per-request state
        (``last_inputs``) on the instance, so a pair is used by one request at a time: requests
        take a free pair from the pool and put it back (new pairs only when more run at once)."""
        from langchain_nvidia_ai_endpoints import ChatNVIDIA, NVIDIAEmbeddings

        common = {"timeout": self.cfg.nim_timeout_seconds}
        if self.cfg.nim_base_url:
            common["base_url"] = self.cfg.nim_base_url
        chat = ChatNVIDIA(model=self.cfg.chat_model, temperature=0.0, max_completion_tokens=self.cfg.max_output_tokens, **common)
        embeddings = NVIDIAEmbeddings(model=self.cfg.embed_model, truncate="END", max_batch_size=EMBED_BATCH, **common)
        reuse = (self.cfg.nim_base_url or "https://").lower().startswith("https://")
        for client in (chat._client, embeddings._client):
            if reuse:
                # the clients ask for a new requests.Session per request, i.e. a new connection and
                # a TLS handshake (several round trips to a remote NIM) each time; a pair serves one
                # request at a time, so each of its clients keeps one session and its connections
                session = _session()
                client.get_session_fn = lambda session=session: session
            else:
                # plain HTTP (a self-hosted NIM): connecting costs one round trip, and a kept-alive
                # connection can stall 40 ms per answer on Nagle + delayed ACK when the server writes
                # headers and body separately (as Python's http.server does)
                client.get_session_fn = _session
        return chat, embeddings

    def _acquire(self):
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return self._build()

    def _peek(self):
        pair = self._acquire()
        self._free.put(pair)
        return pair

    @property
    def chat_model(self):
        """A configured ChatNVIDIA (for inspection; requests take pairs from the pool)."""
        return self._peek()[0]

    @property
    def embeddings(self):
        """A configured NVIDIAEmbeddings (for inspection; requests take pairs from the pool)."""
        return self._peek()[1]

    # ------------------------------------------------------------------ plumbing

    def _call(self, fn, kind: str, prior: PriorAttempt | None = None):
        from sovereign.concurrency import remaining

        def before_attempt(pair) -> None:
            left = remaining()
            if left is not None and left <= 0:
                raise DeadlineReached()
            # a request may not outlive the run's deadline
            for client in (pair[0]._client, pair[1]._client):
                client.timeout = self.cfg.nim_timeout_seconds if left is None else max(0.5, min(self.cfg.nim_timeout_seconds, left))

        budget = self.cfg.nim_max_attempts
        if prior is not None:  # the first attempt was made elsewhere (adapters/nim_wire.py) and failed
            budget -= 1
            error = prior_error(prior)
            left = remaining()
            wait = _wait(_FirstAttempt(error))
            if not _retryable(error) or budget <= 0 or (left is not None and wait >= left):
                USAGE.add(failures=1)
                raise NimError(f"NIM {kind} call failed: {one_line_error(error)}")
            time.sleep(wait)
        attempts = stop_after_attempt(budget)

        def stop(state: RetryCallState) -> bool:
            # stop after the attempts, or when the next wait would end after the run's deadline
            if attempts(state):
                return True
            left = remaining()
            return left is not None and (state.upcoming_sleep or 0.0) >= left

        retrying = Retrying(retry=retry_if_exception(_retryable), wait=_wait, stop=stop, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    with _slot(self.cfg.max_concurrency):
                        pair = self._acquire()
                        try:
                            before_attempt(pair)
                            USAGE.add(requests=1, **{f"{kind}_requests": 1})
                            return fn(pair)
                        finally:
                            self._free.put(pair)
        except DeadlineReached:
            USAGE.add(failures=1)
            raise NimError(f"NIM {kind} call skipped: the run's deadline was reached") from None
        except Exception as exc:
            USAGE.add(failures=1)
            raise NimError(f"NIM {kind} call failed: {one_line_error(exc)}") from None

    # ------------------------------------------------------------------ chat

    def chat(self, messages: list[tuple[str, str]], response_format: dict | None = None, prior: PriorAttempt | None = None) -> str:
        kwargs = {"response_format": response_format} if response_format else {}
        reply = self._call(lambda pair: pair[0].invoke(messages, **kwargs), "chat", prior)
        usage = getattr(reply, "usage_metadata", None) or {}
        USAGE.add(prompt_tokens=int(usage.get("input_tokens", 0)), completion_tokens=int(usage.get("output_tokens", 0)))
        return reply.content if isinstance(reply.content, str) else json.dumps(reply.content)

    def chat_json(self, system: str, user: str, model: type[M], prior: PriorAttempt | None = None) -> M | None:
        """Ask for a JSON object matching ``model``; one repair attempt; ``None`` if it never parses.

        Network failures raise :class:`NimError` (the caller decides whether to fall back).
        ``prior``: the call's first attempt was already made (the CLI's early planner request) and
        did not give a valid reply — its reply is repaired, or its failure counts as an attempt."""
        messages, response_format = json_request(system, user, model)
        if prior is not None and prior.content is not None:
            content = prior.content
        else:
            content = self.chat(messages, response_format, prior)
        try:
            return model.model_validate_json(extract_json(content))
        except (ValidationError, ValueError) as exc:
            problem = str(exc).splitlines()[0][:300]
        messages += [
            ("assistant", content[:4000]),
            ("user", f"That answer is not valid for the schema ({problem}). Reply with only the corrected JSON object."),
        ]
        content = self.chat(messages, response_format)
        try:
            return model.model_validate_json(extract_json(content))
        except (ValidationError, ValueError):
            return None

    # ------------------------------------------------------------------ embeddings

    def _embed(self, texts: Sequence[str], input_type: str) -> np.ndarray:
        """Cached, batched (50 a request), batches in parallel within the in-flight bound."""
        from sovereign.adapters.cache import bytes_to_vector, digest, get_cache, vectors_to_bytes

        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        cache = get_cache() if self.cfg.cache else None
        keys = [digest("embed", self.cfg.embed_model, input_type, t) for t in texts]
        found = cache.get_many(list(dict.fromkeys(keys))) if cache else {}
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        if missing:
            batches = [missing[i : i + EMBED_BATCH] for i in range(0, len(missing), EMBED_BATCH)]

            def run(batch: list[str]) -> list[list[float]]:
                return self._call(lambda pair: pair[1]._embed(batch, model_type=input_type), "embed")

            from sovereign.concurrency import map_in_threads

            parts = map_in_threads(run, batches, self.cfg.max_concurrency)
            new = {}
            for batch, vectors in zip(batches, parts):
                for t, v in zip(batch, vectors):
                    k = digest("embed", self.cfg.embed_model, input_type, t)
                    new[k] = vectors_to_bytes(np.asarray(v, dtype=np.float32))
            found = {**found, **new}
            if cache:
                cache.put_many(new)
        return l2_normalize(np.vstack([bytes_to_vector(found[k]) for k in keys]))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(list(texts), "passage")

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], "query")[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Several queries in one request (input_type=query)."""
        return self._embed(list(texts), "query")


_clients: dict[tuple, NimClient] = {}
_clients_lock = threading.Lock()


def check_endpoint(cfg: Configuration) -> None:
    """See :func:`sovereign.adapters.nim_wire.check_endpoint`; raises :class:`NimError`."""
    try:
        wire_check_endpoint(cfg)
    except EndpointRefused as exc:
        raise NimError(str(exc)) from None


def nim_client(cfg: Configuration) -> NimClient:
    """A cached client per (models, endpoint, limits)."""
    check_endpoint(cfg)
    key = (
        cfg.chat_model, cfg.embed_model, cfg.nim_base_url, cfg.nim_timeout_seconds, cfg.max_concurrency,
        cfg.nim_max_attempts, cfg.max_output_tokens, cfg.cache, bool(os.environ.get("NVIDIA_API_KEY")),
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = NimClient(cfg)
        return _clients[key]


def nim_embedder(cfg: Configuration) -> NimClient:
    return nim_client(cfg)
