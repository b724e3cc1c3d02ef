"""Local corpus adapter: reads JSONL paper records (the bundled corpus, a user's file, or the
public arXiv metadata snapshot format) into :class:`~sovereign.graph.state.Paper` objects."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sovereign.graph.state import Paper

BUNDLED_CORPUS_NAME = "corpus.jsonl"
_ARXIV_NEW = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}$")
_ARXIV_OLD = re.compile(r"^[a-z\-]+(?:\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}$")
_VERSION = re.compile(r"v\d+$")


class CorpusError(Exception):
    """The corpus cannot be used (missing, unreadable, or without a single valid record)."""


@dataclass(frozen=True)
class Corpus:
    path: str
    papers: tuple[Paper, ...]
    skipped: tuple[str, ...] = field(default_factory=tuple)  # one line per rejected record
    sanitized: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    """(paper id, instruction-like sentences removed from its title/abstract) — see prompts/fencing.py."""

    def sanitized_counts(self) -> dict[str, int]:
        return dict(self.sanitized)

    def problems(self) -> list[str]:
        """One line per problem met while reading the corpus, for the report's Uncertainties."""
        out = []
        if self.skipped:
            examples = "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")
            out.append(
                f"Corpus {os.path.basename(self.path)}: skipped {len(self.skipped)} unreadable or invalid record(s) "
                f"({examples}); the run used the other {len(self.papers)}."
            )
        return out

    def by_id(self) -> dict[str, Paper]:
        return {p.id: p for p in self.papers}


def bundled_corpus_path() -> str:
    return str(resources.files("sovereign.data").joinpath(BUNDLED_CORPUS_NAME))


def strip_arxiv_version(arxiv_id: str) -> str:
    return _VERSION.sub("", arxiv_id.strip())


def arxiv_month(arxiv_id: str) -> str | None:
    """'2312.06662' -> '2023-12'; 'hep-th/9711200' -> '1997-11'."""
    m = _ARXIV_NEW.match(arxiv_id) or _ARXIV_OLD.match(arxiv_id)
    if not m:
        return None
    yy, mm = int(m.group(1)), int(m.group(2))
    century = 1900 if yy >= 91 else 2000
    return f"{century + yy:04d}-{mm:02d}"


def is_arxiv_id(value: str) -> bool:
    return bool(_ARXIV_NEW.match(value) or _ARXIV_OLD.match(value))


def _authors(value) -> list[str]:
    if isinstance(value, list):
        out = []
        for a in value:
            if isinstance(a, str):
                out.append(a.strip())
            elif isinstance(a, (list, tuple)) and a:  # authors_parsed: [last, first, suffix]
                out.append(" ".join(x for x in (a[1], a[0]) if x).strip())
            elif isinstance(a, dict) and a.get("name"):
                out.append(str(a["name"]).strip())
        return [a for a in out if a]
    if isinstance(value, str):
        parts = re.split(r",\s*|\s+and\s+", value.replace("\n", " "))
        return [p.strip() for p in parts if p.strip()]
    return []


def _published(record: dict, arxiv_id: str | None) -> str | None:
    if record.get("published"):
        return str(record["published"])[:10]
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict) and versions[0].get("created"):
        try:
            return parsedate_to_datetime(versions[0]["created"]).date().isoformat()
        except (TypeError, ValueError):
            pass
    return arxiv_month(arxiv_id) if arxiv_id else None


def sanitize_text(title: str, abstract: str) -> tuple[str, str, int]:
    """Title and abstract without instruction-like sentences (prompt injection), and how many
    sentences were removed. See :mod:`sovereign.prompts.fencing`."""
    from sovereign.prompts.fencing import strip_instructions

    title, n_title = strip_instructions(title)
    abstract, n_abstract = strip_instructions(abstract)
    return title, abstract, n_title + n_abstract


def record_to_paper(record: dict) -> Paper:
    """Map one JSON record (our format or the arXiv snapshot format) to a Paper.

    Raises ``ValueError`` with a short reason when the record is unusable. Instruction-like
    sentences are removed from the title and abstract (``Paper`` objects never carry them); use
    :func:`record_to_paper_counted` to learn how many were.
    """
    return record_to_paper_counted(record)[0]


def record_to_paper_counted(record: dict) -> tuple[Paper, int]:
    """:func:`record_to_paper` and the number of instruction-like sentences removed."""
    if not isinstance(record, dict):
        raise ValueError("record is not a JSON object")
    raw_id = str(record.get("id") or record.get("arxiv_id") or "").strip()
    title = re.sub(r"\s+", " ", str(record.get("title") or "")).strip()
    if not raw_id:
        raise ValueError("record has no id")
    abstract = re.sub(r"\s+", " ", str(record.get("abstract") or record.get("summary") or "")).strip()
    title, abstract, removed = sanitize_text(title, abstract)
    if not title:
        raise ValueError(f"record {raw_id} has no title" + (" (it held only instruction-like text)" if removed else ""))
    arxiv_id = strip_arxiv_version(raw_id) if is_arxiv_id(strip_arxiv_version(raw_id)) else None
    pid = arxiv_id or raw_id
    categories = record.get("categories") or []
    if isinstance(categories, str):
        categories = categories.split()
    published = _published(record, arxiv_id)
    year = record.get("year")
    if year is None and published:
        year = int(published[:4])
    url = record.get("url") or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None)
    paper = Paper(
        id=pid,
        title=title,
        authors=_authors(record.get("authors") or record.get("authors_parsed") or []),
        abstract=abstract,
        year=int(year) if year is not None else None,
        published=published,
        categories=[str(c) for c in categories],
        doi=(str(record["doi"]).strip() or None) if record.get("doi") else None,
        url=url,
        arxiv_id=arxiv_id,
        openalex_id=record.get("openalex_id"),
        source="local",
        summary_source=record.get("summary_source"),
    )
    return paper, removed


