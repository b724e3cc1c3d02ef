"""Pure logic of the agents, without the graph."""

import numpy as np
import pytest

from sovereign.agents.extractor import candidate_claims, offline_claims
from sovereign.agents.retriever import dedupe, rank
from sovereign.agents.synthesizer import aggregate, decide_policy, decide_verdict
from sovereign.agents.verifier import tfidf_verify
from sovereign.graph.configuration import Configuration
from sovereign.graph.state import Claim, Paper, Review, SearchHit

WALT = Paper(
    id="2312.06662",
    title="Photorealistic Video Generation with Diffusion Models",
    abstract=(
        "W.A.L.T is a transformer-based latent video diffusion approach. W.A.L.T uses a causal encoder that "
        "compresses images and videos jointly into one latent space. Short one. W.A.L.T reports strong FVD on "
        "UCF-101; it trains a cascade of three models for text-to-video generation at high resolution."
    ),
    arxiv_id="2312.06662",
)
MAGVIT2 = Paper(
    id="2310.05737",
    title="Language Model Beats Diffusion -- Tokenizer is Key to Visual Generation",
    abstract="MAGVIT-v2 is a video tokenizer with a causal encoder that maps images and videos into a shared token space.",
)
OTHER = Paper(id="1602.03837", title="Observation of Gravitational Waves", abstract="LIGO observed a binary black hole merger.")


def test_extractor_splits_sentences_and_clauses_into_atomic_claims():
    claims = candidate_claims(WALT)
    assert "Short one." not in claims  # under six words
    assert any(c.startswith("It trains a cascade") for c in claims)  # clause after ';' is its own claim
    assert all(c.endswith(".") for c in claims)


def test_extractor_prefers_claims_about_the_question_and_keeps_paper_order():
    picked = offline_claims(WALT, "causal encoder of W.A.L.T", 2)
    assert len(picked) == 2
    assert "causal encoder" in picked[1] or "causal encoder" in picked[0]
    order = [candidate_claims(WALT).index(c) for c in picked]
    assert order == sorted(order)


def _baseline_cosines(claim, docs):
    # the seeds' computation, written out independently
    from sklearn.feature_extraction.text import TfidfVectorizer

    from sovereign.text import normalize

    v = TfidfVectorizer(ngram_range=(1, 2), preprocessor=normalize).fit(docs + [claim])
    return (v.transform([claim]) @ v.transform(docs).T).toarray().ravel()


def test_tfidf_baseline_is_max_cosine_with_threshold():
    claims = [
        Claim(id="C1", text="W.A.L.T uses a causal encoder that compresses images and videos jointly.", source_id=WALT.id),
        Claim(id="C2", text="Gravitational waves were observed from merging black holes by LIGO.", source_id=WALT.id),
        Claim(id="C3", text="Bananas are yellow fruit sold in markets.", source_id=WALT.id),
    ]
    papers = [WALT, MAGVIT2, OTHER]
    out = tfidf_verify(claims, papers, 0.15)
    for v, c in zip(out, claims):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from sovereign.text import normalize

        vec = TfidfVectorizer(ngram_range=(1, 2), preprocessor=normalize).fit([p.text for p in papers] + [x.text for x in claims])
        cos = (vec.transform([c.text]) @ vec.transform([p.text for p in papers]).T).toarray().ravel()
        assert v.confidence == pytest.approx(float(cos.max()), abs=1e-4)
        assert v.verified == (cos.max() >= 0.15)
        assert v.method == "tfidf"
    assert out[0].verified and out[0].evidence_id == WALT.id and not out[0].independent
    assert out[1].verified and out[1].evidence_id == OTHER.id and out[1].independent
    assert not out[2].verified and out[2].label == "UNSUPPORTED"


def test_tfidf_threshold_is_configurable():
    claims = [Claim(id="C1", text="W.A.L.T uses a causal encoder.", source_id=WALT.id)]
    conf = tfidf_verify(claims, [WALT, MAGVIT2], 0.0)[0].confidence
    assert tfidf_verify(claims, [WALT, MAGVIT2], conf + 0.01)[0].verified is False
    assert tfidf_verify(claims, [WALT, MAGVIT2], conf)[0].verified is True


