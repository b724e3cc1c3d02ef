"""Fault helpers for the fault matrix: a scripted loopback HTTP server (any status, body, header or
delay per request), a URL where nothing listens, and folders that really refuse writes (read-only
or full), also when the tests run as root (where ``chmod 555`` stops nothing).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    headers: dict | None = None
    delay: float = 0.0


class ScriptedHttp:
    """GET-only loopback server; ``respond(path, params) -> Answer`` decides every answer.

    Serves the arXiv API path (``/api/query``) and the OpenAlex path (``/works``) alike: point
    ``arxiv_url`` at :attr:`arxiv_url` and ``openalex_url`` at :attr:`url`."""

    def __init__(self, respond: Callable[[str, dict], Answer]):
        self.respond = respond
        self.requests: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                with owner.lock:
                    owner.requests.append((time.monotonic(), url.path, params))
                answer = owner.respond(url.path, params)
                if answer.delay:
                    time.sleep(answer.delay)
                data = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (answer.headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def arxiv_url(self) -> str:
        return self.url + "/api/query"

    def __enter__(self) -> "ScriptedHttp":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def always(answer: Answer) -> Callable[[str, dict], Answer]:
    return lambda path, params: answer


def closed_port_url(path: str = "") -> str:
    """A loopback URL where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"


# ----------------------------------------------------------------------------- folders


def _refuses_writes(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


def _mount_tmpfs(folder: Path, options: str) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=10)


@contextlib.contextmanager
def readonly_dir(base: Path) -> Iterator[Path | None]:
    """A folder that really refuses new files: ``chmod 555`` for a normal user, a read-only tmpfs
    for root (root ignores modes). Yields ``None`` when neither works here."""
    folder = base / "readonly"
    folder.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0:
        mounted = _mount_tmpfs(folder, "ro,size=1m")
    else:
        folder.chmod(0o555)
    try:
        yield folder if _refuses_writes(folder) else None
    finally:
        if mounted:
            _umount(folder)
        else:
            folder.chmod(0o755)


@contextlib.contextmanager
def full_dir(base: Path, size: str = "16k") -> Iterator[Path | None]:
    """A real, tiny filesystem (tmpfs of ``size``, root only) where a report does not fit: writes
    fail with ENOSPC. Yields ``None`` when it cannot be mounted here."""
    folder = base / "full"
    folder.mkdir(parents=True, exist_ok=True)
    if not _mount_tmpfs(folder, f"size={size}"):
        yield None
        return
    try:
        yield folder
    finally:
        _umount(folder)


def enospc_on_write(monkeypatch) -> Callable[[], None]:
    """In-process stand-in for a full disk: every report file write fails with ENOSPC (after the
    temporary file was created, as on a real full disk). Returns the function that frees the disk."""
    import sovereign.output as output

    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.fh, name)

    class FakeOs:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fdopen(fd, *args, **kwargs):
            return FullFile(real_fdopen(fd, *args, **kwargs))

    monkeypatch.setattr(output, "os", FakeOs())
    return lambda: monkeypatch.setattr(output, "os", os)
