"""llama-mtp: llama.cpp multi-token-prediction (MTP) speculative decoding from Python."""

from __future__ import annotations

from ._core import (
    Batch,
    ClosedError,
    Context,
    ContextError,
    ContextType,
    DecodeAbortedError,
    DecodeError,
    InvalidArgumentError,
    InvalidBatchError,
    KvCacheFullError,
    LlamaError,
    Model,
    ModelLoadError,
    ModelNotFoundError,
    Sampler,
    StaleViewError,
    StateError,
    ViewOwner,
    build_info,
    set_log_level,
)

__version__: str = str(build_info()["version"])

__all__ = [
    "Batch",
    "ClosedError",
    "Context",
    "ContextError",
    "ContextType",
    "DecodeAbortedError",
    "DecodeError",
    "InvalidArgumentError",
    "InvalidBatchError",
    "KvCacheFullError",
    "LlamaError",
    "Model",
    "ModelLoadError",
    "ModelNotFoundError",
    "Sampler",
    "StaleViewError",
    "StateError",
    "ViewOwner",
    "__version__",
    "build_info",
    "set_log_level",
]
