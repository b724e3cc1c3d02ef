"""The evidence verifier: scorers, the independence rule, calibration and the eval harness."""

import json

import pytest

from sovereign.evaluation import auroc, expected_calibration_error, macro_f1, prf, read_claims
from sovereign.evidence import EvidenceIndex, load_calibration, pair_features, verify_with_evidence
from sovereign.graph.state import Claim, Paper

from conftest import REPO, run_cli

LORA = Paper(id="2106.09685", title="LoRA: Low-Rank Adaptation of Large Language Models", abstract=(
    "LoRA freezes the pretrained weights of a Transformer and adds a trainable low-rank update to selected weight matrices. "
    "Because the low-rank product can be merged into the frozen weight, LoRA adds no inference latency, unlike adapter layers. "
    "For GPT-3 175B the paper reports about 10,000 times fewer trainable parameters."))
QLORA = Paper(id="2305.14314", title="QLoRA: Efficient Finetuning of Quantized LLMs", abstract=(
    "QLoRA backpropagates through a frozen 4-bit quantized language model into low-rank adapters. "
    "QLoRA introduces the NF4 data type and double quantization to save memory."))
LIGO = Paper(id="1602.03837", title="Observation of Gravitational Waves from a Binary Black Hole Merger", abstract=(
    "LIGO observed gravitational waves from the merger of two black holes. The signal GW150914 was seen by both detectors."))


def test_pair_features_flag_negation_opposites_and_number_conflicts():
    f = pair_features("LoRA does not add inference latency.", "LoRA adds no inference latency.", 0.5, 0.5)
    assert f["negation"] == 0.0  # both sides negated
    f = pair_features("LoRA adds inference latency.", "LoRA adds no inference latency because weights merge.", 0.5, 0.5)
    assert f["negation"] == 1.0
    f = pair_features("Training is faster with the method.", "Training is slower with the method.", 0.5, 0.5)
    assert f["opposite"] == 1.0
    f = pair_features("GPT-3 has 13B parameters in the study.", "GPT-3 has 175B parameters in the study.", 0.5, 0.5)
    assert f["number_conflict"] == 1.0
    f = pair_features("LoRA freezes pretrained weights.", "LoRA freezes the pretrained weights of a Transformer.", 0.5, 0.5)
    assert f["coverage"] == 1.0 and f["entities"] == 1.0


def test_a_claim_supported_only_by_its_own_source_is_never_verified():
    claim = Claim(id="C1", text="LoRA adds a trainable low-rank update to selected weight matrices of a frozen Transformer.", source_id=LORA.id)
    [v] = verify_with_evidence([claim], [LORA, LIGO], embedder=_embedder())
    assert v.verified is False and v.label != "SUPPORTED"
    assert v.evidence_id != LORA.id  # evidence is never the source
    assert v.self_quote and "low-rank update" in v.self_quote  # the source's own support is reported apart
    assert v.self_score is not None


def _embedder():
    from sovereign.adapters.corpus import load_corpus
    from sovereign.adapters.local_source import searcher_for

    return searcher_for(load_corpus()).embedder


def test_evidence_comes_from_the_independent_paper_that_states_it():
    claim = Claim(id="C1", text="Because the low-rank product merges into the frozen weight, LoRA adds no inference latency.", source_id=QLORA.id)
    [v] = verify_with_evidence([claim], [LORA, QLORA, LIGO], embedder=_embedder())
    assert v.evidence_id == LORA.id and v.evidence_ids[0] == LORA.id
    assert "inference latency" in v.evidence_quote
    assert 0.0 <= v.confidence <= 1.0 and 0.0 <= v.p_supported <= 1.0


def test_shipped_calibration_is_fitted_and_matches_the_feature_set():
    cal = load_calibration()
    model = cal.params["model"]
    assert model and model["features"] == list(__import__("sovereign.evidence", fromlist=["CLAIM_FEATURES"]).CLAIM_FEATURES)
    assert "dev" in cal.fitted_on and model["temperature"] > 0


