"""Durable CLI runs: thread ids, owner pause/resume, crash (kill -9) and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import ACCEPT_QUESTION, DRIFT_QUESTION, run_cli
from fakes.nim_server import FakeNim


def test_owner_pause_without_a_terminal_writes_the_draft_and_resumes_with_a_decision(tmp_path):
    out = tmp_path / "o"
    env = {"SOVEREIGN_STATE_DIR": str(tmp_path / "state")}
    first = run_cli("research", DRIFT_QUESTION, "--out", str(out), "--owner", "--thread-id", "owner-1", "--quiet", env=env)
    assert first.returncode == 3, first.stderr
    assert "owner review required" in first.stderr and "--resume owner-1" in first.stderr
    draft = (out / "report.md").read_text()
    assert "Autonomous draft — Owner review required before publication" in draft
    assert json.loads((out / "report.json").read_text())["policy"] == "ESCALATE_TO_OWNER"

    second = run_cli("research", "--resume", "owner-1", "--decision", "reject", "--note", "off topic", "--quiet", env=env)
    assert second.returncode == 0, second.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["policy"] == "REJECT" and rep["owner"] == {"decision": "reject", "note": "off topic"}
    assert "Rejected draft" in (out / "report.md").read_text()


def test_owner_revise_runs_one_more_round_with_the_note(tmp_path):
    out = tmp_path / "o"
    env = {"SOVEREIGN_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("research", DRIFT_QUESTION, "--out", str(out), "--owner", "--thread-id", "rev-1", "--quiet", env=env).returncode == 3
    rounds_before = len(json.loads((out / "report.json").read_text())["tribunal"]["rounds"])
    again = run_cli("research", "--resume", "rev-1", "--decision", "revise", "--note", "video diffusion LoRA fine-tuning", "--quiet", env=env)
    assert again.returncode == 3  # still escalated after the extra round: asks the owner again
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["tribunal"]["rounds"]) == rounds_before + 1
    changes = rep["tribunal"]["rounds"][rounds_before - 1]["changes"]
    assert changes[0] == "owner asked for a revision: video diffusion LoRA fine-tuning"
    assert "video diffusion LoRA fine-tuning" in rep["queries"]
    final = run_cli("research", "--resume", "rev-1", "--decision", "approve", "--quiet", env=env)
    assert final.returncode == 0 and json.loads((out / "report.json").read_text())["policy"] == "PUBLISH"


def test_thread_ids_are_printed_and_cannot_be_reused(tmp_path):
    env = {"SOVEREIGN_STATE_DIR": str(tmp_path / "state")}
    ok = run_cli("research", ACCEPT_QUESTION, "--out", str(tmp_path / "a"), "--thread-id", "t-1", env=env)
    assert ok.returncode == 0 and "thread t-1" in ok.stderr
    again = run_cli("research", ACCEPT_QUESTION, "--out", str(tmp_path / "b"), "--thread-id", "t-1", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr and not (tmp_path / "b").exists()
    bad = run_cli("research", "--resume", "does-not-exist", env=env)
    assert bad.returncode == 2 and "unknown thread" in bad.stderr


def _planner_calls(nim):
    return [r for r in nim.records if r.path == "chat" and "query planner" in _system(r)]


def _system(record) -> str:
    """The system prompt of a recorded chat request ("" for a request whose body never arrived
    whole, e.g. one the kill -9 cut short)."""
    messages = record.body.get("messages") or [{}]
    return messages[0].get("content", "")


def test_kill_9_mid_run_then_resume_repeats_no_finished_work(tmp_path):
    state = tmp_path / "state"
    with FakeNim(latency=0.25) as nim:
        env = {"NVIDIA_BASE_URL": nim.url, "SOVEREIGN_STATE_DIR": str(state), "SOVEREIGN_CACHE_DIR": str(tmp_path / "c1")}
        exe = Path(sys.executable).with_name("sovereign")
        args = [str(exe), "research", ACCEPT_QUESTION, "--out", str(tmp_path / "crash"), "--thread-id", "crash-1",
                "--max-revision-rounds", "0", "--quiet"]
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait until the verify step is under way (the judge calls start), then kill -9
        deadline = time.time() + 90
        while time.time() < deadline and not any("verify a claim" in _system(r) for r in nim.records if r.path == "chat"):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        done = {row[0] for row in sqlite3.connect(state / "checkpoints.sqlite3").execute("SELECT task_path FROM writes")}
        assert done  # steps were persisted before the kill
        before = len(nim.records)
        planner_before = len(_planner_calls(nim))
        resumed = subprocess.run([str(exe), "research", "--resume", "crash-1", "--quiet"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        after = nim.records[before:]
        assert len(_planner_calls(nim)) == planner_before == 1  # plan was not re-run
        assert not any("extract atomic claims" in _system(r) for r in after if r.path == "chat")
        crashed = json.loads((tmp_path / "crash" / "report.json").read_text())

        # the same run without a crash, fresh cache and state
        env2 = {**env, "SOVEREIGN_STATE_DIR": str(tmp_path / "state2"), "SOVEREIGN_CACHE_DIR": str(tmp_path / "c2")}
        clean = subprocess.run([str(exe), "research", ACCEPT_QUESTION, "--out", str(tmp_path / "clean"), "--max-revision-rounds", "0", "--quiet"],
                               env={**os.environ, **env2}, capture_output=True, text=True, timeout=120)
        assert clean.returncode == 0, clean.stderr
        uninterrupted = json.loads((tmp_path / "clean" / "report.json").read_text())
    for key in ("queries", "claims", "policy", "tribunal", "abstract", "references"):
        a, b = crashed[key], uninterrupted[key]
        if key == "tribunal":
            a, b = {k: v for k, v in a.items()}, {k: v for k, v in b.items()}
        assert a == b, (key, json.dumps(a, indent=1)[:3000], json.dumps(b, indent=1)[:3000])
    assert [p["id"] for p in crashed["papers"]] == [p["id"] for p in uninterrupted["papers"]]
