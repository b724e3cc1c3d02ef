"""The compiled graph on the offline default: topology, parallel branches, the revision loop."""

import pytest

from sovereign.graph.builder import build_graph, graph
from sovereign.graph.configuration import Configuration

from conftest import DRIFT_QUESTION, HIGH_SCORE_QUESTION, WALT_QUESTION


def _steps(question, **cfg):
    steps: dict[int, list[str]] = {}
    final = None
    for ev in graph.stream({"question": question}, context=Configuration(provider="offline", **cfg), stream_mode="debug"):
        if ev["type"] == "task":
            steps.setdefault(ev["step"], []).append(ev["payload"]["name"])
        if ev["type"] == "task_result" and ev["payload"]["name"] == "report":
            final = dict(ev["payload"]["result"])["report"]
    return steps, final


def test_search_fans_out_one_parallel_branch_per_query_and_reviews_run_in_parallel():
    steps, report = _steps(HIGH_SCORE_QUESTION, n_queries=4)
    search_steps = [s for s, names in steps.items() if "search" in names]
    assert steps[search_steps[0]] == ["search"] * 4  # four branches in ONE superstep
    review_step = next(s for s, names in steps.items() if "review_skeptic" in names)
    assert sorted(steps[review_step]) == ["review_skeptic", "review_synthesizer", "review_validator"]
    order = [names[0] for _, names in sorted(steps.items())]
    assert order[:5] == ["plan", "search", "index", "extract", "verify"]
    assert order[-3:] == ["synthesize", "owner_review", "report"]
    assert len(report["queries"]) == 4


def test_n_queries_changes_the_fan_out():
    steps, _ = _steps(WALT_QUESTION, n_queries=2)
    assert ["search", "search"] in steps.values()


def test_revision_loop_runs_exactly_once_when_first_score_is_below_threshold():
    steps, report = _steps(DRIFT_QUESTION)
    rounds = report["tribunal"]["rounds"]
    assert rounds[0]["score"] < 6.5 and rounds[0]["verdict"] == "REVISE"
    assert len(rounds) == 2 and rounds[1]["verdict"] in ("FAIL", "ACCEPT")
    assert sum(names.count("revise") for names in steps.values()) == 1
    assert sum(names.count("review_skeptic") for names in steps.values()) == 2
    # the round changed something: new queries were searched and are in the report
    assert rounds[0]["changes"] and "new queries" in rounds[0]["changes"][0]
    assert len(report["queries"]) > 4
    assert report["tribunal"]["revision_round"] == 1


def test_no_revision_when_first_score_is_high_enough():
    steps, report = _steps(HIGH_SCORE_QUESTION)
    assert report["tribunal"]["rounds"][0]["score"] >= 6.5
    assert not any("revise" in names for names in steps.values())
    assert report["tribunal"]["revision_round"] == 0


def test_max_revision_rounds_zero_disables_the_loop():
    steps, report = _steps(DRIFT_QUESTION, max_revision_rounds=0)
    assert not any("revise" in names for names in steps.values())
    assert report["tribunal"]["verdict"] == "FAIL"


def test_skeptic_catches_a_primary_paper_that_misses_the_question_subject():
    _, report = _steps(DRIFT_QUESTION)
    assert report["policy"] == "ESCALATE_TO_OWNER"
    assert any("Wan2.1" in r for r in report["policy_reasons"] + [x["rationale"] for x in report["tribunal"]["reviews"]]) or any(
        "named entities" in r for r in report["policy_reasons"]
    )
    skeptic = next(r for r in report["tribunal"]["rounds"][0]["reviews"] if r["role"] == "SKEPTIC")
    assert any("does not mention Wan2.1" in f["text"] for f in skeptic["findings"])


def test_graph_has_the_three_reviewers_and_no_checkpointer():
    nodes = set(graph.get_graph().nodes)
    assert {"plan", "search", "index", "extract", "verify", "review_skeptic", "review_validator",
            "review_synthesizer", "synthesize", "revise", "owner_review", "report"} <= nodes
    assert graph.checkpointer is None


def test_input_schema_needs_only_the_question():
    schema = graph.get_input_jsonschema()
    assert schema["required"] == ["question"] and list(schema["properties"]) == ["question"]


def test_owner_review_interrupts_and_resumes_with_a_decision():
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    g = build_graph(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t-owner"}}
    ctx = Configuration(provider="offline", owner_review=True)
    out = g.invoke({"question": DRIFT_QUESTION}, config=cfg, context=ctx)
    assert "__interrupt__" in out
    payload = out["__interrupt__"][0].value
    assert payload["policy"] == "ESCALATE_TO_OWNER" and payload["reasons"]
    final = g.invoke(Command(resume={"decision": "reject", "note": "off topic"}), config=cfg, context=ctx)
    assert final["report"]["policy"] == "REJECT"
    assert final["report"]["owner"] == {"decision": "reject", "note": "off topic"}
    assert "Owner decision: **reject**" in final["report"]["markdown"]
