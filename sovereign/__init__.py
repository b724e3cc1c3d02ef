"""Sovereign research kernel: a LangGraph graph that turns a research question into a reviewed,
cited report. Public API: :func:`run_research`, :func:`build_graph`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["run_research", "arun_research", "build_graph", "Report", "Configuration", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from sovereign.api import arun_research, run_research
    from sovereign.graph.builder import build_graph
    from sovereign.graph.configuration import Configuration
    from sovereign.graph.state import Report


def __getattr__(name: str) -> Any:
    # lazy: `sovereign --help` must not import langgraph, sklearn or faiss
    if name in ("run_research", "arun_research"):
        from sovereign import api

        return getattr(api, name)
    if name == "Report":
        from sovereign.graph.state import Report

        return Report
    if name == "Configuration":
        from sovereign.graph.configuration import Configuration

        return Configuration
    if name == "build_graph":
        from sovereign.graph.builder import build_graph

        return build_graph
    raise AttributeError(name)