def test_dedupe_merges_the_same_paper_from_two_sources():
    a = Paper(id="2312.06662", arxiv_id="2312.06662", title="Photorealistic Video Generation with Diffusion Models", abstract="short")
    b = Paper(id="doi:10.1/x", doi="10.1/x", title="Photorealistic video generation with diffusion models", abstract="a much longer abstract", source="openalex")
    hits = [SearchHit(query="q1", rank=0, score=1, paper=a), SearchHit(query="q2", rank=3, score=1, paper=b), SearchHit(query="q2", rank=0, score=1, paper=OTHER)]
    papers, found_by = dedupe(hits)
    assert len(papers) == 2
    merged = papers[0]
    assert merged.id == "2312.06662" and merged.doi == "10.1/x" and merged.abstract == "a much longer abstract"
    assert [h.query for h in found_by[merged.id]] == ["q1", "q2"]


def test_rank_puts_the_most_relevant_paper_first():
    hits = [SearchHit(query="q", rank=0, score=1, paper=OTHER), SearchHit(query="q", rank=1, score=1, paper=WALT)]
    papers, found_by = dedupe(hits)
    ranked = rank("q", papers, found_by, np.array([0.05, 0.5]))
    assert ranked[0].paper.id == WALT.id and ranked[0].relevance == 0.5


def _review(role, score):
    return Review(role=role, round=0, score=score, rationale="r")


def test_aggregate_is_weighted_mean_with_skeptic_veto():
    assert aggregate([_review("SKEPTIC", 8), _review("VALIDATOR", 6), _review("SYNTHESIZER", 4)]) == pytest.approx(
        (0.4 * 8 + 0.35 * 6 + 0.25 * 4), abs=0.01
    )
    # SKEPTIC below 5 caps the aggregate at its score + 1
    assert aggregate([_review("SKEPTIC", 3), _review("VALIDATOR", 10), _review("SYNTHESIZER", 10)]) == 4.0


def test_verdict_revises_only_while_rounds_are_left():
    cfg = Configuration()
    assert decide_verdict(6.4, 0, cfg) == "REVISE"
    assert decide_verdict(6.4, 1, cfg) == "FAIL"
    assert decide_verdict(6.5, 0, cfg) == "ACCEPT"
    assert decide_verdict(6.4, 0, Configuration(max_revision_rounds=0)) == "FAIL"


def test_policy_rules():
    cfg = Configuration()
    good = {"papers": 10, "claims": 5, "independent_ratio": 0.8, "topic_drift": 0, "entity_coverage": 1.0}
    assert decide_policy(8.0, good, cfg)[0] == "PUBLISH"
    assert decide_policy(2.0, good, cfg)[0] == "REJECT"
    policy, reasons = decide_policy(8.0, {**good, "independent_ratio": 0.2}, cfg)
    assert policy == "ESCALATE_TO_OWNER" and "independent" in reasons[0]
    assert decide_policy(8.0, {**good, "topic_drift": 1}, cfg)[0] == "ESCALATE_TO_OWNER"
    assert decide_policy(8.0, {**good, "claims": 0}, cfg)[0] == "REJECT"


def test_configuration_refuses_out_of_range_and_unknown_values():
    from pydantic import ValidationError

    for bad in [{"n_queries": 0}, {"verify_threshold": 1.5}, {"max_revision_rounds": -1}, {"provider": "gpt"},
                {"sources": "local,nope"}, {"revision_threshold": 11}, {"unknown_knob": 1}]:
        with pytest.raises(ValidationError):
            Configuration(**bad)
    assert Configuration(sources="local, arxiv").sources == ["local", "arxiv"]


def test_every_configuration_knob_has_a_description_and_default():
    schema = Configuration.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    c = Configuration()
    assert (c.n_queries, c.verify_threshold, c.revision_threshold, c.max_revision_rounds) == (4, 0.15, 6.5, 1)
    assert c.embed_model == "nvidia/nv-embedqa-e5-v5" and c.provider == "auto"
