"""Shared HTTP plumbing for the paper sources: one httpx client per process, retries with
exponential backoff + jitter (tenacity) on 429 (honouring Retry-After), 5xx, timeouts and
connection errors.

Requests made inside a graph node obey the run's overall deadline
(:data:`sovereign.concurrency.DEADLINE`): no request starts after it, a request's timeout never
outlives it, and a retry whose wait (backoff or Retry-After) would end after it is not made — the
last error is raised instead, so the caller reports what really went wrong."""

from __future__ import annotations

import threading

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

USER_AGENT = "sovereign-research-kernel/0.1 (+https://github.com/; research literature agent)"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0

_client: httpx.Client | None = None
_client_lock = threading.Lock()


class DeadlineReached(Exception):
    """The run's overall deadline has passed: the request was not sent."""

    def __init__(self) -> None:
        super().__init__("request not sent: the run's deadline was reached")


class HttpStatusError(Exception):
    def __init__(self, status: int, url: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.retry_after = retry_after


def client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=True)
        return _client


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, HttpStatusError):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, (httpx.TimeoutException, httpx.TransportError))


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, HttpStatusError) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return wait_exponential_jitter(multiplier=0.5, max=8.0)(state)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime
        import datetime as dt

        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def _remaining() -> float | None:
    from sovereign.concurrency import remaining

    return remaining()


def _stop(state: RetryCallState) -> bool:
    """Stop after MAX_ATTEMPTS, or when the next wait would end after the run's deadline."""
    if stop_after_attempt(MAX_ATTEMPTS)(state):
        return True
    left = _remaining()
    return left is not None and (state.upcoming_sleep or 0.0) >= left


def _timeout() -> httpx.Timeout:
    left = _remaining()
    if left is None:
        return TIMEOUT
    if left <= 0:
        raise DeadlineReached()
    read = max(0.5, min(TIMEOUT.read or 30.0, left))
    return httpx.Timeout(read, connect=max(0.5, min(TIMEOUT.connect or 10.0, left)))


def get(url: str, params: dict | None = None) -> httpx.Response:
    """GET with retries; raises :class:`HttpStatusError` on a non-2xx answer after retries,
    :class:`DeadlineReached` when the run's deadline has passed."""
    retrying = Retrying(retry=retry_if_exception(_retryable), wait=_wait, stop=_stop, reraise=True)
    for attempt in retrying:
        with attempt:
            response = client().get(url, params=params, timeout=_timeout())
            if response.status_code >= 400:
                raise HttpStatusError(response.status_code, url, parse_retry_after(response.headers.get("Retry-After")))
            return response
    raise AssertionError("unreachable")  # pragma: no cover
