"""Installed layout: one import namespace, langgraph.json points at the graph."""

import json
import subprocess
import sys

from conftest import REPO


def test_one_import_namespace_no_top_level_graph_or_agents(tmp_path):
    code = (
        "import importlib.util as u, sovereign.graph.builder, sovereign.agents.planner;"
        "print(u.find_spec('graph') is None, u.find_spec('agents') is None, u.find_spec('prompts') is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


def test_langgraph_json_names_the_research_graph_file():
    spec = json.loads((REPO / "langgraph.json").read_text())
    assert list(spec["graphs"]) == ["research"]
    path, var = spec["graphs"]["research"].split(":")
    assert (REPO / path).is_file() and var == "graph"


def test_help_is_fast_because_heavy_modules_load_lazily(tmp_path):
    code = "import sys, sovereign.cli; sovereign.cli.build_parser(); print(sorted(m for m in ('langgraph','sklearn','faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
