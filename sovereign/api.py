"""Library API: ``run_research(question, **config) -> Report`` and its async twin
``arun_research``; ``sovereign.build_graph(checkpointer=None)`` for your own runs."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import InputState, Report


def _field_error(field: str, value: Any, message: str) -> ValidationError:
    """A pydantic ValidationError on one Configuration field (same shape as the model's own)."""
    error = PydanticCustomError("invalid_" + field, "{reason}", {"reason": message})  # no braces parsed in paths
    detail = InitErrorDetails(type=error, loc=(field,), input=value)
    return ValidationError.from_exception_data(Configuration.__name__, [detail])


def validate_request(question: str, **config: Any) -> tuple[str, Configuration]:
    """Validate the question and the configuration before any work.

    Raises pydantic ``ValidationError`` (one error, ``loc`` naming the field, a one-line ``msg``) for
    a bad question, an unknown or out-of-range knob, a missing or unreadable corpus file, and an
    output folder that is a file or cannot be written. Nothing is written.
    """
    q = InputState(question=question).question
    cfg = Configuration(**config)
    if "local" in cfg.sources:
        from sovereign.adapters.corpus import CorpusError, load_corpus

        try:
            load_corpus(cfg.corpus_path, snapshot=cfg.cache)
        except CorpusError as exc:
            raise _field_error("corpus_path", cfg.corpus_path, str(exc)) from exc
    if cfg.output_dir:
        from sovereign.output import OutputError, check_output_dir

        try:
            check_output_dir(cfg.output_dir)
        except OutputError as exc:
            raise _field_error("output_dir", cfg.output_dir, str(exc)) from exc
    return q, cfg


def _prepare(question: str, graph, thread_id: str | None, config: dict[str, Any]):
    """(graph, input, run config, context) for one run, validated before any work."""
    q, cfg = validate_request(question, **config)
    if graph is None:
        from sovereign.graph.builder import graph as default_graph

        graph = default_graph
    run_config: dict[str, Any] = {"recursion_limit": 100}
    if thread_id:
        run_config["configurable"] = {"thread_id": thread_id}
    return graph, {"question": q}, run_config, cfg


def run_research(question: str, *, graph=None, thread_id: str | None = None, **config: Any) -> Report:
    """Run the research graph on ``question`` and return the typed report.

    Keyword arguments are :class:`~sovereign.graph.configuration.Configuration` fields
    (e.g. ``n_queries=6, provider="offline", output_dir="out/x"``). Bad input raises a pydantic
    ``ValidationError`` before any work (see :func:`validate_request`).
    """
    graph, payload, run_config, cfg = _prepare(question, graph, thread_id, config)
    return Report.model_validate(graph.invoke(payload, config=run_config, context=cfg)["report"])


async def arun_research(question: str, *, graph=None, thread_id: str | None = None, **config: Any) -> Report:
    """Async :func:`run_research` (``await arun_research(...)`` in notebooks and async apps)."""
    graph, payload, run_config, cfg = _prepare(question, graph, thread_id, config)
    result = await graph.ainvoke(payload, config=run_config, context=cfg)
    return Report.model_validate(result["report"])
