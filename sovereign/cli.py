"""The ``sovereign`` command line.

Exit codes: 0 success; 1 the run failed (one line on stderr); 2 bad input (one line on stderr,
nothing written, no work done). Heavy modules are imported only when a command runs, so
``sovereign --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sovereign import __version__

PROG = "sovereign"


class UsageError(Exception):
    """Bad input: reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Sovereign research kernel: answers a research question with a short, cited report "
        "whose claims are checked against sources and reviewed by a three-role tribunal.",
        epilog="Runs offline on the bundled corpus unless NVIDIA_API_KEY or NVIDIA_BASE_URL is set "
        "(provider=auto). Exit codes: 0 ok, 1 run failed (the thread id to resume is printed), 2 bad input, "
        "3 paused for owner review.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser(
        "research",
        help="research one question and write report.md + report.json",
        description="Research one question: plan queries, search, extract and verify claims, run the tribunal, "
        "and write DIR/report.md and DIR/report.json.",
    )
    r.add_argument("question", nargs="?", help="the research question (quote it); omit with --resume")
    r.add_argument("--out", metavar="DIR", default="out/report", help="output folder (default: out/report)")
    r.add_argument("--provider", help="auto (default) | offline | nim")
    r.add_argument("--corpus", metavar="FILE", help="JSONL corpus for the local source (default: bundled corpus)")
    r.add_argument("--sources", metavar="LIST", help="comma-separated: local,arxiv,openalex (default: local)")
    r.add_argument("--n-queries", type=int, metavar="N", help="search queries to plan (default 4)")
    r.add_argument("--papers-per-query", type=int, metavar="N", help="papers kept per query and source (default 8)")
    r.add_argument("--claims-per-paper", type=int, metavar="N", help="claims extracted per paper (default 5)")
    r.add_argument("--verify-method", metavar="M", help="evidence (default: passages of other papers, calibrated) | tfidf (the seeds' baseline)")
    r.add_argument("--verify-threshold", type=float, metavar="X", help="the tfidf baseline's threshold (default 0.15)")
    r.add_argument("--revision-threshold", type=float, metavar="X", help="tribunal score that avoids revision (default 6.5)")
    r.add_argument("--max-revision-rounds", type=int, metavar="N", help="revision rounds at most (default 1)")
    r.add_argument("--deadline", type=float, metavar="S", help="overall deadline in seconds (default 1800); after it, agents fall back to offline")
    r.add_argument("--max-concurrency", type=int, metavar="N", help="NIM requests in flight at most (default 8)")
    r.add_argument("--thread-id", metavar="ID", help="thread id for this run (default: generated and printed)")
    r.add_argument("--resume", metavar="ID", help="continue the run with this thread id (after a crash or an owner pause)")
    r.add_argument("--state-dir", metavar="DIR", help="checkpoint folder (default: $SOVEREIGN_STATE_DIR or ~/.local/state/sovereign)")
    r.add_argument("--owner", action="store_true", help="owner review: when the policy escalates, ask approve/reject/revise in the terminal "
                   "(without a terminal: write the draft and exit 3 with the thread id to resume)")
    r.add_argument("--decision", choices=["approve", "reject", "revise"], help="with --resume: the owner's answer to a paused run")
    r.add_argument("--note", default="", help="with --decision: the owner's note")
    r.add_argument("--json", action="store_true", help="print the report JSON to stdout")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    b = sub.add_parser(
        "batch",
        help="research many questions concurrently (one folder per question plus an index)",
        description="Research every question of a text file (one per line; blank lines and lines starting with # "
        "are skipped) through the graph's batch API, N at a time. Writes DIR/NNN-slug/{report.md,report.json,"
        "references.bib} per question and DIR/index.json + DIR/index.md.",
    )
    b.add_argument("questions", metavar="QUESTIONS.txt", help="text file, one question per line")
    b.add_argument("--out", metavar="DIR", required=True, help="output folder")
    b.add_argument("--concurrency", type=int, default=2, metavar="N", help="questions in flight at once (default 2)")
    for opt in ("--provider", "--corpus", "--sources"):
        b.add_argument(opt, help=f"as for research")
    b.add_argument("--n-queries", type=int, metavar="N", help="as for research")
    b.add_argument("--max-revision-rounds", type=int, metavar="N", help="as for research")
    b.add_argument("--quiet", action="store_true", help="no progress output")

    ix = sub.add_parser(
        "index",
        help="build (or check) the local search index of a corpus ahead of the first run",
        description="Build the local corpus' search index (TF-IDF + LSA embeddings in FAISS) into the cache folder "
        "($SOVEREIGN_CACHE_DIR or ~/.cache/sovereign), so that the first research run only loads it. "
        "A current index is loaded, not rebuilt. `make install` runs this for the bundled corpus.",
    )
    ix.add_argument("--corpus", metavar="FILE", help="JSONL corpus (default: the bundled corpus)")
    ix.add_argument("--quiet", action="store_true", help="print nothing on success")

    sc = sub.add_parser("schema", help="print the JSON Schema of report.json", description="Print the JSON Schema of report.json (generated from the pydantic Report model).")
    sc.add_argument("--out", metavar="FILE", help="write it to FILE instead of stdout")

    e = sub.add_parser("eval", help="evaluate components on labelled data", description="Evaluate components on labelled data.")
    esub = e.add_subparsers(dest="eval_command", metavar="WHAT", parser_class=_Parser)
    ev = esub.add_parser(
        "verify",
        help="compare verifiers side by side on a labelled claims file",
        description="Compare verifiers on a labelled claims file (JSONL: id, claim, label, source_id, evidence_ids): "
        "accuracy, macro-F1, precision/recall/F1 of 'verified', AUROC, evidence hit@3, ECE, claims per second.",
    )
    ev.add_argument("--claims", required=True, metavar="FILE", help="labelled claims, JSONL")
    ev.add_argument("--corpus", metavar="FILE", help="corpus JSONL (default: the bundled corpus)")
    ev.add_argument("--method", default="tfidf,evidence", metavar="LIST", help="comma-separated methods (default: tfidf,evidence)")
    ev.add_argument("--threshold", type=float, default=0.15, metavar="X", help="tfidf threshold (default 0.15)")
    ev.add_argument("--json", metavar="OUT", help="also write the numbers as JSON to OUT")
    ec = esub.add_parser(
        "calibrate",
        help="fit the evidence verifier's thresholds and confidence calibration on a dev claims file",
        description="Fit the evidence verifier's weights, thresholds and Platt calibration on labelled dev claims "
        "and write them as JSON (default: the package's data/calibration.json).",
    )
    ec.add_argument("--claims", required=True, nargs="+", metavar="FILE", help="labelled dev claims, JSONL (one or more files)")
    ec.add_argument("--corpus", metavar="FILE", help="corpus JSONL (default: the bundled corpus)")
    ec.add_argument("--out", metavar="FILE", help="where to write the calibration JSON")
    return parser


