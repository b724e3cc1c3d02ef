"""Fault matrix: every way the outside world can fail a run, in one table.

Each case arranges one fault with loopback servers (tests/fakes) or damaged files, runs the real
CLI (``sovereign.cli.main`` in-process, or the installed console script where a hang must be bounded
from outside), and asserts one of three endings:

* ``report``  — exit 0, report.md + report.json + references.bib written, and the report's
  Uncertainties name the degradation (a regex per case); never a traceback;
* ``error``   — exit 1, exactly one stderr line that carries the thread id and
  ``--resume THREAD``; no half-written report; resuming (to another folder) then finishes the run;
* ``refused`` — exit 2, one stderr line, nothing written, no thread created.

Retries are the adapters' own, with their backoff shortened (``fast_backoff``) except where a
case is about the wait itself (Retry-After); backoff timing is tested in test_nim.py. The
recovered-after-retry cases (a 429 or 503 that passes on retry) live in test_nim.py and
test_sources.py; here every fault persists, so the run must degrade and say so.

Below the matrix: bad input (exit 2 / pydantic errors, CLI and library alike) and the output
folder that fills up on a real tiny filesystem.
"""

from __future__ import annotations

import json
import re
import socketserver
import sqlite3
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from sovereign.adapters import arxiv_source, http, local_source
from sovereign.adapters import nim as nim_adapter
from sovereign.adapters.corpus import load_corpus
from sovereign.api import run_research
from sovereign.cli import main

from conftest import ACCEPT_QUESTION, run_cli
from fakes import corpora
from fakes.faulty import Answer, ScriptedHttp, always, closed_port_url, enospc_on_write, full_dir, readonly_dir
from fakes.nim_server import FakeNim, Fault
from fakes.sources import FakeArxiv, FakeOpenAlex, openalex_work

Q = ACCEPT_QUESTION  # "What does LoRA change in a pretrained transformer?"
SMALL = ["--n-queries", "2", "--max-revision-rounds", "0", "--quiet"]
FOREVER = 10_000  # a fault that never clears


# ----------------------------------------------------------------------------- plumbing


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Exponential backoff shortened to 10 ms; Retry-After is still honoured as sent."""

    def nim_wait(state):
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, nim_adapter.NimHttpError) and exc.retry_after is not None:
            return exc.retry_after
        return 0.01

    def http_wait(state):
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, http.HttpStatusError) and exc.retry_after is not None:
            return exc.retry_after
        return 0.01

    monkeypatch.setattr(socketserver.BaseServer, "handle_error", lambda self, request, address: None)  # fakes: quiet
    monkeypatch.setattr(nim_adapter, "_wait", nim_wait)
    monkeypatch.setattr(http, "_wait", http_wait)
    monkeypatch.setattr(arxiv_source, "_pace", lambda delay: None)  # arXiv's 3 s politeness: test_sources
    nim_adapter._clients.clear()
    yield
    nim_adapter._clients.clear()


@dataclass
class Ctx:
    """What a case's ``arrange`` fills in: CLI options, environment, or library kwargs."""

    tmp: Path
    stack: ExitStack
    monkeypatch: pytest.MonkeyPatch
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api: dict | None = None  # run through run_research(**api) instead of the CLI
    fakes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    id: str
    fault: str
    expect: str  # report | error | refused
    names: str  # regex: what the Uncertainties (or the error line) must say
    arrange: Callable[[Ctx], None]
    check: Callable[[Ctx], None] | None = None


def research(capsys, ctx: Ctx, out: Path, question: str = Q, extra: list[str] | None = None) -> tuple[int, str, str]:
    argv = ["research", question, "--out", str(out), *SMALL, *ctx.args, *(extra or [])]
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def uncertainties_of(out: Path) -> list[str]:
    md = (out / "report.md").read_text()
    section = md.split("## 4 Uncertainties", 1)[1].split("## 5", 1)[0]
    lines = [line[2:] for line in section.strip().splitlines() if line.startswith("- ")]
    rep = json.loads((out / "report.json").read_text())
    assert lines == [u.replace("\n", " ") for u in rep["uncertainties"]] or lines == rep["uncertainties"]
    return lines


