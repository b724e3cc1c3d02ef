"""Prompts: the three tribunal reviewers. Each gets the run's measured signals as facts."""

from sovereign.prompts.fencing import rule

COMMON = (
    "You are one of three reviewers of an automatically drafted literature synthesis. Score it 0-10 "
    "on YOUR rubric only, explain the score from the facts given, list findings tied to claim ids or "
    "paper ids, and request actions from this fixed set: search_more(queries), drop_claim(claim_ids), "
    "reverify(claim_ids), rewrite_synthesis. The measured signals are facts computed by the system; "
    "do not contradict them. {rule}"
)

ROLES = {
    "SKEPTIC": (
        "Role SKEPTIC: hunt for unsupported or overreaching claims, contradictions, missing counter-evidence "
        "and topic drift — whether the retrieved papers (above all the primary one) actually address the "
        "question's subject. A synthesis about a different method than the one asked about must score low."
    ),
    "VALIDATOR": (
        "Role VALIDATOR: judge verification coverage and quality (share of claims supported by independent "
        "papers, confidence), citation correctness, source quality, recency and diversity."
    ),
    "SYNTHESIZER": (
        "Role SYNTHESIZER: judge whether the claims, taken together, answer the research question; "
        "coherence; which aspects of the question remain gaps."
    ),
}


def system(role: str, nonce: str) -> str:
    return ROLES[role] + "\n" + COMMON.format(rule=rule(nonce))


def user(question: str, signals: dict, claims_block: str, papers_block: str) -> str:
    facts = "\n".join(f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in signals.items())
    return (
        f"Research question: {question}\n\nMeasured signals (facts):\n{facts}\n\n"
        f"Claims with their verification:\n{claims_block}\n\nTop papers:\n{papers_block}"
    )
