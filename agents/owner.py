"""Owner review: when the policy escalates and an owner is attached (``owner_review=True``), the
graph pauses with a LangGraph ``interrupt``. Resume it with ``Command(resume={"decision":
"approve" | "reject", "note": "..."})`` (a bare "approve"/"reject" string works too)."""

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


def owner_review(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    if state.policy != "ESCALATE_TO_OWNER" or not cfg.owner_review:
        return {}
    answer = interrupt(
        {
            "question": state.question,
            "policy": state.policy,
            "reasons": state.policy_reasons,
            "score": state.score,
            "primary_paper": state.primary_id,
            "claims": len(state.claims),
            "ask": "approve or reject publication: resume with {'decision': 'approve'|'reject', 'note': '...'}",
        }
    )
    decision = parse_decision(answer)
    policy = "PUBLISH" if decision.decision == "approve" else "REJECT"
    return {
        "owner": decision,
        "policy": policy,
        "policy_reasons": state.policy_reasons + [f"owner decision: {decision.decision}" + (f" ({decision.note})" if decision.note else "")],
    }
