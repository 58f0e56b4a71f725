"""llama-mtp: llama.cpp multi-token-prediction (MTP) speculative decoding from Python."""

import os as _os
from pathlib import Path as _Path
from typing import Any as _Any

from ._cuda import preload_cuda_runtime as _preload_cuda_runtime

_preload_cuda_runtime()  # llama-mtp-cu12: the CUDA runtime comes from the nvidia-* wheels

from ._core import load_backends as _load_backends  # noqa: E402

# Wheels carry every CPU variant as a module beside _core; load the best one this CPU runs
# (or the one LLAMA_MTP_CPU_VARIANT names). A no-op for builds with one CPU backend linked in.
_load_backends(_os.fspath(_Path(__file__).resolve().parent), _os.environ.get("LLAMA_MTP_CPU_VARIANT") or None)

from ._core import (  # noqa: E402
    AcceptedTooManyError,
    ArgumentTypeError,
    BackendError,
    BadSeqIdError,
    Batch,
    ChatPrompt,
    ChatTemplate,
    ChatTemplateError,
    ClosedError,
    Context,
    ContextError,
    ContextType,
    DecodeAbortedError,
    DecodeError,
    DraftController,
    Generator,
    GeneratorFullError,
    Grammar,
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
    RpcError,
    Sampler,
    SequenceOptions,
    StaleViewError,
    StateError,
    TargetDecodeError,
    TokenProbs,
    ViewOwner,
    argmax,
    build_info,
    default_threads,
    inspect_gguf,
    quantize,
    set_log_level,
)
from ._core import version as _version  # noqa: E402
from ._scheduler import EngineStats, EngineStoppedError, QueueFullError  # noqa: E402
from .chat import ChatCompletion, ChatStream  # noqa: E402
from .draft_vocab import AUTO_DRAFT_VOCAB, AUTO_DRAFT_VOCAB_MIN_VOCAB  # noqa: E402
from .functions import chat, chat_stream, generate, stream  # noqa: E402
from .generation import Generation, Stream  # noqa: E402
from .llm import LLM  # noqa: E402
from .options import DraftConfig, InvalidOptionError, SamplingParams  # noqa: E402
from .sizing import AUTO_DRAFT_MAX, MtpContextParams, mtp_context_params, mtp_contexts  # noqa: E402

__version__: str = _version()  # not build_info(): that also probes every CPU variant module

__all__ = [
    "AUTO_DRAFT_MAX",
    "AUTO_DRAFT_VOCAB",
    "AUTO_DRAFT_VOCAB_MIN_VOCAB",
    "AcceptedTooManyError",
    "ArgumentTypeError",
    "BackendError",
    "BadSeqIdError",
    "Batch",
    "ChatCompletion",
    "ChatPrompt",
    "ChatStream",
    "ChatTemplate",
    "ChatTemplateError",
    "ClosedError",
    "Context",
    "ContextError",
    "ContextType",
    "DecodeAbortedError",
    "DecodeError",
    "DraftConfig",
    "DraftController",
    "EngineStats",
    "EngineStoppedError",
    "Generation",
    "Generator",
    "GeneratorFullError",
    "Grammar",
    "IncompatibleContextsError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidOptionError",
    "InvalidBatchError",
    "KvCacheFullError",
    "LLM",
    "LlamaError",
    "Model",
    "ModelLoadError",
    "ModelNotFoundError",
    "MtpSession",
    "MtpSessionConfig",
    "MtpSessionError",
    "MtpStateError",
    "TargetDecodeError",
    "MtpStats",
    "NoPendingProposalError",
    "ProposalPendingError",
    "QueueFullError",
    "RpcError",
    "Sampler",
    "SamplingParams",
    "SequenceOptions",
    "StaleViewError",
    "StateError",
    "Stream",
    "TokenProbs",
    "ViewOwner",
    "__version__",
    "argmax",
    "build_info",
    "chat",
    "chat_stream",
    "default_threads",
    "generate",
    "inspect_gguf",
    "MtpContextParams",
    "mtp_context_params",
    "mtp_contexts",
    "quantize",
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
        raise ArgumentTypeError("not a llama_mtp output view")
    return owner.is_current


__all__ += ["view_owner", "view_is_current"]


def __getattr__(name: str) -> _Any:
    # llama_mtp.testing after a plain `import llama_mtp`, imported on first use so that its
    # dependency (the gguf package) stays optional
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
