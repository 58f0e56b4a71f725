"""The one directory llama-mtp writes its caches into."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Where llama-mtp caches what it writes (synthesized models; the cost cache in costs/):
    $LLAMA_MTP_CACHE_DIR ($LLAMA_MTP_CACHE, its older name), or ~/.cache/llama-mtp."""
    env = os.environ.get("LLAMA_MTP_CACHE_DIR") or os.environ.get("LLAMA_MTP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "llama-mtp"
