"""provider=nim against a scripted NIM-compatible loopback server (tests/fakes/nim_server.py):
the REAL ChatNVIDIA / NVIDIAEmbeddings clients over real HTTP; the model behind is FAKE."""

import json
import time

import pytest

from sovereign.adapters import nim as nim_adapter
from sovereign.api import run_research
from sovereign.graph.configuration import Configuration

from conftest import ACCEPT_PRIMARY, ACCEPT_QUESTION, WALT_QUESTION, run_cli
from fakes.nim_server import Fault, FakeNim


def _bodies(server, path):
    return [r.body for r in server.records if r.path == path]


def test_auto_picks_nim_and_every_role_runs_on_the_model(nim):
    rep = run_research(WALT_QUESTION, max_revision_rounds=0)
    assert rep.provider == "nim"
    model = "meta/llama-3.3-70b-instruct (NVIDIA NIM)"
    assert rep.agents["planner"] == model and rep.agents["extractor"] == model and rep.agents["writer"] == model
    assert rep.agents["reviewers"] == model and model in rep.agents["verifier"]
    assert rep.embedding_model == "nvidia/nv-embedqa-e5-v5 (NVIDIA NIM)"
    assert rep.abstract.startswith("Scripted abstract")  # written by the (fake) model
    assert {r.role for r in rep.tribunal.reviews} == {"SKEPTIC", "VALIDATOR", "SYNTHESIZER"}
    assert all(r.reviewer == model for r in rep.tribunal.reviews)
    assert not any("offline algorithm" in u for u in rep.uncertainties)


def test_chat_requests_carry_a_json_schema_response_format(nim):
    run_research(ACCEPT_QUESTION, max_revision_rounds=0, n_queries=2)
    chats = [r.body for r in nim.records if r.path == "chat"]
    assert chats and all(b["response_format"]["type"] == "json_schema" for b in chats)
    names = {b["response_format"]["json_schema"]["name"] for b in chats}
    assert {"PlannerReply", "ExtractorReply", "ReviewReply", "WriterReply"} <= names
    review = next(b for b in chats if b["response_format"]["json_schema"]["name"] == "ReviewReply")
    assert "score" in review["response_format"]["json_schema"]["schema"]["properties"]


def test_embeddings_use_passage_and_query_input_types_truncate_end_and_batches_of_50(nim):
    run_research(WALT_QUESTION, max_revision_rounds=0)
    bodies = _bodies(nim, "embeddings")
    assert bodies and all(b["model"] == "nvidia/nv-embedqa-e5-v5" and b["truncate"] == "END" for b in bodies)
    types = {b["input_type"] for b in bodies}
    assert types == {"passage", "query"}
    assert max(len(b["input"]) for b in bodies) <= 50
    assert any(len(b["input"]) > 1 for b in bodies if b["input_type"] == "query")  # claims embedded in one request
    question_reqs = [b for b in bodies if b["input_type"] == "query" and b["input"] == [WALT_QUESTION]]
    assert len(question_reqs) == 1


def test_models_come_from_environment_variables(nim, monkeypatch):
    monkeypatch.setenv("SOVEREIGN_CHAT_MODEL", "nvidia/llama-3.1-nemotron-70b-instruct")
    monkeypatch.setenv("SOVEREIGN_EMBED_MODEL", "nvidia/llama-3.2-nv-embedqa-1b-v2")
    run_research(ACCEPT_QUESTION, max_revision_rounds=0)
    assert {b["model"] for b in _bodies(nim, "chat")} == {"nvidia/llama-3.1-nemotron-70b-instruct"}
    assert {b["model"] for b in _bodies(nim, "embeddings")} == {"nvidia/llama-3.2-nv-embedqa-1b-v2"}


def test_unparsable_json_gets_one_repair_then_the_offline_planner(nim):
    nim.faults.append(Fault(path="chat", content="Sure! Here are some queries: walt, fvd", times=2))
    rep = run_research(WALT_QUESTION, max_revision_rounds=0, n_queries=4)
    planner_calls = [b for b in _bodies(nim, "chat") if "query planner" in b["messages"][0]["content"]]
    assert len(planner_calls) == 2  # the call and ONE repair attempt
    assert "not valid for the schema" in planner_calls[1]["messages"][-1]["content"]
    assert rep.agents["planner"] == "offline key-phrase planner"
    assert rep.queries[:2] == ["causal encoder design W.A.L.T trade-off FVD scores inference throughput photorealistic video generation", "W.A.L.T causal encoder design"]
    assert any(u.startswith("Query planner: the model's reply could not be parsed") for u in rep.uncertainties)


def test_a_repaired_reply_is_used(nim):
    nim.faults.append(Fault(path="chat", content='{"queries": "one string, not a list"}', times=1))
    rep = run_research(WALT_QUESTION, max_revision_rounds=0, n_queries=3)
    assert rep.agents["planner"].endswith("(NVIDIA NIM)")
    assert len(rep.queries) == 3


def test_429_with_retry_after_is_honoured(nim):
    nim.faults.append(Fault(path="chat", status=429, retry_after=1, times=1))
    t0 = time.monotonic()
    rep = run_research(ACCEPT_QUESTION, max_revision_rounds=0, n_queries=2)
    chats = [r for r in nim.records if r.path == "chat"]
    assert chats[1].start - chats[0].end >= 0.95  # waited for Retry-After
    assert rep.agents["planner"].endswith("(NVIDIA NIM)")
    assert time.monotonic() - t0 < 60


