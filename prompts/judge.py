"""Prompt: evidence judge (verifier).

The claim is fenced like the passages: it was extracted from a paper (by a model or by the offline
extractor), so it is untrusted text too."""

from sovereign.prompts.fencing import fence, rule

SYSTEM = (
    "You verify a claim against evidence passages quoted from OTHER papers. Answer SUPPORTED only if a "
    "passage states the claim's content; CONTRADICTED if a passage states something incompatible with "
    "it; otherwise UNSUPPORTED (related but not enough). Quote, verbatim, the one passage sentence your "
    "label rests on, and give its id. The claim is the block with id \"claim\"; the passages are the "
    "other blocks. {rule}"
)

CLAIM_ID = "claim"


def user(claim: str, passages: list[tuple[str, str]], nonce: str) -> str:
    return "Claim:\n" + fence([(CLAIM_ID, claim)], nonce) + "\nEvidence passages:\n" + fence(passages, nonce)


def system(nonce: str) -> str:
    return SYSTEM.format(rule=rule(nonce))
