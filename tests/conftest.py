"""Shared fixtures. Every test runs on the embedded offline default: NIM variables are removed
from the environment so that provider=auto resolves to offline and nothing leaves the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WALT_QUESTION = (
    "How does the causal encoder design in W.A.L.T influence the trade-off between FVD scores and "
    "inference throughput in photorealistic video generation?"
)
DRIFT_QUESTION = "What LoRA rank works best for fine-tuning Wan2.1?"
ACCEPT_QUESTION = "What does LoRA change in a pretrained transformer?"
ACCEPT_PRIMARY = "2106.09685"
# offline, this one scores above the revision threshold in its first round (no revision)
HIGH_SCORE_QUESTION = "How does FlashAttention reduce memory traffic?"


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    for var in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "SOVEREIGN_CHAT_MODEL", "SOVEREIGN_EMBED_MODEL", "ARXIV_API_URL", "OPENALEX_API_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NVIDIA_USAGE_TELEMETRY_ENABLED", "false")
    monkeypatch.setenv("SOVEREIGN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOVEREIGN_STATE_DIR", str(tmp_path / "state"))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed ``sovereign`` console script as a user would."""
    exe = Path(sys.executable).with_name("sovereign")
    full_env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL")}
    full_env.setdefault("SOVEREIGN_STATE_DIR", os.environ.get("SOVEREIGN_STATE_DIR", ""))
    full_env.update(env or {})
    return subprocess.run(
        [str(exe), *args], cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def nim(monkeypatch):
    """A scripted NIM-compatible loopback server (FAKE model, real HTTP), set as NVIDIA_BASE_URL."""
    from fakes.nim_server import FakeNim
    from sovereign.adapters import nim as nim_adapter

    with FakeNim() as server:
        monkeypatch.setenv("NVIDIA_BASE_URL", server.url)
        nim_adapter._clients.clear()
        yield server
    nim_adapter._clients.clear()
