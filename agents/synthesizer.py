"""Synthesizer: aggregates the three reviews of a round into one score, a verdict and a policy.

Aggregation rule: weighted mean SKEPTIC 0.40, VALIDATOR 0.35, SYNTHESIZER 0.25; the SKEPTIC has a
veto: when it scores below 5, the aggregate is at most its score + 1.
Verdict: ACCEPT at or above ``revision_threshold``; below it REVISE while revision rounds are
left, else FAIL.
Policy (configurable thresholds), first rule that matches:
  REJECT            score < reject_threshold, or no papers, or no claims;
  PUBLISH           score >= publish_threshold, share of claims verified by an independent paper
                    >= min_verified_ratio, no topic drift,
                    and the primary paper mentions every entity the question names;
  ESCALATE_TO_OWNER otherwise, with the reasons listed.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from sovereign.graph.configuration import Configuration
from sovereign.graph.state import ResearchState, Review, TribunalRound

WEIGHTS = {"SKEPTIC": 0.40, "VALIDATOR": 0.35, "SYNTHESIZER": 0.25}
VETO_BELOW = 5.0


def aggregate(reviews: list[Review]) -> float:
    by_role = {r.role: r for r in reviews}
    total_w = sum(WEIGHTS[r] for r in by_role)
    if not total_w:
        return 0.0
    score = sum(WEIGHTS[role] * r.score for role, r in by_role.items()) / total_w
    skeptic = by_role.get("SKEPTIC")
    if skeptic and skeptic.score < VETO_BELOW:
        score = min(score, skeptic.score + 1.0)
    return round(score, 2)


def decide_verdict(score: float, revision_round: int, cfg: Configuration) -> str:
    if score >= cfg.revision_threshold:
        return "ACCEPT"
    return "REVISE" if revision_round < cfg.max_revision_rounds else "FAIL"


def decide_policy(score: float, signals: dict[str, float], cfg: Configuration) -> tuple[str, list[str]]:
    if signals.get("papers", 0) == 0:
        return "REJECT", ["no papers were retrieved"]
    if signals.get("claims", 0) == 0:
        return "REJECT", ["no claims could be extracted"]
    if score < cfg.reject_threshold:
        return "REJECT", [f"tribunal score {score:.1f} is below the reject threshold {cfg.reject_threshold}"]
    reasons = []
    if score < cfg.publish_threshold:
        reasons.append(f"tribunal score {score:.1f} is below the publish threshold {cfg.publish_threshold}")
    if signals.get("independent_ratio", 0) < cfg.min_verified_ratio:
        reasons.append(
            f"only {signals.get('independent_ratio', 0):.0%} of claims verified by an independent paper "
            f"(policy needs {cfg.min_verified_ratio:.0%})"
        )
    if signals.get("topic_drift", 0):
        reasons.append("topic drift: the primary paper does not address the question's subject")
    elif signals.get("entity_coverage", 1.0) < 1.0:
        reasons.append(f"the primary paper mentions only {signals['entity_coverage']:.0%} of the question's named entities")
    if reasons:
        return "ESCALATE_TO_OWNER", reasons
    return "PUBLISH", [f"tribunal score {score:.1f} meets the publish threshold {cfg.publish_threshold}"]


def synthesize(state: ResearchState, runtime: Runtime[Configuration]) -> dict:
    cfg = Configuration.from_runtime(runtime)
    current = [r for r in state.reviews if r.round == state.revision_round]
    score = aggregate(current)
    verdict = decide_verdict(score, state.revision_round, cfg)
    signals = next((r.signals for r in current if r.signals), {})
    out: dict = {
        "score": score,
        "verdict": verdict,
        "rounds": state.rounds + [TribunalRound(round=state.revision_round, score=score, verdict=verdict, reviews=current)],
    }
    if verdict != "REVISE":
        out["policy"], out["policy_reasons"] = decide_policy(score, signals, cfg)
    return out
