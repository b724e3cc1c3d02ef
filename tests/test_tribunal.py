"""The tribunal with a scripted model (FAKE reviewers behind the NIM-compatible loopback server):
the revision loop, max rounds, the policy and the two report forms."""

import threading

import pytest

from sovereign.adapters import nim as nim_adapter
from sovereign.agents.tribunal import measure_signals, skeptic_review
from sovereign.api import run_research
from sovereign.graph.configuration import Configuration

from conftest import ACCEPT_QUESTION, HIGH_SCORE_QUESTION, WALT_QUESTION
from fakes.nim_server import FakeNim


def reviewer_script(scores_by_round):
    """Reviewers answer scores_by_round[k] on their k-th call (all three roles alike)."""
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def script(role, system, user):
        if role not in ("SKEPTIC", "VALIDATOR", "SYNTHESIZER"):
            return None  # the default scripted planner/extractor/judge/writer
        with lock:
            k = calls.get(role, 0)
            calls[role] = k + 1
        score = scores_by_round[min(k, len(scores_by_round) - 1)]
        actions = [] if score >= 6.5 else [{"kind": "search_more", "queries": ["causal video tokenizer"], "claim_ids": [], "reason": "thin evidence"}]
        return {"score": score, "rationale": f"{role} says {score}", "findings": [{"text": "f", "claim_ids": ["C1"], "paper_ids": []}], "actions": actions}

    return script


def _review_overlap(nim):
    reviews = [r for r in nim.records if r.path == "chat" and "Role " in r.body["messages"][0]["content"]]
    first = sorted(reviews, key=lambda r: r.start)[:3]
    return max(r.start for r in first) < min(r.end for r in first)


def test_revision_runs_once_when_the_first_round_is_below_threshold_and_the_second_above(nim):
    nim.script = reviewer_script([5.0, 8.0])
    nim.latency = 0.05
    rep = run_research(WALT_QUESTION, provider="nim")
    rounds = rep.tribunal.rounds
    assert rep.tribunal.revision_round == 1 and len(rounds) == 2
    assert [r.score for r in rounds[0].reviews] == [5.0, 5.0, 5.0] and rounds[0].verdict == "REVISE"
    assert rounds[1].score == 8.0 and rep.tribunal.score == 8.0 and rep.tribunal.verdict == "ACCEPT"
    # the requested action changed the state: its query was searched in the revision round
    assert "causal video tokenizer" in rep.queries
    assert any("causal video tokenizer" in c for c in rounds[0].changes)
    assert _review_overlap(nim)  # the three reviewers' requests overlap in time


def test_the_loop_stops_at_max_rounds_and_escalates_with_the_draft_form(nim):
    nim.script = reviewer_script([5.0])
    rep = run_research(ACCEPT_QUESTION, provider="nim", max_revision_rounds=2, n_queries=2)
    assert rep.tribunal.revision_round == 2 and len(rep.tribunal.rounds) == 3
    assert [r.verdict for r in rep.tribunal.rounds] == ["REVISE", "REVISE", "FAIL"]
    assert rep.policy == "ESCALATE_TO_OWNER"
    assert "SOVEREIGN Research Kernel — Autonomous draft — Owner review required before publication" in rep.markdown
    assert "Tribunal: 5.0/10 → FAIL (revision_round=2). Policy: ESCALATE_TO_OWNER." in rep.markdown


def test_scores_below_the_reject_threshold_reject(nim):
    nim.script = reviewer_script([2.0])
    rep = run_research(ACCEPT_QUESTION, provider="nim", max_revision_rounds=0, n_queries=2)
    assert rep.policy == "REJECT" and "Rejected draft" in rep.markdown


def test_a_publishable_report_uses_the_synthesis_form():
    from sovereign.agents.reporter import DISCLAIMER

    rep = run_research(HIGH_SCORE_QUESTION, provider="offline", min_verified_ratio=0.0, max_revision_rounds=0)
    assert rep.policy == "PUBLISH"
    assert rep.markdown.count(DISCLAIMER) == 1
    assert f"This report synthesises findings from {len(rep.papers)} papers addressing the following research question" in rep.markdown


def test_offline_reviewers_compute_scores_from_signals_and_differ_by_role():
    rep = run_research(WALT_QUESTION, provider="offline", max_revision_rounds=0)
    reviews = {r.role: r for r in rep.tribunal.reviews}
    assert len({r.score for r in reviews.values()}) == 3  # three distinct rubrics
    assert "relevance" in reviews["SKEPTIC"].rationale and "Verified" in reviews["VALIDATOR"].rationale
    assert "cover" in reviews["SYNTHESIZER"].rationale


def test_unanswerable_questions_are_flagged_for_topic_drift():
    rep = run_research("What did the Juno mission learn about Jupiter's magnetic field?", provider="offline")
    assert any(u.startswith("Topic drift") for u in rep.uncertainties)
    assert rep.policy in ("ESCALATE_TO_OWNER", "REJECT")
    skeptic = next(r for r in rep.tribunal.rounds[0].reviews if r.role == "SKEPTIC")
    assert skeptic.score <= 3.0 and any("Topic drift" in f.text for f in skeptic.findings)
