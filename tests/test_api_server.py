"""The graph API end to end: the REAL ``langgraph dev`` server, driven with langgraph_sdk.

One server per module. It runs from a temporary working directory with a copy of langgraph.json
whose paths point back into the repo, so its ``.langgraph_api/`` state (threads, checkpoints) never
lands in the repo. NIM variables are removed from its environment: provider=auto resolves to the
embedded offline default and nothing leaves the machine.

pytest-asyncio is not installed on purpose: each test wraps its coroutine in ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sovereign.graph.configuration import Configuration

from conftest import DRIFT_QUESTION, REPO, WALT_QUESTION

langgraph_sdk = pytest.importorskip("langgraph_sdk")

GRAPH_ID = "research"
WALT_PRIMARY = "2312.06662"
REVIEWERS = ["review_skeptic", "review_synthesizer", "review_validator"]
ROLES = {"SKEPTIC", "VALIDATOR", "SYNTHESIZER"}
READY_TIMEOUT_S = 90
N_JOBS = 5
SERVER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "NVIDIA_USAGE_TELEMETRY_ENABLED": "false",
}
# as conftest's autouse fixture does for in-process tests (it cannot reach a module-scoped server)
SERVER_ENV_REMOVED = (
    "NVIDIA_API_KEY", "NVIDIA_BASE_URL", "SOVEREIGN_CHAT_MODEL", "SOVEREIGN_EMBED_MODEL",
    "ARXIV_API_URL", "OPENALEX_API_URL",
)


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _absolute(path: str) -> str:
    """A path of langgraph.json (``./x`` or ``./x.py:var``) made absolute against the repo."""
    if not path.startswith("."):
        return path  # a package name
    file, sep, var = path.partition(":")
    return str((REPO / file).resolve()) + sep + var


def _server_config(workdir: Path) -> Path:
    """Copy langgraph.json into ``workdir`` with every local path pointing into the repo."""
    cfg = json.loads((REPO / "langgraph.json").read_text())
    cfg["dependencies"] = [_absolute(d) for d in cfg.get("dependencies", [])]
    cfg["graphs"] = {name: _absolute(spec) for name, spec in cfg["graphs"].items()}
    if isinstance(cfg.get("env"), str):
        cfg["env"] = _absolute(cfg["env"])
    out = workdir / "langgraph.json"
    out.write_text(json.dumps(cfg, indent=2))
    return out


def _log_tail(log: Path, n: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group (CLI + uvicorn reloader + worker), by its pid."""
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Start ``langgraph dev`` on a free port; yield its base URL; stop it by process group."""
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    config = _server_config(workdir)
    port = _free_port()
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_REMOVED}
    env.update(SERVER_ENV, SOVEREIGN_CACHE_DIR=str(workdir / "cache"))
    cmd = [
        str(REPO / ".venv" / "bin" / "langgraph"), "dev", "--no-browser",
        "--host", "127.0.0.1", "--port", str(port), "--config", str(config),
        # `langgraph dev` executes ONE run at a time unless told otherwise (it sets
        # N_JOBS_PER_WORKER=1); the concurrency test needs five runs really in flight.
        "--n-jobs-per-worker", str(N_JOBS),
    ]
    if not Path(cmd[0]).exists():  # a venv elsewhere: the CLI next to the running interpreter
        cmd[0] = str(Path(sys.executable).with_name("langgraph"))
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so teardown reaches the uvicorn children
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            moved = re.search(r"Port \d+ is already in use, using port (\d+)", log.read_text(errors="replace"))
            if moved:
                pytest.fail(f"langgraph dev did not take port {port} (moved to {moved.group(1)}):\n{_log_tail(log)}")
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev not ready on {url}/ok after {READY_TIMEOUT_S} s:\n{_log_tail(log)}")
            time.sleep(0.25)
        yield url
    finally:
        _stop(proc)


def arun(coro_fn, *args):
    """Run one async scenario to completion (a fresh loop and a fresh client per test)."""
    return asyncio.run(coro_fn(*args))


def client(url: str):
    return langgraph_sdk.get_client(url=url)


# ----------------------------------------------------------------------------- helpers


def node_sequence(updates: list[dict]) -> list[str]:
    names = []
    for data in updates:
        assert isinstance(data, dict) and len(data) == 1, data
        names.extend(data)
    return names


def check_order(names: list[str], n_queries: int) -> int:
    """Assert the documented topology on a stream of node names; return the revision rounds seen.

    plan, then per round: search x queries, index, extract, verify, the three reviewers (any
    order), synthesize, and either revise (next round) or owner_review, report. The first round
    has exactly ``n_queries`` search branches; a revision without new queries goes to verify.
    """
    i, rounds = 0, 0
    assert names[i] == "plan", names
    i += 1
    while True:
        k = 0
        while i + k < len(names) and names[i + k] == "search":
            k += 1
        if rounds == 0:
            assert k == n_queries, (k, names)
        i += k
        if k:
            assert names[i : i + 2] == ["index", "extract"], names
            i += 2
        assert names[i] == "verify", names
        assert sorted(names[i + 1 : i + 4]) == REVIEWERS, names
        assert names[i + 4] == "synthesize", names
        i += 5
        if names[i] != "revise":
            break
        rounds += 1
        i += 1
    assert names[i:] == ["owner_review", "report"], names
    return rounds


def check_report(rep: dict, question: str) -> None:
    assert rep["question"] == question
    assert rep["provider"] == "offline"
    assert rep["primary_paper"] and rep["primary_paper"]["id"]
    assert rep["claims"], "no claims"
    for c in rep["claims"]:
        assert c["text"] and c["source_id"] and c["label"] in {"SUPPORTED", "CONTRADICTED", "UNSUPPORTED"}
        assert 0.0 <= c["confidence"] <= 1.0
    roles = {r["role"] for r in rep["tribunal"]["reviews"]}
    assert roles == ROLES
    assert 0.0 <= rep["tribunal"]["score"] <= 10.0
    assert rep["policy"] in {"PUBLISH", "ESCALATE_TO_OWNER", "REJECT"}
    assert rep["markdown"].startswith("# ")


def fingerprint(rep: dict) -> tuple:
    """The deterministic content of an offline report (no dates, no timings)."""
    return (
        rep["question"], tuple(rep["queries"]), rep["primary_paper"]["id"],
        tuple((c["id"], c["text"], c["label"]) for c in rep["claims"]),
        rep["tribunal"]["score"], rep["policy"],
    )


# ----------------------------------------------------------------------------- tests


def test_assistant_exposes_the_context_schema_and_a_question_only_input(server):
    async def scenario():
        c = client(server)
        found = await c.assistants.search(graph_id=GRAPH_ID)
        assert [a["graph_id"] for a in found] == [GRAPH_ID]
        return await c.assistants.get_schemas(found[0]["assistant_id"])

    schemas = arun(scenario)
    inp = schemas["input_schema"]
    assert inp["required"] == ["question"] and set(inp["properties"]) == {"question"}
    assert "report" in schemas["output_schema"]["properties"]

    ctx = schemas["context_schema"]
    assert ctx and ctx["title"] == "Configuration"
    props = ctx["properties"]
    assert set(props) == set(Configuration.model_fields)
    expected = Configuration().model_dump(mode="json")
    for name, field in Configuration.model_fields.items():
        assert field.description and props[name].get("description") == field.description, name
        assert "default" in props[name], f"{name}: no default in the context schema"
        want = field.default if field.default_factory is None else expected[name]
        assert props[name]["default"] == want, name


def test_stream_updates_arrive_node_by_node_in_topology_order(server):
    # The server streams updates filtered to the graph's OUTPUT channels (langgraph_api passes
    # output_keys=graph.output_channels), so every node but `report` arrives as {"node": None}:
    # the order is observable, the intermediate content is not (use stream_mode="tasks" for that).
    async def scenario():
        c = client(server)
        thread = await c.threads.create()
        updates = []
        async for part in c.runs.stream(
            thread["thread_id"], GRAPH_ID, input={"question": WALT_QUESTION}, stream_mode="updates"
        ):
            assert part.event != "error", part.data
            if part.event == "updates":
                updates.append(part.data)
        return updates

    updates = arun(scenario)
    names = node_sequence(updates)
    rounds = check_order(names, n_queries=Configuration().n_queries)
    report = updates[-1]["report"]["report"]
    check_report(report, WALT_QUESTION)
    assert report["tribunal"]["revision_round"] == rounds


def test_wait_returns_the_final_report_and_per_run_context_changes_it(server):
    async def scenario():
        c = client(server)
        t1, t2 = await c.threads.create(), await c.threads.create()
        default = await c.runs.wait(t1["thread_id"], GRAPH_ID, input={"question": WALT_QUESTION})
        two = await c.runs.wait(
            t2["thread_id"], GRAPH_ID, input={"question": WALT_QUESTION},
            context={"n_queries": 2, "max_revision_rounds": 0},
        )
        four = await c.runs.wait(
            (await c.threads.create())["thread_id"], GRAPH_ID, input={"question": WALT_QUESTION},
            context={"max_revision_rounds": 0},
        )
        state = await c.threads.get_state(t1["thread_id"])
        return default, two, four, state

    default, two, four, state = arun(scenario)
    rep = default["report"]
    check_report(rep, WALT_QUESTION)
    assert rep["primary_paper"]["id"] == WALT_PRIMARY
    assert any(c["source_id"] == WALT_PRIMARY for c in rep["claims"])
    assert rep["title"] in rep["markdown"]
    assert state["next"] == [] and state["values"]["report"] == rep  # the thread holds the same report

    # the knob reaches the planner: 4 planned queries by default, 2 when the run says so
    assert len(four["report"]["queries"]) == 4 and four["report"]["tribunal"]["revision_round"] == 0
    assert len(two["report"]["queries"]) == 2 and two["report"]["tribunal"]["revision_round"] == 0
    assert two["report"]["queries"] == four["report"]["queries"][:2]
    assert len(rep["queries"]) >= 4  # the default run may add a revision round's queries


def test_owner_review_interrupts_and_resumes_with_the_decision(server):
    ctx = {"owner_review": True}

    async def scenario():
        c = client(server)
        thread = await c.threads.create()
        tid = thread["thread_id"]
        first = await c.runs.wait(tid, GRAPH_ID, input={"question": DRIFT_QUESTION}, context=ctx)
        paused_state = await c.threads.get_state(tid)
        paused_thread = await c.threads.get(tid)
        resumed = await c.runs.wait(
            tid, GRAPH_ID, command={"resume": {"decision": "approve", "note": "ok"}}, context=ctx
        )
        done_thread = await c.threads.get(tid)
        return first, paused_state, paused_thread, resumed, done_thread

    first, paused_state, paused_thread, resumed, done_thread = arun(scenario)
    assert "report" not in first or first.get("report") is None
    (intr,) = first["__interrupt__"]
    assert intr["value"]["policy"] == "ESCALATE_TO_OWNER" and intr["value"]["question"] == DRIFT_QUESTION

    assert paused_state["next"] == ["owner_review"]
    assert paused_thread["status"] == "interrupted"
    (task,) = [t for t in paused_state["tasks"] if t["name"] == "owner_review"]
    assert task["interrupts"] and task["interrupts"][0]["id"] == intr["id"]

    rep = resumed["report"]
    check_report(rep, DRIFT_QUESTION)
    assert rep["policy"] == "PUBLISH"
    assert rep["owner"] == {"decision": "approve", "note": "ok"}
    assert any("owner decision: approve" in r for r in rep["policy_reasons"])
    assert done_thread["status"] == "idle"


def test_owner_review_via_an_assistant_with_stored_context(server):
    """The server-side way: an assistant carries ``owner_review`` for every run, resumes included."""

    async def scenario():
        c = client(server)
        assistant = await c.assistants.create(graph_id=GRAPH_ID, context={"owner_review": True}, name="with-owner")
        tid = (await c.threads.create())["thread_id"]
        first = await c.runs.wait(tid, assistant["assistant_id"], input={"question": DRIFT_QUESTION})
        resumed = await c.runs.wait(
            tid, assistant["assistant_id"], command={"resume": {"decision": "reject", "note": "off topic"}}
        )
        await c.assistants.delete(assistant["assistant_id"])
        return first, resumed

    first, resumed = arun(scenario)
    assert first["__interrupt__"]
    assert resumed["report"]["policy"] == "REJECT"
    assert resumed["report"]["owner"] == {"decision": "reject", "note": "off topic"}


def test_owner_decision_survives_a_resume_without_repeating_the_context(server):
    async def scenario():
        c = client(server)
        tid = (await c.threads.create())["thread_id"]
        await c.runs.wait(tid, GRAPH_ID, input={"question": DRIFT_QUESTION}, context={"owner_review": True})
        return await c.runs.wait(tid, GRAPH_ID, command={"resume": {"decision": "approve", "note": "ok"}})

    rep = arun(scenario)["report"]
    assert rep["owner"] == {"decision": "approve", "note": "ok"} and rep["policy"] == "PUBLISH"


CONCURRENT_QUESTIONS = [
    WALT_QUESTION,
    DRIFT_QUESTION,
    "How does DoRA differ from LoRA?",
    "How is the Frechet Video Distance computed and what are its known weaknesses?",
    "How do latent video diffusion models reduce the compute cost of video generation?",
]


def test_five_concurrent_runs_on_five_threads_each_get_their_own_report(server):
    async def one(c, question):
        tid = (await c.threads.create())["thread_id"]
        out = await c.runs.wait(tid, GRAPH_ID, input={"question": question})
        return out["report"]

    async def scenario():
        c = client(server)
        t0 = time.perf_counter()
        together = await asyncio.gather(*(one(c, q) for q in CONCURRENT_QUESTIONS))
        wall = time.perf_counter() - t0
        alone = [await one(c, q) for q in CONCURRENT_QUESTIONS]  # reference: one at a time
        return together, alone, wall

    together, alone, _ = arun(scenario)
    for question, rep, ref in zip(CONCURRENT_QUESTIONS, together, alone):
        check_report(rep, question)
        assert fingerprint(rep) == fingerprint(ref), question  # no cross-talk between concurrent runs
    assert together[0]["primary_paper"]["id"] == WALT_PRIMARY
    assert len({r["primary_paper"]["id"] for r in together}) >= 3
