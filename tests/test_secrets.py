"""Secrets: a planted ``NVIDIA_API_KEY`` never appears in report files, stdout/stderr (the CLI's log),
the checkpoint database, the caches, the graph state served by the API, the API server's log, or
error messages — also when the model endpoint echoes the key back in its error bodies (the
langchain client puts response bodies into exception text). NVIDIA's client telemetry is off
unless the user opts in.

Every check greps for the key's random part, so a partly masked key counts as a leak too.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socketserver
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sovereign.adapters import nim as nim_adapter
from sovereign.cli import main

from conftest import ACCEPT_QUESTION, REPO, run_cli
from fakes.nim_server import FakeNim, Fault

SECRET = secrets.token_hex(12)
KEY = f"nvapi-PLANTED-{SECRET}"
Q = ACCEPT_QUESTION
ECHO = '{{"status": {status}, "detail": "credentials {{authorization}} rejected"}}'


def echo_faults() -> list[Fault]:
    """A server that answers some requests with an error body quoting the caller's Authorization."""
    return [
        Fault(path="chat", status=401, body=ECHO.format(status=401), times=1),  # the planner's call
        Fault(path="embeddings", status=403, body=ECHO.format(status=403), times=1),
        Fault(path="chat", status=400, body=ECHO.format(status=400), times=2),
        Fault(path="chat", status=503, body=ECHO.format(status=503), times=1),  # retried (then answered)
    ]


