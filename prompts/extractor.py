"""Prompt: claim extractor."""

from sovereign.prompts.fencing import fence, rule

SYSTEM = (
    "You extract atomic claims from a paper for a literature review. An atomic claim is one checkable "
    "statement the paper makes (method, design choice, result, comparison), written as one sentence that "
    "names its subject (no 'it', 'this paper'). Extract only what the paper text states; no numbers that "
    "are not in the text. Prefer claims relevant to the research question. {rule}"
)


def user(question: str, paper_id: str, title: str, abstract: str, k: int, nonce: str) -> str:
    return (
        f"Research question: {question}\n"
        f"Extract at most {k} atomic claims from paper {paper_id}.\n"
        + fence([(paper_id, f"Title: {title}\n{abstract}")], nonce)
    )


def system(nonce: str) -> str:
    return SYSTEM.format(rule=rule(nonce))