def test_server_errors_are_retried_with_backoff(nim):
    nim.faults.append(Fault(path="embeddings", status=503, times=2))
    rep = run_research(ACCEPT_QUESTION, max_revision_rounds=0, n_queries=2)
    assert rep.embedding_model.endswith("(NVIDIA NIM)")
    assert not any("Embeddings:" in u for u in rep.uncertainties)


def test_timeouts_are_retried(nim):
    nim.faults.append(Fault(path="chat", delay=2.5, times=1))
    rep = run_research(ACCEPT_QUESTION, max_revision_rounds=0, n_queries=2, nim_timeout_seconds=1.0)
    assert rep.agents["planner"].endswith("(NVIDIA NIM)")
    deadline = time.monotonic() + 5  # the timed-out request is recorded when its handler ends
    while time.monotonic() < deadline and nim.count("chat") and len(
        [r for r in nim.records if r.path == "chat" and "query planner" in r.body["messages"][0]["content"]]
    ) < 2:
        time.sleep(0.1)
    assert len([r for r in nim.records if r.path == "chat" and "query planner" in r.body["messages"][0]["content"]]) == 2


def test_unreachable_endpoint_falls_back_to_offline_with_one_line_reasons(monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    monkeypatch.setenv("NVIDIA_BASE_URL", f"http://127.0.0.1:{port}/v1")
    nim_adapter._clients.clear()
    rep = run_research(ACCEPT_QUESTION, max_revision_rounds=0, n_queries=2, nim_max_attempts=2)
    assert rep.provider == "nim" and rep.agents["planner"] == "offline key-phrase planner"
    notes = [u for u in rep.uncertainties if "cannot connect to the NIM endpoint" in u]
    assert notes and all("\n" not in u and "Traceback" not in u for u in notes)
    assert rep.primary_paper.id == ACCEPT_PRIMARY


def test_requests_in_flight_are_bounded(nim):
    nim.latency = 0.15
    run_research(WALT_QUESTION, max_revision_rounds=0, max_concurrency=2, extract_papers=3)
    events = sorted([(r.start, 1) for r in nim.records] + [(r.end, -1) for r in nim.records])
    live = peak = 0
    for _, d in events:
        live += d
        peak = max(peak, live)
    assert peak <= 2


def test_the_api_key_is_sent_as_bearer_token_and_never_written(nim, monkeypatch, tmp_path):
    key = "nvapi-TESTKEY-0123456789abcdefghijklmnop"
    monkeypatch.setenv("NVIDIA_API_KEY", key)
    out = tmp_path / "r"
    proc = run_cli("research", ACCEPT_QUESTION, "--out", str(out), "--max-revision-rounds", "0", env={"NVIDIA_API_KEY": key, "NVIDIA_BASE_URL": nim.url, "SOVEREIGN_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    assert {r.auth for r in nim.records} == {f"Bearer {key}"}
    for f in out.iterdir():
        assert key not in f.read_text()
    assert key not in proc.stdout + proc.stderr
    assert "provider" in json.loads((out / "report.json").read_text())


def test_telemetry_is_off_by_default():
    import os

    assert os.environ.get("NVIDIA_USAGE_TELEMETRY_ENABLED") == "false"


def test_configuration_exposes_nim_knobs():
    c = Configuration()
    assert c.embed_model == "nvidia/nv-embedqa-e5-v5" and c.max_concurrency >= 1 and c.nim_max_attempts >= 2


def test_concurrent_calls_on_one_client_never_mix_payloads(nim):
    """The langchain clients keep per-request state on the instance; the adapter gives each thread
    its own, so 24 concurrent calls each get the reply to their own message."""
    from sovereign.concurrency import map_in_threads

    nim.script = lambda role, system, user: {"echo": user}
    nim.latency = 0.02
    client = nim_adapter.nim_client(Configuration(max_concurrency=8))
    replies = map_in_threads(lambda i: client.chat([("system", "s"), ("user", f"message {i}")]), range(24), 8)
    assert [json.loads(r)["echo"] for r in replies] == [f"message {i}" for i in range(24)]


def test_the_key_is_never_sent_to_an_endpoint_chosen_per_run(nim, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-PLANTED-abcdefghijklmnop")
    with FakeNim() as other:
        with pytest.raises(nim_adapter.NimError, match="refusing to send NVIDIA_API_KEY"):
            run_research(ACCEPT_QUESTION, nim_base_url=other.url, max_revision_rounds=0)
        assert other.count() == 0
    monkeypatch.setenv("SOVEREIGN_ALLOW_RUN_ENDPOINTS", "1")
    nim_adapter._clients.clear()
    with FakeNim() as other:
        run_research(ACCEPT_QUESTION, nim_base_url=other.url, max_revision_rounds=0, n_queries=2)
        assert other.count() > 0


def test_a_second_cli_process_finds_the_first_ones_embeddings(nim, tmp_path):
    """The console script skips the interpreter's teardown (os._exit): everything must already be
    committed by then. A second `sovereign research` process with the same cache folder makes no
    embedding request (FAKE model, real HTTP)."""
    env = {"NVIDIA_BASE_URL": nim.url, "SOVEREIGN_CACHE_DIR": str(tmp_path / "cache"), "SOVEREIGN_STATE_DIR": str(tmp_path / "state")}
    args = ["research", "How does LoRA reduce the number of trainable parameters?", "--provider", "nim", "--max-revision-rounds", "0", "--quiet"]
    first = run_cli(*args, "--out", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr
    embeds_first = nim.count("embeddings")
    assert embeds_first > 0
    second = run_cli(*args, "--out", str(tmp_path / "b"), env=env)
    assert second.returncode == 0, second.stderr
    assert nim.count("embeddings") == embeds_first
    assert (tmp_path / "b" / "report.json").is_file() and (tmp_path / "b" / "references.bib").is_file()
