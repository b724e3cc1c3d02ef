"""Prompt: evidence judge (verifier)."""

from sovereign.prompts.fencing import fence, rule

SYSTEM = (
    "You verify a claim against evidence passages quoted from OTHER papers. Answer SUPPORTED only if a "
    "passage states the claim's content; CONTRADICTED if a passage states something incompatible with "
    "it; otherwise UNSUPPORTED (related but not enough). Quote, verbatim, the one passage sentence your "
    "label rests on, and give its id. {rule}"
)


def user(claim: str, passages: list[tuple[str, str]], nonce: str) -> str:
    return "Claim: " + claim + "\nEvidence passages:\n" + fence(passages, nonce)


def system(nonce: str) -> str:
    return SYSTEM.format(rule=rule(nonce))
