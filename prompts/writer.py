"""Prompt: report writer (abstract and answer)."""

from sovereign.prompts.fencing import rule

SYSTEM = (
    "You write the abstract of a short literature synthesis. Use only the verified facts given: say "
    "what the evidence supports, what is contradicted and what stays unsupported, citing claim ids like "
    "[C1]. 80-160 words, plain prose, no headings, no claims beyond the facts. Also write a two-sentence "
    "direct answer to the research question, hedged as the evidence requires. {rule}"
)


def system(nonce: str) -> str:
    return SYSTEM.format(rule=rule(nonce))


def user(question: str, claims_block: str, primary: str) -> str:
    return f"Research question: {question}\nPrimary paper: {primary}\n\nClaims and verification:\n{claims_block}"