_OPTION_TO_FIELD = {
    "provider": "provider",
    "corpus": "corpus_path",
    "sources": "sources",
    "n_queries": "n_queries",
    "papers_per_query": "papers_per_query",
    "claims_per_paper": "claims_per_paper",
    "verify_method": "verify_method",
    "verify_threshold": "verify_threshold",
    "revision_threshold": "revision_threshold",
    "max_revision_rounds": "max_revision_rounds",
    "deadline": "deadline_seconds",
    "max_concurrency": "max_concurrency",
}


def _config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    cfg = {field: getattr(args, opt) for opt, field in _OPTION_TO_FIELD.items() if getattr(args, opt) is not None}
    cfg["output_dir"] = args.out
    if args.owner:
        cfg["owner_review"] = True
    return cfg


def _validation_message(exc: Exception) -> str:
    """One line from a pydantic ValidationError (or any error)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = exc.errors()[0]  # type: ignore[attr-defined]
            loc = ".".join(str(x) for x in first.get("loc", ()) if x != "__root__")
            msg = str(first.get("msg", "")).removeprefix("Value error, ")
            return f"{loc}: {msg}" if loc else msg
        except Exception:
            pass
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _prepare_research(args: argparse.Namespace):
    """Validate everything before any work; returns (thread meta, Configuration, payload)."""
    from pydantic import ValidationError

    from sovereign.adapters.corpus import CorpusError
    from sovereign.api import validate_request
    from sovereign.output import OutputError
    from sovereign.runner import ThreadMeta, check_thread_id, new_thread_id, state_dir

    folder = state_dir(args.state_dir)
    try:
        if args.resume:
            if args.question:
                raise ValueError("give either a question or --resume, not both")
            meta = ThreadMeta.load(folder, args.resume)
            config = dict(meta.config)
            if args.out != "out/report":
                config["output_dir"] = args.out
            if args.owner:
                config["owner_review"] = True
            question, cfg = validate_request(meta.question, **config)
            payload = None
            if args.decision:
                from langgraph.types import Command

                payload = Command(resume={"decision": args.decision, "note": args.note})
            return folder, meta, cfg, payload
        if args.decision:
            raise ValueError("--decision answers a paused run: use it with --resume THREAD_ID")
        if args.question is None:
            raise ValueError("the question is missing (or use --resume THREAD_ID)")
        question, cfg = validate_request(args.question, **_config_from_args(args))
        thread_id = check_thread_id(args.thread_id) if args.thread_id else new_thread_id()
        if ThreadMeta.exists(folder, thread_id):
            raise ValueError(f"thread {thread_id!r} already exists; continue it with --resume {thread_id}")
        meta = ThreadMeta(thread_id, question, cfg.model_dump(mode="json", exclude_unset=True))
        return folder, meta, cfg, {"question": question}
    except (ValidationError, CorpusError, OutputError, ValueError) as exc:
        raise UsageError(_validation_message(exc)) from None


class RunFailed(Exception):
    def __init__(self, message: str, thread_id: str):
        super().__init__(f"{message} (thread {thread_id}; resume with: sovereign research --resume {thread_id})")


def _ask_owner(interrupt: dict, console_stream) -> dict:
    from rich.console import Console
    from rich.prompt import Prompt

    console = Console(file=console_stream)
    console.print(f"[bold yellow]Owner review required[/] — score {interrupt.get('score')}/10, policy {interrupt.get('policy')}")
    for reason in interrupt.get("reasons", []):
        console.print(f"  • {reason}")
    decision = Prompt.ask("Decision", choices=["approve", "reject", "revise"], console=console)
    note = Prompt.ask("Note (optional)", default="", console=console)
    return {"decision": decision, "note": note}


def _cmd_research(args: argparse.Namespace) -> int:
    folder, meta, cfg, payload = _prepare_research(args)
    if not args.resume and cfg.resolved_provider() == "nim":
        # the planner's call needs only the question: send it while the graph is being imported
        from sovereign.llm import prefetch_planner

        prefetch_planner(meta.question, cfg)
    from sovereign.graph.builder import build_graph
    from sovereign.graph.state import Report
    from sovereign.output import write_report
    from sovereign.progress import Progress
    from sovereign.runner import checkpointer, current_state, stream_run

    if not args.resume:
        meta.save(folder)
    progress = Progress(enabled=not args.quiet, stream=sys.stderr)
    progress.note(f"thread {meta.thread_id}" + (" (resumed)" if args.resume else ""))
    try:
        with checkpointer(folder) as saver:
            graph = build_graph(checkpointer=saver)
            interrupt = stream_run(graph, payload, meta.thread_id, cfg, progress.node_done)
            while interrupt is not None:
                if args.owner and sys.stdin.isatty() and sys.stderr.isatty():
                    progress.close()
                    answer = _ask_owner(interrupt, sys.stderr)
                    from langgraph.types import Command

                    interrupt = stream_run(graph, Command(resume=answer), meta.thread_id, cfg, progress.node_done)
                    continue
                state, _ = current_state(graph, meta.thread_id)
                from sovereign.agents.reporter import build_report

                draft = build_report(state, cfg)
                paths = write_report(draft, cfg.output_dir) if cfg.output_dir else {}
                progress.close()
                print(
                    f"{PROG}: owner review required (score {draft.tribunal.score:.1f}/10): draft written to "
                    f"{paths.get('report.md', '(no output folder)')}; resume with: sovereign research --resume "
                    f"{meta.thread_id} --decision approve|reject|revise [--note TEXT]",
                    file=sys.stderr,
                )
                return 3
            state, _ = current_state(graph, meta.thread_id)
    except UsageError:
        raise
    except Exception as exc:
        from sovereign.redact import redact

        if args.debug:
            raise
        raise RunFailed(redact(_validation_message(exc)), meta.thread_id) from None
    progress.close()
    if state is None or state.report is None:
        raise RunFailed("the graph finished without a report", meta.thread_id)
    report = Report.model_validate(state.report)
    if cfg.output_dir and args.resume:  # a resumed, already finished run: write the files again
        write_report(report, cfg.output_dir)
    if args.json:
        sys.stdout.write(json.dumps(state.report, indent=2, ensure_ascii=False) + "\n")
    if not args.quiet:
        out = cfg.output_dir or ""
        print(
            f"Report written to {os.path.join(out, 'report.md')}, {os.path.join(out, 'report.json')} and "
            f"{os.path.join(out, 'references.bib')} (tribunal {report.tribunal.score:.1f}/10, policy {report.policy}; "
            f"thread {meta.thread_id})",
            file=sys.stderr,
        )
    return 0


def read_questions(path: str) -> list[str]:
    """Questions of a batch file, validated; raises ValueError naming the bad line."""
    from sovereign.graph.state import validate_question

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"questions file not found: {path}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read questions file {path}: {exc.__class__.__name__}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(validate_question(line))
        except ValueError as exc:
            raise ValueError(f"{path} line {n}: {exc}") from None
    if not out:
        raise ValueError(f"{path} holds no question")
    return out


def slug(text: str, n: int = 40) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:n].strip("-") or "question"


def _cmd_batch(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from sovereign.adapters.corpus import CorpusError
    from sovereign.api import validate_request
    from sovereign.output import OutputError, check_output_dir

    if args.concurrency < 1 or args.concurrency > 64:
        raise UsageError("--concurrency must be between 1 and 64")
    config = {f: getattr(args, o) for o, f in (("provider", "provider"), ("corpus", "corpus_path"), ("sources", "sources"),
              ("n_queries", "n_queries"), ("max_revision_rounds", "max_revision_rounds")) if getattr(args, o) is not None}
    try:
        questions = read_questions(args.questions)
        _, cfg = validate_request(questions[0], **config)
        check_output_dir(args.out)
    except (ValidationError, CorpusError, OutputError, ValueError) as exc:
        raise UsageError(_validation_message(exc)) from None

    from sovereign.graph.builder import graph
    from sovereign.graph.state import Report
    from sovereign.output import write_report

    folders = [f"{i + 1:03d}-{slug(q)}" for i, q in enumerate(questions)]
    index: list[dict] = [{"question": q, "folder": f, "status": "pending"} for q, f in zip(questions, folders)]
    run_config = {"max_concurrency": args.concurrency, "recursion_limit": 200}
    done = 0
    for i, result in graph.batch_as_completed(
        [{"question": q} for q in questions], config=run_config, context=cfg, return_exceptions=True
    ):
        done += 1
        entry = index[i]
        if isinstance(result, Exception):
            from sovereign.redact import redact

            entry.update(status="failed", error=redact(_validation_message(result)))
        else:
            report = Report.model_validate(result["report"])
            write_report(report, os.path.join(args.out, entry["folder"]))
            entry.update(
                status="done", policy=report.policy, score=report.tribunal.score,
                primary_paper=report.primary_paper.id if report.primary_paper else None,
                verified=sum(c.verified for c in report.claims), claims=len(report.claims),
            )
        if not args.quiet:
            print(f"[{done}/{len(questions)}] {entry['status']}: {entry['question'][:70]}", file=sys.stderr, flush=True)
    _write_json(os.path.join(args.out, "index.json"), {"questions": index})
    rows = ["| # | Question | Status | Policy | Score | Primary paper | Folder |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for n, e in enumerate(index, 1):
        rows.append(
            f"| {n} | {e['question'].replace('|', '/')} | {e['status']} | {e.get('policy', '—')} | "
            f"{e.get('score', '—')} | {e.get('primary_paper') or '—'} | [{e['folder']}]({e['folder']}/report.md) |"
        )
    Path(args.out, "index.md").write_text("# Batch index\n\n" + "\n".join(rows) + "\n", encoding="utf-8")
    failed = sum(e["status"] == "failed" for e in index)
    if not args.quiet:
        print(f"{len(index) - failed} of {len(index)} questions done; index at {os.path.join(args.out, 'index.md')}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_index(args: argparse.Namespace) -> int:
    from sovereign.adapters.corpus import CorpusError, load_corpus
    from sovereign.graph.configuration import Configuration

    try:
        corpus = load_corpus(args.corpus)
    except CorpusError as exc:
        raise UsageError(str(exc)) from None
    from sovereign.adapters.local_source import searcher_for

    searcher = searcher_for(corpus, Configuration().offline_embed_dim)
    for note in searcher.notes:
        print(f"{PROG}: {note}", file=sys.stderr)
    if searcher.cache_path is None or not searcher.cache_path.is_dir():
        print(f"{PROG}: error: the index could not be saved in the cache folder (see above)", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{searcher.source} the index of {len(corpus.papers)} papers in {searcher.seconds:.1f} s: {searcher.cache_path}")
    return 0


def report_schema() -> dict:
    from sovereign.graph.state import Report

    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://sovereign.invalid/report.schema.json"
    return schema


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.out:
        _write_json(args.out, report_schema())
    else:
        print(json.dumps(report_schema(), indent=2))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from sovereign.adapters.corpus import CorpusError
    from sovereign import evaluation

    if args.eval_command is None:
        raise UsageError("eval needs a WHAT: verify or calibrate")
    if args.eval_command == "verify":
        methods = [m.strip() for m in args.method.split(",") if m.strip()]
        if args.json and Path(args.json).is_dir():
            raise UsageError(f"--json path is a folder: {args.json}")
        try:
            report = evaluation.evaluate(args.claims, args.corpus, methods, args.threshold)
        except (evaluation.EvalInputError, CorpusError) as exc:
            raise UsageError(str(exc)) from None
        print(evaluation.format_table(report))
        if args.json:
            _write_json(args.json, report)
        return 0
    try:
        params = evaluation.fit_calibration(args.claims, args.corpus)
    except (evaluation.EvalInputError, CorpusError) as exc:
        raise UsageError(str(exc)) from None
    from sovereign.evidence import calibration_path

    out = args.out or calibration_path()
    _write_json(out, params)
    print(f"calibration written to {out} (dev macro-F1 {params['dev_macro_f1']:.3f})")
    return 0


def _write_json(path: str, data: dict) -> None:
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"research": _cmd_research, "batch": _cmd_batch, "schema": _cmd_schema, "eval": _cmd_eval, "index": _cmd_index}[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except RunFailed as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line unless --debug
        if debug:
            raise
        from sovereign.redact import redact

        print(f"{PROG}: error: {redact(_validation_message(exc))}", file=sys.stderr)
        return 1


def entry() -> None:
    """The console script: :func:`main`, then a fast exit. Everything is written and closed by the
    time ``main`` returns (reports renamed into place, checkpoints and caches committed), so the
    interpreter's teardown — about 0.4 s of freeing modules and objects after a run — is skipped;
    only the standard streams are flushed."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
