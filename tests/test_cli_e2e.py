"""The installed CLI end to end on the bundled corpus (offline default), as a user runs it."""

import json

import pytest

from sovereign import run_research

from conftest import WALT_QUESTION, run_cli


@pytest.fixture(scope="module")
def walt_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("walt") / "report"
    proc = run_cli("research", WALT_QUESTION, "--out", str(out))
    return proc, out


def test_research_writes_both_reports_and_says_where(walt_run):
    proc, out = walt_run
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert str(out / "report.md") in proc.stderr
    assert "[plan] planned 4 queries" in proc.stderr and "[synthesize] tribunal:" in proc.stderr


def test_report_json_carries_the_contract(walt_run):
    _, out = walt_run
    rep = json.loads((out / "report.json").read_text())
    assert rep["question"] == WALT_QUESTION and rep["provider"] == "offline"
    assert len(rep["queries"]) >= 4 and len(rep["tribunal"]["rounds"]) == rep["tribunal"]["revision_round"] + 1
    ids = [p["id"] for p in rep["papers"]]
    assert "2312.06662" in ids and rep["primary_paper"]["id"] == "2312.06662"
    for p in rep["papers"]:
        assert {"id", "title", "authors", "year", "url"} <= set(p)
    assert rep["claims"] and all(c["source_id"] == "2312.06662" for c in rep["claims"])
    for c in rep["claims"]:
        assert {"id", "text", "source_id", "verified", "confidence", "label", "evidence_id", "evidence_quote"} <= set(c)
        assert 0.0 <= c["confidence"] <= 1.0 and c["verified"] == (c["label"] == "SUPPORTED")
        assert c["method"] == "evidence"
        # independence: evidence never comes from the claim's own paper
        assert c["evidence_id"] != c["source_id"]
        # the seeds' baseline runs alongside, exactly: cosine >= 0.15
        assert c["baseline_verified"] == (c["baseline_confidence"] >= 0.15)
    trib = rep["tribunal"]
    assert {r["role"] for r in trib["reviews"]} == {"SKEPTIC", "VALIDATOR", "SYNTHESIZER"}
    assert 0 <= trib["score"] <= 10 and trib["verdict"] in ("ACCEPT", "REVISE", "FAIL")
    assert rep["policy"] in ("PUBLISH", "ESCALATE_TO_OWNER", "REJECT")
    assert any("arxiv.org/abs/2312.06662" in ref for ref in rep["references"])
    assert {"plan", "search", "index", "extract", "verify", "synthesize"} <= set(rep["metrics"]["timings_s"])
    assert rep["metrics"]["timings_s"]["search"] > 0


def test_report_markdown_has_the_seeds_sections_in_order(walt_run):
    _, out = walt_run
    md = (out / "report.md").read_text()
    rep = json.loads((out / "report.json").read_text())
    heads = ["## Abstract", "## 1 Introduction", "## 2 Methodology", "## 3 Results", "## 4 Uncertainties", "## 5 Extracted Claims", "## References"]
    positions = [md.index(h) for h in heads]
    assert positions == sorted(positions)
    assert f"Analysis of: Photorealistic Video Generation with Diffusion Models. Research goal: {WALT_QUESTION}" in md
    assert f"Tribunal: {rep['tribunal']['score']:.1f}/10 → {rep['tribunal']['verdict']} (revision_round={rep['tribunal']['revision_round']}). Policy: {rep['policy']}." in md
    assert "| Claim | Verified | Confidence |" in md
    import re

    assert len(re.findall(r"^\| C\d+: ", md, flags=re.M)) == len(rep["claims"])
    if rep["policy"] == "ESCALATE_TO_OWNER":
        assert "Autonomous draft — Owner review required before publication" in md
    # uncertainties speak about this run: claims without independent support are named
    unsupported = [c["id"] for c in rep["claims"] if c["label"] == "UNSUPPORTED"]
    if unsupported:
        assert f"found no independent support ({', '.join(unsupported)})" in md
    assert md == rep["markdown"]


def test_json_flag_prints_the_report(tmp_path):
    proc = run_cli("research", "What does LoRA change in a pretrained transformer?", "--out", str(tmp_path / "o"), "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rep = json.loads(proc.stdout)
    assert rep["primary_paper"]["id"] == "2106.09685"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("What does LoRA change in a pretrained transformer?", "2106.09685"),
        ("How does QLoRA fine-tune a quantized language model?", "2305.14314"),
        ("How does DoRA decompose pretrained weights compared with LoRA?", "2402.09353"),
        ("What is the R-LPIPS robust perceptual metric?", "2307.15157"),
        ("Do diffusion transformers (DiT) scale better than U-Nets?", "2212.09748"),
        ("How does FlashAttention reduce memory traffic between GPU memory levels?", "2205.14135"),
        ("How does Animate Anyone keep the character's appearance consistent?", "2311.17117"),
        ("What did LIGO observe in the GW150914 event?", "1602.03837"),
        ("How does Stable Video Diffusion curate its training data?", "2311.15127"),
    ],
)
def test_the_right_paper_comes_first(question, expected):
    rep = run_research(question, provider="offline")
    assert rep.primary_paper is not None and rep.primary_paper.id == expected
    assert rep.claims and all(c.source_id == expected for c in rep.claims)


BAD_INPUTS = [
    (["research", "   "], "question is empty"),
    (["research", "x" * 2001], "limit is 2000"),
    (["research", "what\x07 is this"], "control characters"),
    (["research", "q?", "--provider", "gpt5"], "provider"),
    (["research", "q?", "--sources", "local,scholar"], "unknown source 'scholar'"),
    (["research", "q?", "--n-queries", "0"], "n_queries"),
    (["research", "q?", "--verify-threshold", "1.5"], "verify_threshold"),
    (["research", "q?", "--revision-threshold", "-1"], "revision_threshold"),
    (["research", "q?", "--max-revision-rounds", "-1"], "max_revision_rounds"),
    (["research", "q?", "--corpus", "/nonexistent/corpus.jsonl"], "corpus file not found"),
    (["research", "q?", "--n-queries", "four"], "invalid int value"),
    (["nonsense"], "invalid choice"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    proc = run_cli(*args, "--out", str(out)) if args[0] == "research" else run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sovereign: error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_output_path_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    proc = run_cli("research", "What is LoRA?", "--out", str(f))
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert f.read_text() == "keep me"


def test_help_lists_commands_and_options():
    top = run_cli("--help")
    assert top.returncode == 0 and "research" in top.stdout
    sub = run_cli("research", "--help")
    for opt in ["--out", "--provider", "--corpus", "--sources", "--n-queries", "--json", "--quiet"]:
        assert opt in sub.stdout


def test_the_python_api_is_small_and_complete():
    import asyncio

    import sovereign
    from sovereign import Report, arun_research, build_graph

    rep = asyncio.run(arun_research("What is the R-LPIPS robust perceptual metric?", provider="offline", max_revision_rounds=0))
    assert isinstance(rep, Report) and rep.primary_paper.id == "2307.15157"
    assert rep.to_markdown() == rep.markdown and rep.to_markdown().startswith("# Research report:")
    assert json.loads(rep.to_json())["question"] == rep.question
    assert build_graph().checkpointer is None
    assert set(sovereign.__all__) >= {"run_research", "arun_research", "build_graph", "Report"}
