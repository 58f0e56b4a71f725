"""llama-mtp: llama.cpp multi-token-prediction (MTP) speculative decoding from Python."""

from __future__ import annotations

from ._cuda import preload_cuda_runtime

preload_cuda_runtime()  # llama-mtp-cu12: the CUDA runtime comes from the nvidia-* wheels

from ._core import (  # noqa: E402
    AcceptedTooManyError,
    BadSeqIdError,
    Batch,
    ClosedError,
    Context,
    ContextError,
    ContextType,
    DecodeAbortedError,
    DecodeError,
    Generator,
    IncompatibleContextsError,
    InvalidArgumentError,
    InvalidBatchError,
    InvalidConfigError,
    KvCacheFullError,
    LlamaError,
    Model,
    ModelLoadError,
    ModelNotFoundError,
    MtpSession,
    MtpSessionConfig,
    MtpSessionError,
    MtpStateError,
    MtpStats,
    NoPendingProposalError,
    ProposalPendingError,
    Sampler,
    StaleViewError,
    StateError,
    ViewOwner,
    build_info,
    set_log_level,
)
from .generation import Generation, Stream, generate, stream  # noqa: E402

__version__: str = str(build_info()["version"])

__all__ = [
    "AcceptedTooManyError",
    "BadSeqIdError",
    "Batch",
    "ClosedError",
    "Context",
    "ContextError",
    "ContextType",
    "DecodeAbortedError",
    "DecodeError",
    "Generation",
    "Generator",
    "IncompatibleContextsError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidBatchError",
    "KvCacheFullError",
    "LlamaError",
    "Model",
    "ModelLoadError",
    "ModelNotFoundError",
    "MtpSession",
    "MtpSessionConfig",
    "MtpSessionError",
    "MtpStateError",
    "MtpStats",
    "NoPendingProposalError",
    "ProposalPendingError",
    "Sampler",
    "StaleViewError",
    "StateError",
    "Stream",
    "ViewOwner",
    "__version__",
    "build_info",
    "generate",
    "set_log_level",
    "stream",
]


def view_owner(array: object) -> ViewOwner | None:
    """The ViewOwner of a zero-copy output view (or of a numpy view derived from one)."""
    base = array
    while base is not None:
        if isinstance(base, ViewOwner):
            return base
        base = getattr(base, "base", None)
    return None


def view_is_current(array: object) -> bool:
    """False when the context decoded again after the view was taken (stale data)."""
    owner = view_owner(array)
    if owner is None:
        raise TypeError("not a llama_mtp output view")
    return owner.is_current


__all__ += ["view_owner", "view_is_current"]
