"""Sovereign research kernel: a LangGraph graph that turns a research question into a reviewed,
cited report. Public API: :func:`run_research`, :func:`build_graph`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["run_research", "build_graph", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from sovereign.api import run_research
    from sovereign.graph.builder import build_graph


def __getattr__(name: str) -> Any:
    # lazy: `sovereign --help` must not import langgraph, sklearn or faiss
    if name == "run_research":
        from sovereign.api import run_research

        return run_research
    if name == "build_graph":
        from sovereign.graph.builder import build_graph

        return build_graph
    raise AttributeError(name)
