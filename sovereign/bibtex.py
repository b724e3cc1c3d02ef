"""BibTeX for the report's references (pure)."""

from __future__ import annotations

import re
import unicodedata

from sovereign.graph.state import Report, ReportPaper


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _escape(text: str) -> str:
    text = text.replace("\\", "\\textbackslash{}")
    for ch in "&%$#_":
        text = text.replace(ch, "\\" + ch)
    return text.replace("{", "\\{").replace("}", "\\}")


def cite_key(p: ReportPaper, taken: set[str]) -> str:
    last = _ascii(p.authors[0].split()[-1]) if p.authors else "anon"
    word = next((w for w in re.findall(r"[A-Za-z]+", _ascii(p.title)) if len(w) > 3), "paper")
    base = re.sub(r"[^a-z0-9]", "", f"{last}{p.year or ''}{word}".lower()) or "ref"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}{chr(ord('a') + n - 2)}" if n <= 27 else f"{base}{n}"
    taken.add(key)
    return key


def entry(p: ReportPaper, key: str) -> str:
    fields = [("title", "{" + _escape(p.title) + "}"), ("author", " and ".join(_escape(a) for a in p.authors) or "Unknown")]
    if p.year:
        fields.append(("year", str(p.year)))
    arxiv = re.fullmatch(r"\d{4}\.\d{4,5}|[a-z\-]+(\.[A-Z]{2})?/\d{7}", p.id)
    if arxiv:
        fields += [("eprint", p.id), ("archivePrefix", "arXiv")]
    if p.doi:
        fields.append(("doi", p.doi))
    if p.url:
        fields.append(("url", p.url))
    kind = "misc" if arxiv and not p.doi else "article"
    body = ",\n".join(f"  {k} = {{{v}}}" if k != "title" else f"  {k} = {{{v}}}" for k, v in fields)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def to_bibtex(report: Report) -> str:
    by_id = {p.id: p for p in report.papers}
    taken: set[str] = set()
    entries = [entry(by_id[i], cite_key(by_id[i], taken)) for i in report.reference_ids if i in by_id]
    return "\n".join(entries)
