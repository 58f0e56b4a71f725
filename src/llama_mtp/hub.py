"""Model files by name from the Hugging Face Hub (the `hub` extra: huggingface_hub), through
its cache: a file already there is not fetched again, and HF_HUB_OFFLINE=1 (or
local_files_only=True) uses the cache only."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from ._core import InvalidArgumentError, Model, ModelNotFoundError

_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def _hub() -> tuple[Any, Any, Any]:
    """huggingface_hub, its errors module and its constants."""
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
    except ImportError as e:
        raise ImportError("from_pretrained needs huggingface_hub: pip install 'llama-mtp[hub]'") from e
    return huggingface_hub, errors, constants


def download_model(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """The local path of `filename` (a name or a glob such as "*Q4_K_M.gguf") in `repo_id`,
    fetched into the Hub cache unless it is there. A split GGUF comes with all its parts; the
    path is its first part (llama.cpp loads the rest from there)."""
    hub, errors, constants = _hub()
    not_found = (
        errors.EntryNotFoundError,
        errors.RepositoryNotFoundError,
        errors.RevisionNotFoundError,
        errors.LocalEntryNotFoundError,
    )
    try:
        if not any(c in filename for c in "*?["):
            return Path(
                hub.hf_hub_download(
                    repo_id, filename, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
                )
            )
        # a glob: the matching files of the repository (or, offline, of the cached snapshot)
        folder = Path(
            hub.snapshot_download(
                repo_id,
                allow_patterns=[filename],
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
            )
        )
    except errors.HFValidationError as e:  # a repo id or revision the Hub cannot name
        raise InvalidArgumentError(f"{repo_id!r}: not a Hub repository id ({str(e).splitlines()[0]})") from e
    except not_found as e:
        raise ModelNotFoundError(
            f"{repo_id}: {filename} is not available"
            f"{' in the local cache (offline)' if local_files_only or constants.HF_HUB_OFFLINE else ''}"
            f": {type(e).__name__}"
        ) from e
    matches = sorted(p for p in folder.rglob("*") if p.is_file() and fnmatch.fnmatch(p.relative_to(folder).as_posix(), filename))
    if not matches:
        raise ModelNotFoundError(f"{repo_id}: no file matches {filename!r}")
    firsts = {_SPLIT.sub("", p.name) for p in matches}
    if len(matches) > 1 and len(firsts) > 1:
        names = ", ".join(p.relative_to(folder).as_posix() for p in matches)
        raise ModelNotFoundError(f"{repo_id}: {filename!r} matches several models: {names}")
    return matches[0]


def from_pretrained(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    **model_kwargs: Any,
) -> Model:
    """Model.from_pretrained(): download_model() then Model(path, **model_kwargs)."""
    path = download_model(
        repo_id, filename, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
    )
    return Model(path, **model_kwargs)