def read_corpus(path: str) -> Corpus:
    """Read a JSONL corpus. Bad lines are skipped and listed in ``Corpus.skipped``."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if not p.is_file():
        raise CorpusError(f"corpus path is not a file: {path}")
    papers: dict[str, Paper] = {}
    skipped: list[str] = []
    sanitized: dict[str, int] = {}
    try:
        with p.open("r", encoding="utf-8", errors="strict") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    paper, removed = record_to_paper_counted(json.loads(line))
                except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
                    reason = str(exc).splitlines()[0][:120] if str(exc).strip() else exc.__class__.__name__
                    skipped.append(f"line {lineno}: {reason}")
                    continue
                if paper.id not in papers:
                    papers[paper.id] = paper
                    if removed:
                        sanitized[paper.id] = removed
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read corpus {path}: {exc.__class__.__name__}") from exc
    if not papers:
        raise CorpusError(f"corpus {path} holds no valid paper records")
    return Corpus(path=str(p), papers=tuple(papers.values()), skipped=tuple(skipped), sanitized=tuple(sanitized.items()))


SNAPSHOT_MIN_BYTES = 4 << 20
"""Corpora from this size on (about 4,000 papers) are read through a snapshot (below)."""
SNAPSHOT_DIR = "corpus-snapshots"


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=8)
def file_sha256(path: str, mtime_ns: int, size: int) -> str:
    """:func:`sha256_file` memoised per path, mtime and size (the corpus reader and the local
    index both check a corpus file's digest)."""
    return sha256_file(path)


def _reader_version() -> str:
    """What determines the papers read from given bytes: this reader, the sanitiser and the
    Paper model. A snapshot made by another version is never used."""
    import hashlib

    from sovereign.prompts import fencing

    h = hashlib.sha256()
    for module_file in (__file__, fencing.__file__):
        h.update(Path(module_file).read_bytes())
    h.update(json.dumps(Paper.model_json_schema(), sort_keys=True).encode())
    return h.hexdigest()


def _snapshot_folder(path: str) -> Path:
    import hashlib

    from sovereign.adapters.cache import cache_dir

    return cache_dir() / SNAPSHOT_DIR / hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def read_corpus_snapshotted(path: str, mtime_ns: int, size: int) -> Corpus:
    """:func:`read_corpus` for large files, through a snapshot of the papers it read.

    Reading a 100k-paper JSONL means folding whitespace and screening 200k titles and abstracts
    for prompt injection (~8 s); the papers that come out depend only on the file's bytes and the
    reader's version. So the first read writes them, already clean, to the cache folder
    (``corpus-snapshots/``: papers as JSON lines plus a manifest with the file's SHA-256, the
    reader's version, the skipped lines and sanitised counts), and later reads load them (~1 s at
    100k) after checking file digest and version. Anything wrong with a snapshot means a normal
    read (and a new snapshot); a cache folder that cannot be written just means no snapshot."""
    if size < SNAPSHOT_MIN_BYTES:
        return read_corpus(path)
    try:
        digest = file_sha256(path, mtime_ns, size)
    except OSError as exc:
        raise CorpusError(f"cannot read corpus {path}: {exc.__class__.__name__}") from exc
    key = {"file_sha256": digest, "reader": _reader_version()}
    folder = _snapshot_folder(path)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("key") == key:
            with open(folder / "papers.jsonl", "r", encoding="utf-8") as fh:
                papers = tuple(Paper.model_validate_json(line) for line in fh)
            if len(papers) == manifest.get("papers"):
                return Corpus(
                    path=path, papers=papers, skipped=tuple(manifest.get("skipped", [])),
                    sanitized=tuple((str(i), int(n)) for i, n in manifest.get("sanitized", [])),
                )
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    corpus = read_corpus(path)
    _write_snapshot(folder, key, corpus)
    return corpus


def _write_snapshot(folder: Path, key: dict, corpus: Corpus) -> None:
    import shutil
    import tempfile

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            with open(tmp / "papers.jsonl", "w", encoding="utf-8") as fh:
                for paper in corpus.papers:
                    fh.write(paper.model_dump_json() + "\n")
            manifest = {"key": key, "path": corpus.path, "papers": len(corpus.papers), "skipped": list(corpus.skipped),
                        "sanitized": [list(x) for x in corpus.sanitized]}
            (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass  # no snapshot: the next process reads the file again


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int, snapshot: bool) -> Corpus:
    return read_corpus_snapshotted(path, mtime_ns, size) if snapshot else read_corpus(path)


def load_corpus(path: str | None = None, snapshot: bool = True) -> Corpus:
    """Load (and cache per process) the corpus at ``path``, or the bundled one; ``snapshot``:
    read a large file through its snapshot in the cache folder (:func:`read_corpus_snapshotted`;
    runs pass their ``cache`` setting)."""
    path = path or bundled_corpus_path()
    try:
        st = os.stat(path)
    except OSError:
        raise CorpusError(f"corpus file not found: {path}") from None
    if not os.access(path, os.R_OK):
        raise CorpusError(f"corpus file is not readable: {path}")
    return _cached(os.path.abspath(path), st.st_mtime_ns, st.st_size, snapshot)
