"""Model factory: picks the offline or the NIM implementation of each model role from the
configuration. The only place that knows which provider backs which role."""

from __future__ import annotations

from sovereign.adapters.corpus import load_corpus
from sovereign.adapters.embeddings import Embedder
from sovereign.graph.configuration import Configuration


def embedder_for(cfg: Configuration) -> Embedder:
    if cfg.resolved_provider() == "nim":
        from sovereign.adapters.nim import nim_client

        return nim_client(cfg)
    from sovereign.adapters.local_source import searcher_for

    return searcher_for(load_corpus(cfg.corpus_path, snapshot=cfg.cache), cfg.offline_embed_dim, persist=cfg.cache).embedder


def chat_client(cfg: Configuration):
    """The NIM client for the LLM versions of the agents, or ``None`` on the offline provider."""
    if cfg.resolved_provider() != "nim":
        return None
    from sovereign.adapters.nim import nim_client

    return nim_client(cfg)
