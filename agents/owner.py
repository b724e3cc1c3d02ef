"""Owner review: when the policy escalates and an owner is attached (``owner_review=True`` at the
start of the run), the graph pauses with a LangGraph ``interrupt``. Resume it with
``Command(resume={"decision": "approve" | "reject" | "revise", "note": "..."})`` (a bare string
works too): approve -> PUBLISH, reject -> REJECT, revise -> one more revision round with the
owner's note as a requested action, then the tribunal and the policy run again."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import OwnerDecision, ResearchState


def parse_decision(value) -> OwnerDecision:
    if isinstance(value, OwnerDecision):
        return value
    if isinstance(value, str):
        value = {"decision": value.strip().lower()}
    if isinstance(value, dict) and isinstance(value.get("decision"), str):
        value = {**value, "decision": value["decision"].strip().lower()}
    return OwnerDecision.model_validate(value)


def draft_for_owner(state: ResearchState, cfg: Configuration) -> str:
    from sovereign.agents.reporter import build_report

    return build_report(state, cfg).markdown


def owner_review(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    # the flag is read from state (set when the run started), so a resume without the original
    # context still reaches the interrupt and receives the owner's answer
    if state.policy != "ESCALATE_TO_OWNER" or not state.owner_review:
        return {}
    cfg = Configuration.from_runtime(runtime)
    answer = interrupt(
        {
            "question": state.question,
            "policy": state.policy,
            "reasons": state.policy_reasons,
            "score": state.score,
            "revision_round": state.revision_round,
            "primary_paper": state.primary_id,
            "claims": len(state.claims),
            "draft": draft_for_owner(state, cfg),
            "ask": "resume with {'decision': 'approve' | 'reject' | 'revise', 'note': '...'}",
        }
    )
    decision = parse_decision(answer)
    reason = f"owner decision: {decision.decision}" + (f" ({decision.note})" if decision.note else "")
    if decision.decision == "revise":
        return {
            "owner": decision,
            "policy": None,
            "verdict": "REVISE",
            "owner_notes": state.owner_notes + [decision.note or state.question],
            "policy_reasons": state.policy_reasons + [reason],
        }
    return {
        "owner": decision,
        "policy": "PUBLISH" if decision.decision == "approve" else "REJECT",
        "policy_reasons": state.policy_reasons + [reason],
    }
