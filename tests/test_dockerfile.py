"""The checked-in Dockerfile is exactly what `langgraph dockerfile` generates from langgraph.json.

If this fails, langgraph.json, the project layout or the langgraph-cli version changed: run
`make dockerfile` and commit the new Dockerfile.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

CLI = REPO / ".venv" / "bin" / "langgraph"


def langgraph_cli() -> str:
    return str(CLI if CLI.exists() else Path(sys.executable).with_name("langgraph"))


def normalise(text: str) -> str:
    """What `make dockerfile` does after generating: the checkout's folder name becomes 'sovereign'."""
    import re

    return re.sub(rf"/deps/{re.escape(REPO.name)}(?=[/\" ]|$)", "/deps/sovereign", text, flags=re.M)


def test_checked_in_dockerfile_matches_a_fresh_generation(tmp_path):
    target = tmp_path / "Dockerfile"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
    proc = subprocess.run(
        [langgraph_cli(), "dockerfile", "-c", str(REPO / "langgraph.json"), str(target)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]  # no compose/.env side files
    checked_in = REPO / "Dockerfile"
    assert checked_in.is_file(), "no Dockerfile in the repo: run `make dockerfile`"
    assert checked_in.read_text() == normalise(target.read_text()), "Dockerfile is stale: run `make dockerfile`"


def test_dockerfile_serves_the_research_graph_from_the_project():
    text = (REPO / "Dockerfile").read_text()
    assert text.startswith("FROM langchain/langgraph-api:3.11")
    assert "ADD . /deps/sovereign" in text and "WORKDIR /deps/sovereign" in text
    assert '"research": "/deps/sovereign/graph/builder.py:graph"' in text


def test_make_dockerfile_target_runs_the_cli():
    proc = subprocess.run(["make", "-n", "dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ".venv/bin/langgraph dockerfile -c langgraph.json Dockerfile" in proc.stdout