def small_corpus(tmp: Path, n: int = 120, extra_lines: list[str] = ()) -> Path:
    return corpora.small_corpus(tmp, n, list(extra_lines))


def fresh_local_index() -> None:
    """Forget the in-process local searchers, so the next run loads (or rebuilds) from disk."""
    local_source._searchers.clear()


def index_files(cache: Path) -> Path:
    (slot,) = [p for p in (cache / "local-index").iterdir() if p.is_dir() and not p.name.startswith(".")]
    return slot


# ----------------------------------------------------------------------------- arrangements


def nim(*faults: Callable[[], Fault]):
    def arrange(ctx: Ctx) -> None:
        server = ctx.stack.enter_context(FakeNim())
        server.faults.extend(f() for f in faults)
        ctx.env["NVIDIA_BASE_URL"] = server.url
        ctx.fakes["nim"] = server

    return arrange


def nim_refused(ctx: Ctx) -> None:
    ctx.env["NVIDIA_BASE_URL"] = closed_port_url("/v1")


def nim_timeouts(ctx: Ctx) -> None:
    nim(lambda: Fault(path="chat", delay=1.5, times=FOREVER))(ctx)
    ctx.api = {"nim_timeout_seconds": 0.3, "nim_max_attempts": 2}  # not CLI options: library surface


def scripted(source: str, answer: Answer, also_local: bool = True):
    def arrange(ctx: Ctx) -> None:
        server = ctx.stack.enter_context(ScriptedHttp(always(answer)))
        ctx.fakes["http"] = server
        if source == "arxiv":
            ctx.env["ARXIV_API_URL"] = server.arxiv_url
        else:
            ctx.env["OPENALEX_API_URL"] = server.url
        ctx.args += ["--sources", f"local,{source}" if also_local else source]

    return arrange


def source_timeout(ctx: Ctx) -> None:
    scripted("arxiv", Answer(delay=3.0, body="<feed/>"))(ctx)
    ctx.monkeypatch.setattr(http, "TIMEOUT", httpx.Timeout(0.3))


def openalex_refused(ctx: Ctx) -> None:
    ctx.env["OPENALEX_API_URL"] = closed_port_url()
    ctx.args += ["--sources", "local,openalex"]


def arxiv_empty(ctx: Ctx) -> None:
    server = ctx.stack.enter_context(FakeArxiv(entries=[]))
    ctx.env["ARXIV_API_URL"] = server.url
    ctx.args += ["--sources", "arxiv"]


def arxiv_malformed(ctx: Ctx) -> None:
    server = ctx.stack.enter_context(FakeArxiv(raw='<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><id>'))
    ctx.env["ARXIV_API_URL"] = server.url
    ctx.args += ["--sources", "arxiv"]


def openalex_without_abstract(ctx: Ctx) -> None:
    works = [
        openalex_work("LoRA: Low-Rank Adaptation of Large Language Models", "", wid="W3119", year=2021),
        openalex_work(
            "Parameter-efficient transfer learning for pretrained transformers",
            "Adapters change a pretrained transformer by inserting small trainable bottleneck layers while the "
            "pretrained weights stay frozen. LoRA instead adds trainable low-rank matrices to the attention weights.",
            wid="W2", year=2019,
        ),
    ]
    server = ctx.stack.enter_context(FakeOpenAlex(works))
    ctx.env["OPENALEX_API_URL"] = server.url
    ctx.args += ["--sources", "openalex"]


def corpus_with_bad_lines(ctx: Ctx) -> None:
    path = small_corpus(ctx.tmp, extra_lines=['{"id": "2401.00001", "title": "Truncated rec', "\x00\x01 not json", '["a list"]'])
    ctx.args += ["--corpus", str(path)]


def _built_index(ctx: Ctx, capsys) -> Path:
    """Run once on a small corpus so that its FAISS index is saved in the cache folder."""
    path = small_corpus(ctx.tmp)
    ctx.args += ["--corpus", str(path)]
    fresh_local_index()
    rc, _, err = research(capsys, ctx, ctx.tmp / "first")
    assert rc == 0, err
    slot = index_files(ctx.tmp / "cache")
    assert {"manifest.json", "dense.index"} <= {p.name for p in slot.iterdir()}
    fresh_local_index()
    return slot


