"""Library API: ``run_research(question, **config) -> Report``."""

from __future__ import annotations

from typing import Any

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import InputState, Report


def validate_request(question: str, **config: Any) -> tuple[str, Configuration]:
    """Validate the question and the configuration before any work (raises pydantic ValidationError)."""
    q = InputState(question=question).question
    cfg = Configuration(**config)
    if "local" in cfg.sources:
        from sovereign.adapters.corpus import load_corpus

        load_corpus(cfg.corpus_path)  # CorpusError when missing or unreadable
    if cfg.output_dir:
        from sovereign.output import check_output_dir

        check_output_dir(cfg.output_dir)
    return q, cfg


def run_research(question: str, *, graph=None, thread_id: str | None = None, **config: Any) -> Report:
    """Run the research graph on ``question`` and return the typed report.

    Keyword arguments are :class:`~sovereign.graph.configuration.Configuration` fields
    (e.g. ``n_queries=6, provider="offline", output_dir="out/x"``).
    """
    q, cfg = validate_request(question, **config)
    if graph is None:
        from sovereign.graph.builder import graph as default_graph

        graph = default_graph
    run_config: dict[str, Any] = {"recursion_limit": 100}
    if thread_id:
        run_config["configurable"] = {"thread_id": thread_id}
    result = graph.invoke({"question": q}, config=run_config, context=cfg)
    return Report.model_validate(result["report"])
