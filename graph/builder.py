"""The research graph's topology — the only file that knows which node follows which.

    START -> plan -> search xN (Send) -> index -> extract -> verify
          -> review_skeptic | review_validator | review_synthesizer (parallel)
          -> synthesize -> revise -> search xN ... (while score < threshold and rounds left)
                        -> owner_review (interrupt when escalated and an owner is attached;
                                         "revise" from the owner -> one more round)
          -> report -> END

Node functions live in ``sovereign.agents`` (one module per agent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from sovereign.agents.extractor import extract
from sovereign.agents.owner import owner_review
from sovereign.agents.planner import plan
from sovereign.agents.reporter import report
from sovereign.agents.retriever import index, search
from sovereign.agents.reviser import revise
from sovereign.agents.synthesizer import synthesize
from sovereign.agents.tribunal import review_skeptic, review_synthesizer, review_validator
from sovereign.agents.verifier import verify
from langgraph.errors import GraphBubbleUp

from sovereign.concurrency import DEADLINE
from sovereign.redact import redact
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import InputState, ResearchState

REVIEWERS = {"review_skeptic": review_skeptic, "review_validator": review_validator, "review_synthesizer": review_synthesizer}


def timed(name: str, fn: Callable) -> Callable:
    """Wrap a node so that its wall time lands in ``state.timings[name]`` (summed over branches)."""

    def node(state, runtime: Runtime[Configuration]):
        t0 = time.perf_counter()
        token = DEADLINE.set(_deadline(state, runtime))
        try:
            out = fn(state, runtime) or {}
        except GraphBubbleUp:  # interrupts and other control flow pass through untouched
            raise
        except Exception as exc:
            # LangGraph stores a failed node's exception in the checkpoint (and the API serves it):
            # never let a secret quoted in an error body get there
            text = str(exc)
            if redact(text) != text:
                raise RuntimeError(redact(text)) from None
            raise
        finally:
            DEADLINE.reset(token)
        return {**out, "timings": {name: time.perf_counter() - t0}}

    node.__name__ = name
    node.__doc__ = fn.__doc__
    return node


def _deadline(state, runtime) -> float | None:
    """The run's deadline on the monotonic clock (from its wall-clock start and the configuration)."""
    started = getattr(state, "started_at", None) if not isinstance(state, dict) else state.get("started_at")
    started = started or time.time()  # the plan node runs before started_at is recorded
    cfg = Configuration.from_runtime(runtime)
    return time.monotonic() + (started + cfg.deadline_seconds - time.time())


def fan_out_search(state: ResearchState) -> list[Send]:
    """One parallel ``search`` branch per query of the current round."""
    return [Send("search", {"query": q, "round": state.revision_round, "started_at": state.started_at}) for q in state.round_queries]


def after_synthesize(state: ResearchState) -> str:
    return "revise" if state.verdict == "REVISE" else "owner_review"


def after_owner(state: ResearchState) -> str:
    return "revise" if state.owner is not None and state.owner.decision == "revise" and state.policy is None else "report"


def after_revise(state: ResearchState) -> list[Send] | str:
    return fan_out_search(state) if state.round_queries else "verify"


def build_graph(checkpointer=None, **compile_kwargs):
    """Compile the research graph. Pass a checkpointer for durable runs and owner interrupts."""
    g = StateGraph(ResearchState, context_schema=Configuration, input_schema=InputState)
    nodes = {
        "plan": plan, "search": search, "index": index, "extract": extract, "verify": verify,
        **REVIEWERS, "synthesize": synthesize, "revise": revise, "owner_review": owner_review, "report": report,
    }
    for name, fn in nodes.items():
        g.add_node(name, timed(name, fn))
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out_search, ["search"])
    g.add_edge("search", "index")
    g.add_edge("index", "extract")
    g.add_edge("extract", "verify")
    for reviewer in REVIEWERS:
        g.add_edge("verify", reviewer)
    g.add_edge(list(REVIEWERS), "synthesize")
    g.add_conditional_edges("synthesize", after_synthesize, ["revise", "owner_review"])
    g.add_conditional_edges("revise", after_revise, ["search", "verify"])
    g.add_conditional_edges("owner_review", after_owner, ["revise", "report"])
    g.add_edge("report", END)
    return g.compile(checkpointer=checkpointer, name="research", **compile_kwargs)


if os.environ.get("NVIDIA_API_KEY") or os.environ.get("NVIDIA_BASE_URL"):
    # NIM is configured: load its client library and build the default client now, rather than on
    # the first run's critical path (a run with other model settings builds its own)
    import langchain_nvidia_ai_endpoints  # noqa: F401

    try:
        from sovereign.adapters.nim import nim_client

        nim_client(Configuration())
    except Exception:  # a bad setting is reported by the run that uses it
        pass

graph = build_graph()
"""The graph named ``research`` in langgraph.json (no checkpointer: the server provides one)."""
