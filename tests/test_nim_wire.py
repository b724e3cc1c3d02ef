"""The CLI's early planner request (adapters/nim_wire.py) against the scripted NIM-compatible
loopback server (FAKE model, real HTTP): it must be the request ChatNVIDIA sends, and a failed
first attempt must hand over to the normal path without extra attempts, lost waits or lost repairs."""

import os
import subprocess
import sys
import time

import pytest

from sovereign import llm
from sovereign.adapters.nim import nim_client
from sovereign.adapters.nim_wire import PriorAttempt, first_attempt
from sovereign.graph.configuration import Configuration
from sovereign.prompts.planner import PlannerReply, planner_prompts

QUESTION = "How does LoRA reduce the number of trainable parameters when fine-tuning large language models?"


def _cfg(nim, **kw) -> Configuration:
    return Configuration(provider="nim", nim_base_url=nim.url, **kw)


def test_the_early_request_is_the_one_chatnvidia_sends(nim, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-key-for-the-fake")
    cfg = _cfg(nim)
    system, user = planner_prompts(QUESTION, cfg)
    via_langchain = nim_client(cfg).chat_json(system, user, PlannerReply)
    via_wire = first_attempt(cfg, system, user, PlannerReply, timeout=10)
    assert isinstance(via_wire, PlannerReply) and via_wire == via_langchain and via_wire.queries
    assert [r.path for r in nim.records] == ["chat", "chat"]
    langchain_request, wire_request = nim.records
    assert wire_request.body == langchain_request.body
    assert wire_request.auth == langchain_request.auth == "Bearer nvapi-test-key-for-the-fake"


def _prefetched_call(cfg, system, user):
    """What the CLI does (send the first attempt early) and then what the plan node does."""
    llm.prefetch(lambda: first_attempt(cfg, system, user, PlannerReply, timeout=10), system, user, PlannerReply)
    return llm.structured(nim_client(cfg), system, user, PlannerReply, "Query planner")


def test_an_invalid_first_reply_is_repaired_not_asked_again(nim):
    cfg = _cfg(nim)
    system, user = planner_prompts(QUESTION, cfg)
    from fakes.nim_server import Fault

    nim.faults.append(Fault(path="chat", content="Sure! Here are some queries: lora, adapters", times=1))
    reply, note = _prefetched_call(cfg, system, user)
    assert note is None and reply.queries
    assert len(nim.records) == 2
    repair = nim.records[1].body["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"].startswith("Sure! Here are some queries")


def test_a_failed_first_attempt_counts_and_its_retry_after_is_honoured(nim):
    cfg = _cfg(nim, nim_max_attempts=2)
    system, user = planner_prompts(QUESTION, cfg)
    from fakes.nim_server import Fault

    nim.faults.append(Fault(path="chat", status=429, retry_after=0.4, times=10))
    t0 = time.monotonic()
    reply, note = _prefetched_call(cfg, system, user)
    assert reply is None and note.startswith("Query planner: NIM chat call failed: NIM answered HTTP 429")
    assert len(nim.records) == 2, (note, [(r.path, r.body.get("messages", [{}])[-1].get("role")) for r in nim.records])  # the budget is per call, the early attempt included
    assert nim.records[1].start - nim.records[0].end >= 0.39
    assert time.monotonic() - t0 >= 0.4


def test_a_body_that_is_not_json_is_not_asked_again(nim):
    cfg = _cfg(nim)
    system, user = planner_prompts(QUESTION, cfg)
    from fakes.nim_server import Fault

    nim.faults.append(Fault(path="chat", body="<html>502 Bad Gateway</html>", times=10))
    reply, note = _prefetched_call(cfg, system, user)
    assert reply is None and "NIM answered with a body that is not JSON" in note
    assert len(nim.records) == 1


def test_an_authorisation_error_is_reported_not_asked_again(nim):
    cfg = _cfg(nim)
    system, user = planner_prompts(QUESTION, cfg)
    from fakes.nim_server import Fault

    nim.faults.append(Fault(path="chat", status=401, times=1))
    reply, note = _prefetched_call(cfg, system, user)
    assert reply is None and note.startswith("Query planner: NIM chat call failed: NIM answered HTTP 401")
    assert len(nim.records) == 1


def test_the_key_is_never_sent_to_a_per_run_endpoint(nim, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test-key-for-the-fake")
    monkeypatch.setenv("NVIDIA_BASE_URL", "http://127.0.0.1:9/v1")  # the operator's endpoint is another one
    cfg = _cfg(nim)
    system, user = planner_prompts(QUESTION, cfg)
    assert first_attempt(cfg, system, user, PlannerReply, timeout=5) is None
    assert nim.records == []


def test_an_unreachable_endpoint_is_a_connect_failure():
    cfg = Configuration(provider="nim", nim_base_url="http://127.0.0.1:9/v1")
    system, user = planner_prompts(QUESTION, cfg)
    assert first_attempt(cfg, system, user, PlannerReply, timeout=5) == PriorAttempt(failure="connect")


def test_the_wire_module_imports_nothing_heavy():
    code = "import sys, sovereign.adapters.nim_wire, sovereign.llm; print(sorted(m for m in ('langgraph', 'langchain_core', 'numpy', 'sklearn', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.fixture(autouse=True)
def _no_leftover_prefetch():
    yield
    llm._prefetched.clear()
