"""The one directory llama-mtp writes its caches into, and the key of an entry about a file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Where llama-mtp caches what it writes (synthesized models; the cost cache in costs/):
    $LLAMA_MTP_CACHE_DIR ($LLAMA_MTP_CACHE, its older name), or ~/.cache/llama-mtp."""
    env = os.environ.get("LLAMA_MTP_CACHE_DIR") or os.environ.get("LLAMA_MTP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "llama-mtp"


def file_cache_key(path: str, **parts: object) -> str | None:
    """The key of a cache entry about the file at `path` as it is now (its real path, size and
    modification time) and `parts`: a hex digest; None where the file is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    identity = dict(parts, model=os.path.realpath(path), size=st.st_size, mtime_ns=st.st_mtime_ns)
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
