"""arXiv source: the arXiv API (Atom XML), relevance sort, polite spacing between requests."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

from sovereign.adapters import http
from sovereign.adapters.corpus import strip_arxiv_version
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Paper
from sovereign.text import content_tokens

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"

_lock = threading.Lock()
_last_request = 0.0


class ArxivFeedError(Exception):
    pass


def build_query(query: str, max_terms: int = 6) -> str:
    """arXiv search_query: the query's content words, all required, searched in all fields."""
    terms = content_tokens(query)[:max_terms] or [query.strip()]
    return " AND ".join(f"all:{t}" for t in terms)


def _entry_to_paper(entry: ET.Element) -> Paper | None:
    raw_id = (entry.findtext(f"{ATOM}id") or "").strip()
    if "/abs/" not in raw_id:
        return None  # an error entry
    arxiv_id = strip_arxiv_version(raw_id.split("/abs/", 1)[1])
    title = " ".join((entry.findtext(f"{ATOM}title") or "").split())
    if not arxiv_id or not title:
        return None
    published = (entry.findtext(f"{ATOM}published") or "").strip()[:10] or None
    year = int(published[:4]) if published and published[:4].isdigit() else None
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=title,
        abstract=" ".join((entry.findtext(f"{ATOM}summary") or "").split()),
        authors=[" ".join((a.findtext(f"{ATOM}name") or "").split()) for a in entry.findall(f"{ATOM}author")],
        published=published if year else None,
        year=year,
        categories=[c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")],
        doi=(entry.findtext(f"{ARXIV}doi") or "").strip() or None,
        url=f"https://arxiv.org/abs/{arxiv_id}",
        source="arxiv",
    )


def parse_feed(xml_text: str) -> list[Paper]:
    """Papers from an arXiv API Atom feed. Raises ArxivFeedError on malformed XML, on a document
    that is not an Atom feed, and on the API's own error entries; an entry that does not parse is
    skipped (the others are kept)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ArxivFeedError(f"malformed arXiv feed: {exc}") from None
    if root.tag != f"{ATOM}feed":
        raise ArxivFeedError(f"not an arXiv Atom feed (root element <{root.tag.rsplit('}', 1)[-1][:40]}>)")
    papers, errors = [], []
    for entry in root.findall(f"{ATOM}entry"):
        if "/api/errors" in (entry.findtext(f"{ATOM}id") or ""):
            errors.append(" ".join((entry.findtext(f"{ATOM}summary") or "unspecified").split())[:160])
            continue
        try:
            paper = _entry_to_paper(entry)
        except (ValueError, TypeError):  # pydantic ValidationError is a ValueError
            continue
        if paper is not None:
            papers.append(paper)
    if errors and not papers:
        raise ArxivFeedError(f"arXiv API error: {errors[0]}")
    return papers


def _pace(delay: float) -> None:
    global _last_request
    with _lock:
        wait = _last_request + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request = time.monotonic()


def search_arxiv(query: str, cfg: Configuration) -> list[tuple[Paper, float]]:
    _pace(cfg.arxiv_delay_seconds)
    response = http.get(
        cfg.arxiv_url,
        params={
            "search_query": build_query(query),
            "start": 0,
            "max_results": cfg.papers_per_query,
            "sortBy": "relevance",
            "sortOrder": "descending",
        },
    )
    papers = parse_feed(response.text)[: cfg.papers_per_query]
    n = max(len(papers), 1)
    return [(p, 1.0 - i / n) for i, p in enumerate(papers)]