def faiss_corrupt(capsys):
    def arrange(ctx: Ctx) -> None:
        slot = _built_index(ctx, capsys)
        data = bytearray((slot / "dense.index").read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
        (slot / "dense.index").write_bytes(bytes(data))

    return arrange


def faiss_truncated_manifest(capsys):
    def arrange(ctx: Ctx) -> None:
        slot = _built_index(ctx, capsys)
        text = (slot / "manifest.json").read_text()
        (slot / "manifest.json").write_text(text[: len(text) // 3])

    return arrange


def faiss_stale(capsys):
    def arrange(ctx: Ctx) -> None:
        _built_index(ctx, capsys)
        corpus = Path(ctx.args[ctx.args.index("--corpus") + 1])
        record = {"id": "2409.99999", "title": "A paper added after the index was built", "abstract": "It changes the corpus."}
        with corpus.open("a") as fh:  # the corpus changed since the index was saved
            fh.write(json.dumps(record) + "\n")

    return arrange


def search_cache_corrupt(ctx: Ctx) -> None:
    cache = ctx.tmp / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "cache.sqlite3").write_bytes(b"this is not a SQLite database" * 100)
    server = ctx.stack.enter_context(FakeArxiv())
    ctx.env["ARXIV_API_URL"] = server.url
    ctx.args += ["--sources", "local,arxiv"]


def output_full(ctx: Ctx) -> None:
    ctx.fakes["restore_output"] = enospc_on_write(ctx.monkeypatch)


def output_readonly(ctx: Ctx) -> None:
    folder = ctx.stack.enter_context(readonly_dir(ctx.tmp))
    if folder is None:
        pytest.skip("no folder here refuses writes (not root without mount, and chmod ignored)")
    ctx.fakes["out"] = folder / "report"


def nim_retry_after_beyond_deadline(ctx: Ctx) -> None:
    nim(lambda: Fault(path="chat", status=429, retry_after=6, times=FOREVER))(ctx)
    ctx.args += ["--deadline", "2"]


def deadline_model_never_answers(ctx: Ctx) -> None:
    nim(lambda: Fault(path="chat", delay=120, times=FOREVER))(ctx)
    ctx.args += ["--deadline", "3"]
    ctx.fakes["subprocess"] = True  # a hang must be bounded from outside the process


# ----------------------------------------------------------------------------- checks


def retry_after_was_honoured(ctx: Ctx) -> None:
    chats = sorted((r for r in ctx.fakes["nim"].records if r.path == "chat"), key=lambda r: r.start)
    planner = [r for r in chats if "query planner" in r.body["messages"][0]["content"]]
    assert len(planner) == 4  # nim_max_attempts
    gaps = [b.start - a.end for a, b in zip(planner, planner[1:])]
    assert min(gaps) >= 0.14, gaps  # Retry-After: 0.15


def sources_retry_after_was_honoured(ctx: Ctx) -> None:
    by_query: dict[str, list[float]] = {}
    for t, _, params in ctx.fakes["http"].requests:
        by_query.setdefault(params.get("search_query", ""), []).append(t)
    for times in by_query.values():
        assert len(times) == 4 and min(b - a for a, b in zip(times, times[1:])) >= 0.19, times


def every_role_fell_back(ctx: Ctx) -> None:
    rep = json.loads((ctx.fakes["out"] / "report.json").read_text())
    assert rep["provider"] == "nim"
    assert rep["agents"]["planner"] == "offline key-phrase planner" and rep["agents"]["writer"] == "offline template"
    assert all(r["reviewer"] == "offline rubric review" for r in rep["tribunal"]["reviews"])


def deadline_bounded(ctx: Ctx) -> None:
    assert ctx.fakes["elapsed"] < 3 + 12, f"the run took {ctx.fakes['elapsed']:.1f} s with --deadline 3"  # + start-up
    every_role_fell_back(ctx)


def within_deadline_2(ctx: Ctx) -> None:
    assert ctx.fakes["elapsed"] < 2 + 3, f"the run took {ctx.fakes['elapsed']:.1f} s with --deadline 2"


def papers_none(ctx: Ctx) -> None:
    rep = json.loads((ctx.fakes["out"] / "report.json").read_text())
    assert rep["papers"] == [] and rep["policy"] == "REJECT" and "no papers were retrieved" in rep["policy_reasons"]


def rebuilt_index_is_saved_again(ctx: Ctx) -> None:
    slot = index_files(ctx.tmp / "cache")
    fresh_local_index()
    searcher = local_source.searcher_for(load_corpus(ctx.args[ctx.args.index("--corpus") + 1]))
    assert searcher.source == "loaded" and not searcher.notes, searcher.notes  # the rebuilt index was saved again
    assert (slot / "manifest.json").is_file()


def corrupt_cache_moved_aside(ctx: Ctx) -> None:
    cache = ctx.tmp / "cache"
    assert list(cache.glob("cache.corrupt-*")), list(cache.iterdir())
    with sqlite3.connect(cache / "cache.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM kv").fetchone()[0] > 0  # the new cache works


# ----------------------------------------------------------------------------- the matrix

CASES = [
    # --- the model endpoint (provider=nim through NVIDIA_BASE_URL) ---
    Case("nim-429-retry-after", "every chat request answered 429, Retry-After: 0.15", "report",
         r"^Query planner: NIM chat call failed: NIM answered HTTP 429; used the offline algorithm instead\.$",
         nim(lambda: Fault(path="chat", status=429, retry_after=0.15, times=FOREVER)), retry_after_was_honoured),
    Case("nim-500", "every chat and embedding request answered 500", "report",
         r"^Embeddings: NIM embed call failed: NIM answered HTTP 500; ranked with the offline LSA embeddings instead\.$",
         nim(lambda: Fault(path="*", status=500, times=FOREVER)), every_role_fell_back),
    Case("nim-timeouts", "every chat request outlives the request timeout", "report",
         r"^Claim extractor \(2106\.09685\): NIM chat call failed: NIM request timed out; used the offline algorithm instead\.$",
         nim_timeouts, every_role_fell_back),
    Case("nim-connection-refused", "nothing listens at NVIDIA_BASE_URL", "report",
         r"^SKEPTIC reviewer: NIM chat call failed: cannot connect to the NIM endpoint; used the offline algorithm instead\.$",
         nim_refused, every_role_fell_back),
    Case("nim-unparsable-body", "HTTP 200 whose body is not JSON", "report",
         r"^Report writer: NIM chat call failed: NIM answered with a body that is not JSON; used the offline algorithm instead\.$",
         nim(lambda: Fault(path="chat", body="<html><body>502 Bad Gateway</body></html>", times=FOREVER)), every_role_fell_back),
    Case("nim-unparsable-json-reply", "the model's replies are prose, not JSON", "report",
         r"^Query planner: the model's reply could not be parsed after one repair attempt; used the offline algorithm instead\.$",
         nim(lambda: Fault(path="chat", content="Sure! Here is what you asked for: LoRA, adapters.", times=FOREVER)),
         every_role_fell_back),
    Case("nim-json-violates-schema", "the model's replies are JSON of the wrong shape", "report",
         r"^VALIDATOR reviewer: the model's reply could not be parsed after one repair attempt; used the offline algorithm instead\.$",
         nim(lambda: Fault(path="chat", content='{"score": 42, "verdict": "great", "queries": "not a list"}', times=FOREVER)),
         every_role_fell_back),
    Case("nim-retry-after-beyond-deadline", "429 with Retry-After: 6 s on every chat request; --deadline 2", "report",
         r"^Query planner: NIM chat call (failed: NIM answered HTTP 429|skipped: the run's deadline was reached); used the offline algorithm instead\.$",
         nim_retry_after_beyond_deadline, within_deadline_2),
    Case("nim-never-answers-deadline", "no chat request is ever answered; --deadline 3", "report",
         r"NIM chat call skipped: the run's deadline was reached; used the offline algorithm instead\.$",
         deadline_model_never_answers, deadline_bounded),
    # --- the paper sources (provider offline) ---
    Case("arxiv-429-retry-after", "arXiv answers 429, Retry-After: 0.2, to every request", "report",
         r"^Source problem: arxiv search failed for '.+': HTTP 429 from http://127\.0\.0\.1:\d+/api/query$",
         scripted("arxiv", Answer(status=429, body="Rate exceeded.", content_type="text/plain", headers={"Retry-After": "0.2"})),
         sources_retry_after_was_honoured),
    Case("openalex-500", "OpenAlex answers 500 to every request", "report",
         r"^Source problem: openalex search failed for '.+': HTTP 500 from http://127\.0\.0\.1:\d+/works$",
         scripted("openalex", Answer(status=500, body='{"error": "internal"}'))),
    Case("arxiv-timeout", "arXiv never answers within the request timeout", "report",
         r"^Source problem: arxiv search failed for '.+': the request timed out \(ReadTimeout\)$",
         source_timeout),
    Case("openalex-connection-refused", "nothing listens at the OpenAlex URL", "report",
         r"^Source problem: openalex search failed for '.+': cannot connect to the source",
         openalex_refused),
    Case("openalex-unparsable-json", "OpenAlex answers 200 with a body that is not JSON", "report",
         r"^Source problem: openalex search failed for '.+': OpenAlex answered with unparsable JSON \(\d+ bytes\)$",
         scripted("openalex", Answer(body="<html>maintenance</html>"))),
    Case("openalex-json-violates-schema", "OpenAlex answers JSON without a works list", "report",
         r"^Source problem: openalex search failed for '.+': OpenAlex answered with JSON that is not a works list",
         scripted("openalex", Answer(body='{"results": {"title": "not a list"}, "meta": 1}'))),
    Case("all-sources-empty", "the only source returns nothing for every query", "report",
         r"^No paper was found for any query: arxiv returned no result for any of the 2 queries; the report has nothing to analyse\.$",
         arxiv_empty, papers_none),
    Case("arxiv-malformed-xml", "the only source answers truncated Atom XML", "report",
         r"^Source problem: arxiv search failed for '.+': malformed arXiv feed: ",
         arxiv_malformed, papers_none),
    Case("openalex-record-without-abstract", "an OpenAlex work has no abstract_inverted_index", "report",
         r"^Paper openalex:W3119 \(from openalex\) has no abstract: it was ranked on its title alone, and no claim or evidence can come from it\.$",
         openalex_without_abstract),
    # --- files ---
    Case("corpus-corrupted-lines", "three broken lines in the corpus file", "report",
         r"^Corpus corpus\.jsonl: skipped 3 unreadable or invalid record\(s\) \(line 121: .+; line 122: .+; line 123: .+\); the run used the other 120\.$",
         corpus_with_bad_lines),
    Case("search-cache-corrupt", "cache.sqlite3 is not a database", "report",
         r"^Cache: cache file .+cache\.sqlite3 was corrupt; moved aside and rebuilt\.$",
         search_cache_corrupt, corrupt_cache_moved_aside),
    Case("output-dir-full", "the disk fills up while the report is written (ENOSPC)", "error",
         r"cannot write the report to .+: No space left on device",
         output_full),
    Case("output-dir-read-only", "the output folder refuses writes (also as root)", "refused",
         r"output_dir: output folder is not writable: ",
         output_readonly),
]
# the FAISS cases need the capsys fixture to build their index first
FAISS_CASES = [
    ("faiss-index-corrupt", "dense.index damaged after it was saved",
     r"^Local index: the cached index in .+ was unusable \(dense\.index fails its checksum\); rebuilt it\.$", faiss_corrupt),
    ("faiss-manifest-truncated", "manifest.json cut short",
     r"^Local index: the cached index in .+ was unusable \(unreadable manifest \(JSONDecodeError\)\); rebuilt it\.$",
     faiss_truncated_manifest),
    ("faiss-index-stale", "the corpus changed after its index was saved",
     r"^Local index: the cached index in .+ was unusable \(stale: built for other corpus contents or settings\); rebuilt it\.$",
     faiss_stale),
]
ALL_IDS = [c.id for c in CASES] + [c[0] for c in FAISS_CASES]


def test_the_matrix_has_at_least_15_distinct_cases():
    assert len(set(ALL_IDS)) == len(ALL_IDS) >= 15


def _run_case(case: Case, tmp_path: Path, monkeypatch, capsys) -> None:
    with ExitStack() as stack:
        ctx = Ctx(tmp=tmp_path, stack=stack, monkeypatch=monkeypatch)
        case.arrange(ctx)
        for k, v in ctx.env.items():
            monkeypatch.setenv(k, v)
        out = ctx.fakes.get("out", tmp_path / "out")
        ctx.fakes["out"] = out
        t0 = time.monotonic()
        if ctx.fakes.get("subprocess"):
            proc = run_cli("research", Q, "--out", str(out), *SMALL, *ctx.args, env=ctx.env, timeout=60)
            rc, err = proc.returncode, proc.stderr
        elif ctx.api is not None:
            rep = run_research(Q, n_queries=2, max_revision_rounds=0, output_dir=str(out), **ctx.api)
            rc, err = 0, ""
            assert rep.markdown == (out / "report.md").read_text()
        else:
            rc, _, err = research(capsys, ctx, out)
        ctx.fakes["elapsed"] = time.monotonic() - t0
        assert "Traceback" not in err, err

        if case.expect == "report":
            assert rc == 0, err
            for name in ("report.md", "report.json", "references.bib"):
                assert (out / name).is_file(), name
            notes = uncertainties_of(out)
            assert any(re.search(case.names, n) for n in notes), "\n".join(notes)
        elif case.expect == "error":
            assert rc == 1, err
            lines = err.strip().splitlines()
            assert len(lines) == 1, err
            m = re.search(r"\(thread (\S+); resume with: sovereign research --resume (\S+)\)$", lines[0])
            assert m and m.group(1) == m.group(2), lines[0]
            assert re.search(case.names, lines[0]), lines[0]
            leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
            assert leftovers == [], leftovers  # nothing half-written: no report.md without report.json, no temp files
            # the run is resumable once the disk has room again: it finishes into another folder
            ctx.fakes.pop("restore_output")()
            again = tmp_path / "out-after-resume"
            rc2 = main(["research", "--resume", m.group(1), "--out", str(again), "--quiet"])
            err2 = capsys.readouterr().err
            assert rc2 == 0, err2
            assert json.loads((again / "report.json").read_text())["question"] == Q
        else:  # refused
            assert rc == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sovereign: error: ") and re.search(case.names, lines[0]), err
            assert not out.exists()
            assert not list((tmp_path / "state").glob("threads/*.json"))
        if case.check:
            case.check(ctx)


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[c.id for c in CASES],
)
def test_fault(case, tmp_path, monkeypatch, capsys):
    _run_case(case, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("fid, fault, names, arrange", FAISS_CASES, ids=[c[0] for c in FAISS_CASES])
def test_faiss_cache_fault(fid, fault, names, arrange, tmp_path, monkeypatch, capsys):
    case = Case(fid, fault, "report", names, arrange(capsys), rebuilt_index_is_saved_again)
    try:
        _run_case(case, tmp_path, monkeypatch, capsys)
    finally:
        fresh_local_index()


# ----------------------------------------------------------------------------- the disk really fills up


def test_a_real_full_filesystem_ends_in_exit_1_with_the_thread_id_and_nothing_half_written(tmp_path, capsys):
    """The same ending as the in-process ENOSPC case, on a 16 KiB tmpfs (root only)."""
    with full_dir(tmp_path) as folder:
        if folder is None:
            pytest.skip("cannot mount a tiny tmpfs here (needs root and mount)")
        out = folder / "report"
        rc = main(["research", Q, "--out", str(out), *SMALL])
        err = capsys.readouterr().err
        assert rc == 1 and "Traceback" not in err, err
        (line,) = err.strip().splitlines()
        assert "No space left on device" in line
        tid = re.search(r"--resume (\S+)\)$", line).group(1)
        assert sorted(p.name for p in folder.rglob("*")) == []  # no report.md without report.json, no temp file, no folder
    again = tmp_path / "elsewhere"
    assert main(["research", "--resume", tid, "--out", str(again), "--quiet"]) == 0
    assert (again / "report.md").is_file() and (again / "report.json").is_file()


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    enospc_on_write(monkeypatch)
    from sovereign.output import OutputError

    with pytest.raises(OutputError, match="No space left on device"):
        main(["--debug", "research", Q, "--out", str(tmp_path / "out"), *SMALL])


# ----------------------------------------------------------------------------- bad input: exit 2, nothing written


def _bad_corpus(kind: str, tmp: Path) -> str:
    path = tmp / f"{kind}.jsonl"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00 not utf-8 \x80\x81\n")
    elif kind == "no-valid-record":
        path.write_text('{"id": "1"}\nnot json\n["x"]\n')
    elif kind == "unreadable":
        import os

        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        path.write_text('{"id": "2106.09685", "title": "LoRA"}\n')
        path.chmod(0)
    return str(path)


BAD_CLI = [
    (["\t \n "], "question is empty"),
    (["What is LoRA?\x1b[2J"], "control characters"),
    (["What is LoRA?", "--corpus", "<folder>"], "corpus path is not a file"),
    (["What is LoRA?", "--corpus", "<binary>"], "cannot read corpus"),
    (["What is LoRA?", "--corpus", "<no-valid-record>"], "holds no valid paper records"),
    (["What is LoRA?", "--corpus", "<unreadable>"], "corpus file is not readable"),
    (["What is LoRA?", "--out", "<inside-a-file>"], "output path lies inside a file"),
    (["What is LoRA?", "--n-queries", "17"], "n_queries: Input should be less than or equal to 16"),
    (["What is LoRA?", "--papers-per-query", "0"], "papers_per_query: Input should be greater than or equal to 1"),
    (["What is LoRA?", "--claims-per-paper", "-2"], "claims_per_paper"),
    (["What is LoRA?", "--verify-threshold", "-0.1"], "verify_threshold: Input should be greater than or equal to 0"),
    (["What is LoRA?", "--revision-threshold", "10.5"], "revision_threshold: Input should be less than or equal to 10"),
    (["What is LoRA?", "--max-revision-rounds", "6"], "max_revision_rounds: Input should be less than or equal to 5"),
    (["What is LoRA?", "--deadline", "0"], "deadline_seconds: Input should be greater than 0"),
    (["What is LoRA?", "--max-concurrency", "0"], "max_concurrency"),
    (["What is LoRA?", "--verify-method", "vibes"], "verify_method"),
    (["What is LoRA?", "--sources", ""], "at least one source is needed"),
]


@pytest.mark.parametrize("args, message", BAD_CLI, ids=[m for _, m in BAD_CLI])
def test_bad_input_is_refused_before_any_work(args, message, tmp_path, capsys, monkeypatch):
    import sovereign.graph.builder as builder

    monkeypatch.setattr(builder, "build_graph", lambda *a, **k: pytest.fail("work started"))
    out = tmp_path / "out"
    args = list(args)
    for i, a in enumerate(args):
        if a.startswith("<") and a != "<inside-a-file>":
            args[i] = _bad_corpus(a.strip("<>"), tmp_path)
    if "<inside-a-file>" in args:
        (tmp_path / "taken").write_text("keep me")
        out = tmp_path / "taken" / "report"
        args.remove("<inside-a-file>")
        args.remove("--out")
    rc = main(["research", *args, "--out", str(out)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("sovereign: error: ") and message in lines[0], err
    assert not out.exists() and not (tmp_path / "state" / "threads").exists()


@pytest.mark.parametrize("question", ["What is LoRA?\x9b2J", "What is \u202eAROL?"])
def test_unicode_control_characters_are_refused(question):
    """C1 controls (the 8-bit CSI U+009B) and bidi overrides are refused like ASCII controls."""
    with pytest.raises(ValidationError, match="control characters"):
        run_research(question)


BAD_API = [
    ({"question": "  "}, "question", "question is empty"),
    ({"question": "x" * 2001}, "question", "limit is 2000"),
    ({"question": "what\x07 is this"}, "question", "control characters"),
    ({"provider": "gpt5"}, "provider", "Input should be 'auto', 'offline' or 'nim'"),
    ({"sources": "local,scholar"}, "sources", "unknown source 'scholar'"),
    ({"n_queries": 0}, "n_queries", "greater than or equal to 1"),
    ({"verify_threshold": 1.5}, "verify_threshold", "less than or equal to 1"),
    ({"max_revision_rounds": -1}, "max_revision_rounds", "greater than or equal to 0"),
    ({"publish_threshold": 2.0, "reject_threshold": 5.0}, None, "reject_threshold must not exceed publish_threshold"),
    ({"deadline_seconds": -1}, "deadline_seconds", "greater than 0"),
    ({"n_querys": 3}, "n_querys", "Extra inputs are not permitted"),
    ({"corpus_path": "/nonexistent/corpus.jsonl"}, "corpus_path", "corpus file not found: /nonexistent/corpus.jsonl"),
    ({"output_dir": "<file>"}, "output_dir", "output path is a file, not a folder"),
]


@pytest.mark.parametrize("kwargs, loc, message", BAD_API, ids=[m for _, _, m in BAD_API])
def test_the_library_refuses_the_same_input_with_pydantic_errors(kwargs, loc, message, tmp_path, monkeypatch):
    import sovereign.graph.builder as builder

    monkeypatch.setattr(builder, "graph", None)  # any work would fail differently
    kwargs = dict(kwargs)
    question = kwargs.pop("question", "What is LoRA?")
    if kwargs.get("output_dir") == "<file>":
        (tmp_path / "taken").write_text("keep me")
        kwargs["output_dir"] = str(tmp_path / "taken")
    kwargs.setdefault("output_dir", str(tmp_path / "out"))
    with pytest.raises(ValidationError) as info:
        run_research(question, **kwargs)
    first = info.value.errors()[0]
    assert message in first["msg"], first
    if loc:
        assert first["loc"] == (loc,), first
    assert not (tmp_path / "out").exists()
    if (tmp_path / "taken").exists():
        assert (tmp_path / "taken").read_text() == "keep me"


@pytest.mark.parametrize("field", ["corpus_path", "output_dir"])
def test_the_graph_api_refuses_bad_input_before_any_work(field, tmp_path, monkeypatch):
    import sovereign.graph.builder as builder
    from sovereign.graph.configuration import Configuration

    searched = []
    monkeypatch.setattr(builder, "search", lambda payload, runtime: searched.append(payload) or {})
    (tmp_path / "taken").write_text("keep me")
    bad = {"corpus_path": str(tmp_path / "missing.jsonl"), "output_dir": str(tmp_path / "taken")}[field]
    graph = builder.build_graph()
    with pytest.raises(Exception) as info:
        graph.invoke({"question": Q}, context=Configuration(**{field: bad}, n_queries=2))
    assert field in str(info.value) and searched == []


# ----------------------------------------------------------------------------- the sources obey the run's deadline


def test_no_source_request_starts_after_the_deadline():
    from sovereign.concurrency import DEADLINE

    with ScriptedHttp(always(Answer(body="{}"))) as server:
        token = DEADLINE.set(time.monotonic() - 0.1)
        try:
            with pytest.raises(http.DeadlineReached, match="deadline"):
                http.get(server.url + "/works")
        finally:
            DEADLINE.reset(token)
    assert server.requests == []


def test_a_retry_after_that_ends_past_the_deadline_is_not_waited_for():
    from sovereign.concurrency import DEADLINE

    answer = Answer(status=429, body="slow down", content_type="text/plain", headers={"Retry-After": "5"})
    with ScriptedHttp(always(answer)) as server:
        token = DEADLINE.set(time.monotonic() + 1.0)
        t0 = time.monotonic()
        try:
            with pytest.raises(http.HttpStatusError, match="HTTP 429"):  # the real error, not a timeout
                http.get(server.url + "/works")
        finally:
            DEADLINE.reset(token)
    assert time.monotonic() - t0 < 1.0 and len(server.requests) == 1


def test_a_source_request_times_out_at_the_deadline():
    from sovereign.concurrency import DEADLINE

    with ScriptedHttp(always(Answer(body="{}", delay=5))) as server:
        token = DEADLINE.set(time.monotonic() + 0.6)
        t0 = time.monotonic()
        try:
            with pytest.raises((httpx.TimeoutException, http.DeadlineReached)):
                http.get(server.url + "/works")
        finally:
            DEADLINE.reset(token)
    assert time.monotonic() - t0 < 2.5