def test_metrics_are_computed_correctly():
    assert prf([True, True, False, False], [True, False, True, False]) == (0.5, 0.5, 0.5)
    assert macro_f1(["SUPPORTED", "CONTRADICTED", "UNSUPPORTED"], ["SUPPORTED", "CONTRADICTED", "UNSUPPORTED"]) == 1.0
    assert auroc([True, False, True, False], [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert auroc([True, False], [0.5, 0.5]) == 0.5
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([0.9, 0.9], [False, False]) == pytest.approx(0.9)


def _fixture(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(p.model_dump()) for p in (LORA, QLORA, LIGO)) + "\n")
    claims = tmp_path / "claims.jsonl"
    rows = [
        {"id": "a", "claim": "Merging the low-rank product into frozen weights means LoRA has no extra inference latency.", "label": "SUPPORTED", "source_id": QLORA.id, "evidence_ids": [LORA.id]},
        {"id": "b", "claim": "LIGO detected gravitational waves from two merging black holes.", "label": "SUPPORTED", "source_id": None, "evidence_ids": [LIGO.id]},
        {"id": "c", "claim": "QLoRA quantizes the frozen model to 2-bit integers with a new INT2 format.", "label": "CONTRADICTED", "source_id": None, "evidence_ids": [QLORA.id]},
        {"id": "d", "claim": "Diffusion models need a thousand sampling steps for photorealistic images.", "label": "UNSUPPORTED", "source_id": None, "evidence_ids": []},
    ]
    claims.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return corpus, claims


def test_eval_verify_prints_both_methods_side_by_side_and_writes_json(tmp_path):
    corpus, claims = _fixture(tmp_path)
    out = tmp_path / "eval.json"
    proc = run_cli("eval", "verify", "--claims", str(claims), "--corpus", str(corpus), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    header = [l for l in proc.stdout.splitlines() if l.startswith("metric")][0]
    assert "tfidf" in header and "evidence" in header
    for row in ("accuracy", "macro-F1", "verified precision", "AUROC", "evidence hit@3", "ECE", "claims / second"):
        assert row in proc.stdout
    data = json.loads(out.read_text())
    tf, ev = data["methods"]["tfidf"], data["methods"]["evidence"]
    assert tf["claims"] == ev["claims"] == 4
    assert tf["label_counts"]["CONTRADICTED"] == 0  # the baseline cannot tell contradiction
    assert ev["evidence_hit_at_3"] == 1.0  # LoRA, LIGO and QLoRA found for a, b, c


def test_eval_refuses_bad_files_with_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "claim": "c", "label": "TRUE"}\n')
    proc = run_cli("eval", "verify", "--claims", str(bad))
    assert proc.returncode == 2 and "line 1: label" in proc.stderr
    proc = run_cli("eval", "verify", "--claims", str(tmp_path / "missing.jsonl"))
    assert proc.returncode == 2 and "claims file not found" in proc.stderr
    proc = run_cli("eval", "verify", "--claims", str(bad), "--method", "bm25")
    assert proc.returncode == 2


def test_the_default_method_beats_the_baseline_on_the_held_out_claims():
    """Held-out file (never used for fitting): the evidence verifier must clearly beat TF-IDF."""
    from sovereign.evaluation import evaluate

    report = evaluate(str(REPO / "data" / "eval" / "claims_test.jsonl"), None, ["tfidf", "evidence"])
    tf, ev = report["methods"]["tfidf"], report["methods"]["evidence"]
    assert ev["macro_f1"] >= tf["macro_f1"] + 0.15
    assert ev["auroc_verified"] >= 0.8
    assert ev["ece"] <= 0.15
    assert ev["claims_per_second"] >= 500 / 60


def test_dev_claims_file_is_well_formed():
    claims = read_claims(str(REPO / "data" / "eval" / "claims_dev.jsonl"))
    assert len(claims) >= 150
    assert {c.label for c in claims} == {"SUPPORTED", "CONTRADICTED", "UNSUPPORTED"}
    assert all(c.source_id not in c.evidence_ids for c in claims)


def test_the_shipped_calibration_is_what_the_calibrate_command_fits(tmp_path):
    """data/calibration.json is reproducible from the dev files (no hand-edited numbers)."""
    out = tmp_path / "cal.json"
    proc = run_cli("eval", "calibrate", "--claims", str(REPO / "data/eval/claims_dev.jsonl"), str(REPO / "data/eval/claims_dev2.jsonl"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    fitted, shipped = json.loads(out.read_text()), json.loads((REPO / "data" / "calibration.json").read_text())

    def close(a, b):  # floats may differ in the last digits between BLAS builds
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
        if isinstance(a, float) or isinstance(b, float):
            return abs(a - b) <= 1e-3
        return a == b

    assert close(fitted, shipped)


def test_an_index_prepared_in_the_background_is_the_one_the_verifier_uses(monkeypatch):
    from sovereign import evidence
    from sovereign.adapters.corpus import load_corpus

    papers = load_corpus().papers[:6]
    built = []
    real = evidence.EvidenceIndex

    class Counting(real):
        def __init__(self, *a, **kw):
            built.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(evidence, "EvidenceIndex", Counting)
    evidence.prepare_evidence_index(papers, None)
    evidence.prepare_evidence_index(papers, None)  # already under way: not started twice
    index = evidence.evidence_index(papers, None)
    assert isinstance(index, real) and len(built) == 1
    assert {p.paper_id for p in index.passages} == {p.id for p in papers}
    evidence.evidence_index(papers[:5], None)  # another paper set: built now
    assert len(built) == 2


def test_a_failed_background_build_is_rebuilt_and_fails_in_the_caller():
    from sovereign import evidence
    from sovereign.adapters.corpus import load_corpus

    class Broken:
        calls = 0

        def embed_documents(self, texts):
            Broken.calls += 1
            raise RuntimeError("embeddings endpoint down")

    papers, embedder = load_corpus().papers[:4], Broken()
    evidence.prepare_evidence_index(papers, embedder)
    with pytest.raises(RuntimeError, match="endpoint down"):
        evidence.evidence_index(papers, embedder)
    assert Broken.calls == 2