def leaks_in(folder: Path) -> list[str]:
    """Files under ``folder`` whose bytes contain the key (or its random part)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if SECRET.encode() in path.read_bytes():
            found.append(str(path))
    return found


@pytest.fixture(autouse=True)
def _quiet_fakes(monkeypatch):
    monkeypatch.setattr(socketserver.BaseServer, "handle_error", lambda self, request, address: None)
    nim_adapter._clients.clear()
    yield
    nim_adapter._clients.clear()


def test_the_key_is_in_no_report_file_output_checkpoint_or_cache(tmp_path):
    out, state, cache = tmp_path / "out", tmp_path / "state", tmp_path / "cache"
    with FakeNim() as nim:
        nim.faults.extend(echo_faults())
        env = {"NVIDIA_API_KEY": KEY, "NVIDIA_BASE_URL": nim.url, "SOVEREIGN_STATE_DIR": str(state), "SOVEREIGN_CACHE_DIR": str(cache)}
        proc = run_cli("research", Q, "--out", str(out), "--n-queries", "2", "--max-revision-rounds", "0", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        auth = {r.auth for r in nim.records}
    assert auth == {f"Bearer {KEY}"}  # the key was in play on every request, and echoed by the error bodies
    rep = json.loads(proc.stdout)
    assert any("NIM answered HTTP 401" in u for u in rep["uncertainties"])  # the echoing errors were met and reported
    assert any("NIM answered HTTP 403" in u for u in rep["uncertainties"])
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert (state / "checkpoints.sqlite3").is_file() and (cache / "cache.sqlite3").is_file()
    assert {p.name for p in out.iterdir()} >= {"report.md", "report.json", "references.bib"}
    for folder in (out, state, cache):  # reports, checkpoints (+ WAL), thread files, caches, local index
        assert leaks_in(folder) == []


def test_an_error_line_never_carries_the_key(tmp_path, monkeypatch, capsys):
    """A failure whose exception text quotes the key (as an upstream error body would)."""
    import sovereign.agents.extractor as extractor

    monkeypatch.setenv("NVIDIA_API_KEY", KEY)

    def upstream_error(*args, **kwargs):
        raise RuntimeError(f"upstream answered 401: invalid credentials {KEY}")

    monkeypatch.setattr(extractor, "offline_claims", upstream_error)
    rc = main(["research", Q, "--out", str(tmp_path / "out"), "--provider", "offline", "--n-queries", "2", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    (line,) = captured.err.strip().splitlines()
    assert "invalid credentials ***" in line and "--resume" in line
    assert SECRET not in captured.err + captured.out


def test_a_failed_node_leaves_no_key_in_the_checkpoint_database(tmp_path, monkeypatch, capsys):
    import sovereign.agents.extractor as extractor

    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    monkeypatch.setattr(extractor, "offline_claims", lambda *a, **k: (_ for _ in ()).throw(RuntimeError(f"echo {KEY}")))
    assert main(["research", Q, "--out", str(tmp_path / "out"), "--provider", "offline", "--n-queries", "2", "--quiet"]) == 1
    capsys.readouterr()
    assert leaks_in(tmp_path / "state") == []


# ----------------------------------------------------------------------------- telemetry


def _telemetry_flags(env_value: str | None) -> list[bool]:
    code = (
        "import os\n"
        "from sovereign.adapters.nim import nim_client\n"
        "from sovereign.graph.configuration import Configuration\n"
        "c = nim_client(Configuration())\n"  # NVIDIA's hosted catalog: the case where telemetry would be sent
        "assert c.chat_model._client.is_hosted\n"
        "print([c.chat_model._client.usage_telemetry_enabled, c.embeddings._client.usage_telemetry_enabled])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_USAGE_TELEMETRY_ENABLED", "NVIDIA_BASE_URL")}
    env["NVIDIA_API_KEY"] = KEY
    if env_value is not None:
        env["NVIDIA_USAGE_TELEMETRY_ENABLED"] = env_value
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1].lower())


def test_client_telemetry_is_off_unless_the_user_opts_in_and_that_is_documented():
    assert _telemetry_flags(None) == [False, False]
    assert _telemetry_flags("true") == [True, True]  # the user's explicit opt-in is respected
    readme = (REPO / "README.md").read_text()
    assert "NVIDIA_USAGE_TELEMETRY_ENABLED" in readme and "telemetry is **off**" in readme


# ----------------------------------------------------------------------------- the graph API


@pytest.fixture(scope="module")
def api_with_key(tmp_path_factory):
    """``langgraph dev`` (helpers of test_api_server.py) with the planted key in its environment and
    NVIDIA_BASE_URL pointing at a fake NIM that echoes the key in error bodies."""
    pytest.importorskip("langgraph_sdk")
    from test_api_server import SERVER_ENV, SERVER_ENV_REMOVED, _free_port, _log_tail, _server_config, _stop

    workdir = tmp_path_factory.mktemp("langgraph-dev-secrets")
    with FakeNim() as nim:
        nim.faults.extend(echo_faults())
        port, log = _free_port(), workdir / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_REMOVED}
        env.update(SERVER_ENV, SOVEREIGN_CACHE_DIR=str(workdir / "cache"), NVIDIA_API_KEY=KEY, NVIDIA_BASE_URL=nim.url)
        cmd = [str(REPO / ".venv" / "bin" / "langgraph"), "dev", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
               "--config", str(_server_config(workdir))]
        if not Path(cmd[0]).exists():
            cmd[0] = str(Path(sys.executable).with_name("langgraph"))
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{_log_tail(log)}")
                try:
                    with urllib.request.urlopen(f"{url}/ok", timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"langgraph dev not ready:\n{_log_tail(log)}")
                time.sleep(0.25)
            yield url, workdir, log, nim
        finally:
            _stop(proc)


def test_the_api_serves_no_key_in_state_history_runs_errors_or_its_log(api_with_key):
    import langgraph_sdk

    from fakes.faulty import Answer, ScriptedHttp, always

    url, workdir, log, nim = api_with_key

    async def scenario(attacker_url: str):
        c = langgraph_sdk.get_client(url=url)

        async def run(context: dict) -> tuple[str, dict]:
            tid = (await c.threads.create())["thread_id"]
            created = await c.runs.create(tid, "research", input={"question": Q}, context=context)
            joined = await c.runs.join(tid, created["run_id"])
            return tid, {"joined": joined, "run": await c.runs.get(tid, created["run_id"]), "runs": await c.runs.list(tid),
                         "state": await c.threads.get_state(tid), "history": await c.threads.get_history(tid),
                         "thread": await c.threads.get(tid)}

        _, ok = await run({"n_queries": 2, "max_revision_rounds": 0})
        _, invalid = await run({"n_queries": 0})  # a run that fails: its error is served too
        _, exfil = await run({"nim_base_url": attacker_url})  # a caller-chosen endpoint must not get the key
        return {"ok": ok, "invalid": invalid, "exfil": exfil, "threads": await c.threads.search(limit=50),
                "assistants": await c.assistants.search()}

    with ScriptedHttp(always(Answer(status=401, body='{"detail": "no"}'))) as attacker:
        served = asyncio.run(scenario(attacker.url + "/v1"))
    report = served["ok"]["joined"]["report"]
    assert report["provider"] == "nim"
    assert any("NIM answered HTTP 401" in u for u in report["uncertainties"])  # the echoing endpoint was met
    assert {r.auth for r in nim.records} == {f"Bearer {KEY}"}
    assert served["invalid"]["run"]["status"] == "error" and served["exfil"]["run"]["status"] == "error"
    assert attacker.requests == []
    text = json.dumps(served, default=str)
    assert SECRET not in text
    assert SECRET not in log.read_text(errors="replace")
    assert leaks_in(workdir) == []  # the server's own stored threads and checkpoints (.langgraph_api)
