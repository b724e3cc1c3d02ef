from sovereign.agents.planner import broaden_queries, offline_queries
from sovereign.text import entities, key_phrases, mentions, normalize, paper_names, split_sentences, tokens

from conftest import WALT_QUESTION


def test_dotted_acronyms_fold_into_one_token():
    assert normalize("W.A.L.T uses") == "walt uses"
    assert "walt" in tokens("The W.A.L.T. model")


def test_key_phrases_split_at_stop_words_and_keep_names():
    phrases = key_phrases(WALT_QUESTION)
    assert "causal encoder design" in phrases
    assert "W.A.L.T" in phrases
    assert "inference throughput" in phrases
    assert all("how" != p.lower() for p in phrases)


def test_entities_find_acronyms_and_versioned_names():
    assert entities("What LoRA rank works best for Wan2.1 and FVD?") == ["LoRA", "Wan2.1", "FVD"]
    assert entities("a plain lowercase question") == []


def test_mentions_matches_whole_words_and_plurals():
    assert mentions("W.A.L.T reports FVD", "W.A.L.T")
    assert not mentions("LoRAX is different", "LoRA")
    assert mentions("replaces the U-Net backbone", "U-Nets")


def test_sentence_split_keeps_decimals_and_acronyms():
    s = split_sentences("Wan2.1 is a model. It reaches 8.5 points on a benchmark. Done here now.")
    assert s == ["Wan2.1 is a model.", "It reaches 8.5 points on a benchmark.", "Done here now."]


def test_paper_names_from_title_prefix_and_opening():
    assert "lora" in paper_names("LoRA: Low-Rank Adaptation of Large Language Models")
    assert "walt" in paper_names("Photorealistic Video Generation", "W.A.L.T is a transformer.")
    assert "dit" in paper_names("Scalable Diffusion Models with Transformers", "Diffusion Transformers (DiT) replace U-Nets.")


def test_planner_issues_n_distinct_queries_anchored_on_the_named_method():
    qs = offline_queries(WALT_QUESTION, 4)
    assert len(qs) == 4 and len(set(qs)) == 4
    assert sum("W.A.L.T" in q for q in qs) >= 3
    assert offline_queries(WALT_QUESTION, 6)[:4] == qs  # deterministic and prefix-stable


def test_planner_never_repeats_the_anchor_inside_a_query():
    for q in offline_queries("What LoRA rank works best for fine-tuning Wan2.1?", 4):
        assert q.lower().split().count("lora") <= 1


def test_broadened_queries_are_new():
    already = offline_queries(WALT_QUESTION, 4)
    new = broaden_queries(WALT_QUESTION, ["Language Model Beats Diffusion -- Tokenizer is Key"], already, 4)
    assert new and not set(new) & set(already)
