"""Secret redaction for anything the kernel prints or writes."""

from __future__ import annotations

import os
import re

_NVAPI = re.compile(r"nvapi-[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """Replace the configured NVIDIA API key (and anything shaped like one) with ***."""
    key = os.environ.get("NVIDIA_API_KEY")
    if key and len(key) >= 6:
        text = text.replace(key, "***")
    return _NVAPI.sub("nvapi-***", text)
