"""CLI surfaces beyond `research`: batch, the report's JSON Schema, BibTeX, progress rendering."""

import io
import json
import re

import jsonschema

from sovereign.progress import Progress, describe

from conftest import ACCEPT_QUESTION, REPO, run_cli


def test_batch_runs_every_question_into_its_own_folder_with_an_index(tmp_path):
    qs = tmp_path / "qs.txt"
    qs.write_text(
        "What does LoRA change in a pretrained transformer?\n# skipped comment\n\n"
        "What is the R-LPIPS robust perceptual metric?\nWhat did LIGO observe in the GW150914 event?\n"
    )
    out = tmp_path / "batch"
    proc = run_cli("batch", str(qs), "--out", str(out), "--concurrency", "3", "--max-revision-rounds", "0")
    assert proc.returncode == 0, proc.stderr
    index = json.loads((out / "index.json").read_text())["questions"]
    assert [e["primary_paper"] for e in index] == ["2106.09685", "2307.15157", "1602.03837"]
    for e in index:
        rep = json.loads((out / e["folder"] / "report.json").read_text())
        assert rep["question"] == e["question"] and e["status"] == "done"
        assert (out / e["folder"] / "report.md").is_file() and (out / e["folder"] / "references.bib").is_file()
    assert "[3/3]" in proc.stderr
    assert (out / "index.md").read_text().count("| done |") == 3


def test_batch_refuses_a_bad_question_before_any_work(tmp_path):
    qs = tmp_path / "qs.txt"
    qs.write_text("What is LoRA?\n   \nok?\x07bad\n")
    proc = run_cli("batch", str(qs), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "line 3: question contains control characters" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_report_json_validates_against_the_published_schema(tmp_path):
    schema = json.loads((REPO / "docs" / "report.schema.json").read_text())
    generated = run_cli("schema")
    assert json.loads(generated.stdout) == schema, "docs/report.schema.json is stale: run `make schema`"
    out = tmp_path / "r"
    assert run_cli("research", ACCEPT_QUESTION, "--out", str(out), "--quiet").returncode == 0
    jsonschema.validate(json.loads((out / "report.json").read_text()), schema)


def test_bibtex_has_one_entry_per_reference(tmp_path):
    out = tmp_path / "r"
    assert run_cli("research", ACCEPT_QUESTION, "--out", str(out), "--quiet").returncode == 0
    rep = json.loads((out / "report.json").read_text())
    bib = (out / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([a-z0-9]+),$", bib, flags=re.M)
    assert len(keys) == len(rep["references"]) == len(set(keys))
    assert "eprint = {2106.09685}" in bib and "archivePrefix = {arXiv}" in bib


def test_progress_lines_name_what_happened():
    from sovereign.graph.state import Claim, Verification

    assert describe("plan", {"queries": ["a", "b"]}) == "planned 2 queries: a; b"
    vs = [Verification(claim_id="C1", method="evidence", verified=True, confidence=0.8), Verification(claim_id="C2", method="evidence", verified=False, confidence=0.6)]
    assert describe("verify", {"verifications": vs}) == "verified 1/2 claims"
    assert describe("extract", {"claims": [Claim(id="C1", text="t", source_id="x")]}) == "extracted 1 claims"
    buf = io.StringIO()
    p = Progress(enabled=True, stream=buf)
    p.node_done("plan", {"queries": ["q"]})
    assert buf.getvalue() == "[plan] planned 1 queries: q\n"  # plain lines when not a terminal
    quiet = io.StringIO()
    Progress(enabled=False, stream=quiet).node_done("plan", {"queries": ["q"]})
    assert quiet.getvalue() == ""


def test_every_subcommand_has_complete_help():
    for cmd in (["research"], ["batch"], ["schema"], ["eval", "verify"], ["eval", "calibrate"]):
        proc = run_cli(*cmd, "--help")
        assert proc.returncode == 0 and "usage: sovereign" in proc.stdout
        assert proc.stdout.count("--") >= 2


def test_progress_on_a_terminal_is_rich(tmp_path):
    """Run the CLI with its stderr on a pseudo-terminal: rich renders styled node lines."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    master, slave = pty.openpty()
    exe = Path(sys.executable).with_name("sovereign")
    proc = subprocess.Popen([str(exe), "research", ACCEPT_QUESTION, "--out", str(tmp_path / "o"), "--max-revision-rounds", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "\x1b[" in text  # ANSI styling from rich
    assert "plan" in text and "planned 4 queries" in text and "[plan]" not in text


def test_index_builds_the_local_index_once_and_then_loads_it(tmp_path):
    env = {"SOVEREIGN_CACHE_DIR": str(tmp_path / "cache")}
    first = run_cli("index", env=env)
    assert first.returncode == 0, first.stderr
    assert re.match(r"^built the index of 379 papers in [0-9.]+ s: .*local-index", first.stdout)
    folder = first.stdout.strip().split(": ", 1)[1]
    assert (tmp_path / "cache" / "local-index").is_dir() and folder.startswith(str(tmp_path / "cache"))
    manifest = tmp_path / "cache" / "local-index" / folder.rsplit("/", 1)[1] / "manifest.json"
    built_at = manifest.stat().st_mtime_ns
    again = run_cli("index", env=env)
    assert again.returncode == 0 and again.stdout.startswith("loaded the index of 379 papers")
    # the next research run loads it too: the saved index is not rewritten
    run = run_cli("research", ACCEPT_QUESTION, "--provider", "offline", "--out", str(tmp_path / "out"), "--max-revision-rounds", "0", env=env)
    assert run.returncode == 0, run.stderr
    assert manifest.stat().st_mtime_ns == built_at
    bad = run_cli("index", "--corpus", str(tmp_path / "missing.jsonl"), env=env)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "missing.jsonl" in bad.stderr
