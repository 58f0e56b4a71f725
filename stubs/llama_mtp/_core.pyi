"""
llama-mtp native core: llama.cpp models, contexts, batches, samplers and MTP.
"""

from collections.abc import Mapping, Sequence
import enum
import os
from typing import Annotated, Any, NoReturn, overload

import numpy
from numpy.typing import NDArray


class LlamaError(Exception):
    """Base class of every llama_mtp error."""

    def __getattr__(self, name: str) -> Any: ...  # data attributes set where raised (.code, .endpoint, ...)

class MtpSessionError(LlamaError):
    """Base class of MtpSession errors."""

class AcceptedTooManyError(MtpSessionError, ValueError):
    """accept(n) with n larger than the proposal (.n_accepted, .size)."""

class InvalidArgumentError(LlamaError, ValueError):
    """An argument is out of range or inconsistent."""

class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (a TypeError too)."""

class BackendError(LlamaError):
    """A ggml backend module is missing or not supported by this machine (e.g. a CPU variant needing instructions this CPU lacks)."""

class BadSeqIdError(MtpSessionError, ValueError):
    """seq_id outside [0, n_seq) (.seq_id, .n_seq)."""

class ChatTemplateError(LlamaError, ValueError):
    """A chat template could not be loaded, rendered or parsed."""

class ContextError(LlamaError):
    """A context could not be created or used as requested."""

class ClosedError(ContextError):
    """The model or context was closed."""

class DecodeError(LlamaError):
    """llama_decode failed; `code` holds upstream's return value."""

class DecodeAbortedError(DecodeError):
    """The decode was aborted (code 2)."""

class GeneratorFullError(LlamaError):
    """Every sequence slot of the Generator is taken: release() one first."""

class IncompatibleContextsError(MtpSessionError):
    """The target/draft contexts cannot run draft-mtp; the message names the fix."""

class InvalidBatchError(DecodeError, ValueError):
    """llama.cpp rejected the batch (code -1)."""

class InvalidConfigError(MtpSessionError, ValueError):
    """An MtpSessionConfig value is out of range (.parameter, .value, .minimum, .maximum)."""

class KvCacheFullError(DecodeError):
    """No KV cache slot for the batch (code 1): enlarge n_ctx or free sequences."""

class ModelLoadError(LlamaError):
    """The GGUF file could not be loaded (corrupt, truncated, unsupported)."""

class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """The model file does not exist."""

class StateError(LlamaError):
    """Saving or restoring a state failed."""

class MtpStateError(MtpSessionError, StateError):
    """A speculative state could not be saved or restored."""

class NoPendingProposalError(MtpSessionError):
    """accept() without a pending proposal."""

class ProposalPendingError(MtpSessionError):
    """A proposal is pending: accept() it first."""

class RpcError(LlamaError, ConnectionError):
    """A connection to an RPC server the model's layers live on was lost; `endpoint` names it. The model cannot run again: close it and load it again."""

class StaleViewError(ContextError):
    """An operation would invalidate live zero-copy views."""

class TargetDecodeError(MtpSessionError, DecodeError):
    """The target's decode failed inside a session call (.code: upstream's status)."""

def load_backends(directory: str, cpu_variant: str | None = None) -> list[str]:
    """
    Load the ggml backend modules from ``directory`` (llama_mtp's package directory; ``import llama_mtp`` does this). With ``cpu_variant`` (e.g. 'x64', 'haswell') that CPU variant instead of the best one this CPU supports. Once per process; a no-op in builds that link one CPU backend. Returns the registered backend names. Raises BackendError when a module is missing or not supported by this CPU.
    """

def build_info() -> dict[str, Any]:
    """
    Package version, pinned llama.cpp commit, compiled variant and backends, CPU features and compiler.
    """

def default_threads() -> int:
    """
    The thread count used when n_threads is None: one per physical core (upstream's choice), at most the CPUs this process may run on.
    """

def version() -> str:
    """
    The package version, as build_info()['version'], without build_info()'s backend probes.
    """

def set_log_level(level: str) -> None:
    """
    Minimum level of llama.cpp messages written to stderr: debug, info, warn (default), error or none. LLAMA_MTP_LOG_LEVEL sets it at import.
    """

class Model:
    """
    A GGUF model loaded with llama.cpp (weights, vocabulary, metadata). Contexts keep the weights alive.
    """

    def __init__(self, path: str | os.PathLike[str], *, n_gpu_layers: int | None = None, use_mmap: bool = True, load_mtp: bool = True, vocab_only: bool = False, repack: bool = True, rpc_servers: Sequence[str] | None = None, tensor_split: Sequence[float] | None = None) -> None:
        """
        Load a GGUF file (the GIL is released while loading). repack=False maps to upstream's use_extra_bufts=false (no weight repacking / AMX kernels).

        rpc_servers: 'host:port' endpoints of ``llama-mtp rpc-server`` workers (upstream's --rpc); their devices come first, then local GPUs. n_gpu_layers: how many layers (the last ones; -1: all) go to those devices; None means all when rpc_servers are given, else 0. tensor_split: the share of each device (default: by free memory). An unreachable server, a failed handshake or another protocol version raises ModelLoadError naming the endpoint.
        """

    @property
    def path(self) -> str:
        """Path the model was loaded from."""

    @property
    def closed(self) -> bool:
        """True after close()."""

    @property
    def devices(self) -> list[dict[str, Any]]:
        """
        Where the weights are, one dict per device in use: name, description, rpc_endpoint ('host:port' for an RPC server, else None), layers (indices), output (holds the output layer), weight_bytes.
        """

    @property
    def rpc_servers(self) -> list[str]:
        """The RPC servers given at load ('host:port')."""

    def close(self) -> None:
        """
        Drop this object's reference to the weights; they are freed once no context uses them.
        """

    def __enter__(self) -> Model:
        """The model itself; close() on exit."""

    def __exit__(self, *args: object) -> None:
        """close()"""

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""

    @property
    def n_embd(self) -> int:
        """Hidden size."""

    @property
    def n_embd_out(self) -> int:
        """Width of the output embeddings (the rows MTP consumes)."""

    @property
    def n_layer(self) -> int:
        """Number of blocks as upstream counts them (NextN blocks included)."""

    @property
    def n_layer_nextn(self) -> int:
        """
        Number of NextN (MTP) blocks; 0 when the model has none or they were not loaded.
        """

    @property
    def n_head(self) -> int:
        """Attention heads per layer."""

    @property
    def n_head_kv(self) -> int:
        """
        Key/value heads per layer (fewer than n_head with grouped-query attention).
        """

    @property
    def n_ctx_train(self) -> int:
        """Context length the model was trained with."""

    @property
    def arch(self) -> str:
        """Architecture name from the GGUF metadata (e.g. 'qwen35')."""

    @property
    def description(self) -> str:
        """Upstream's one-line description (arch, size, type)."""

    @staticmethod
    def from_pretrained(repo_id: str, filename: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None, local_files_only: bool = False, token: str | bool | None = None, **model_kwargs: Any) -> Model:
        """
        A GGUF file from the Hugging Face Hub by repository and file name (or glob), through huggingface_hub's cache (HF_HUB_OFFLINE=1: the cache only); model_kwargs go to Model(). Needs the hub extra (pip install 'llama-mtp[hub]').
        """

    @property
    def chat_template(self) -> str | None:
        """
        The chat template the GGUF carries (tokenizer.chat_template), None when it has none.
        """

    @property
    def size_bytes(self) -> int:
        """Total size of all tensors in bytes."""

    @property
    def n_params(self) -> int:
        """Number of parameters."""

    @property
    def is_recurrent(self) -> bool:
        """Pure recurrent architecture (Mamba, RWKV, ...)."""

    @property
    def is_hybrid(self) -> bool:
        """Hybrid recurrent + attention architecture (e.g. qwen35)."""

    @property
    def has_mtp(self) -> bool:
        """
        True when NextN (MTP) layers are loaded and a draft context can be made.
        """

    @property
    def bos(self) -> int:
        """Beginning-of-sequence token id (-1 if none)."""

    @property
    def eos(self) -> int:
        """End-of-sequence token id (-1 if none)."""

    @property
    def add_bos(self) -> bool:
        """Whether tokenize(add_special=True) prepends BOS."""

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, ...)."""

    def new_context(self, *, n_ctx: int = 4096, n_batch: int = 512, n_ubatch: int = 512, n_seq_max: int = 1, n_threads: int | None = None, n_threads_batch: int | None = None, ctx_type: ContextType = ..., n_rs_seq: int = 0, embeddings: bool = False) -> Context:
        """
        Context(self, ...): a new context over this model (the same keyword arguments).
        """

    def metadata(self) -> dict[str, str]:
        """All GGUF key/value metadata as strings."""

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """Text to token ids (a new int32 array)."""

    def detokenize(self, tokens: Sequence[int] | numpy.ndarray, remove_special: bool = False, unparse_special: bool = False) -> str:
        """
        Token ids to text (invalid UTF-8 from partial byte tokens becomes U+FFFD).
        """

    def token_to_piece(self, token: int, special: bool = True) -> str:
        """The text of one token."""

    def __repr__(self) -> str: ...

class Batch:
    """
    A token batch with fixed capacity. token/pos/seq_id/logits are writable zero-copy numpy views over the first len(batch) rows; decode reads exactly these arrays.
    """

    def __init__(self, capacity: int, *, n_seq_max: int = 1) -> None:
        """
        An empty batch with room for capacity rows of up to n_seq_max seq ids each.
        """

    def __len__(self) -> int:
        """Rows in use (what decode reads)."""

    @property
    def capacity(self) -> int:
        """Most rows the batch can hold."""

    @property
    def n_seq_max(self) -> int:
        """Most seq ids one row can carry."""

    def clear(self) -> None:
        """Set the length to 0 (capacity and views' memory kept)."""

    def add(self, token: int, pos: int, seq_id: int | Sequence[int] = 0, logits: bool = False) -> int:
        """
        Append one row; returns its index. Range checks against the model happen at decode.
        """

    def set_tokens(self, tokens: Sequence[int] | numpy.ndarray, pos0: int = 0, seq_id: int = 0, logits_last: bool = True, *, append: bool = False) -> None:
        """
        Fill rows from an int32 array at positions pos0, pos0+1, ... of one sequence (replacing the batch, or after its rows with append=True); logits_last requests output for the last row only.
        """

    def set_len(self, n: int) -> None:
        """
        Set the number of rows in use (0..capacity), e.g. after writing rows through views of a longer batch.
        """

    @property
    def n_outputs(self) -> int:
        """Rows whose logits flag is set."""

    @property
    def token(self) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """int32 token ids (writable view)."""

    @property
    def pos(self) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """int32 positions (writable view)."""

    @property
    def seq_id(self) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """int32 first seq id of each row (writable, strided view)."""

    @property
    def n_seq_id(self) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """int32 number of seq ids per row (writable view)."""

    @property
    def logits(self) -> Annotated[NDArray[numpy.int8], dict(shape=(None,))]:
        """int8 output flags (1 = compute logits for the row; writable view)."""

    def __repr__(self) -> str: ...

class ContextType(enum.Enum):
    """Kind of llama.cpp context."""

    DEFAULT = 0
    """An ordinary (target) context."""

    MTP = 1
    """A draft context running the model's NextN (MTP) layers."""

class ViewOwner:
    """
    Owner (numpy base) of a zero-copy output view: keeps the context alive and records the decode generation the view belongs to.
    """

    @property
    def generation(self) -> int:
        """Context.decode_count when the view was taken."""

    @property
    def __array_interface__(self) -> dict[str, Any]:
        """numpy's array interface over llama.cpp's memory (read-only)."""

    @property
    def is_current(self) -> bool:
        """
        False once the context decoded again (the view then shows newer data) or closed.
        """

class Context:
    """
    A llama.cpp inference context over a Model (KV cache, outputs). Keeps its model alive.
    """

    def __init__(self, model: Model, *, n_ctx: int = 4096, n_batch: int = 512, n_ubatch: int = 512, n_seq_max: int = 1, n_threads: int | None = None, n_threads_batch: int | None = None, ctx_type: ContextType = ContextType.DEFAULT, n_rs_seq: int = 0, embeddings: bool = False) -> None:
        """
        Create a context (GIL released). llama.cpp pads n_ctx per sequence and clamps n_batch to n_ctx and n_ubatch to n_batch; the properties report what it uses. n_threads=None picks what upstream would: one thread per physical core, never more than the CPUs this process may run on (llama_mtp.default_threads()).
        """

    @property
    def model(self) -> Model:
        """The Model this context runs."""

    @property
    def closed(self) -> bool:
        """True after close()."""

    def close(self) -> None:
        """
        Free the context now. Raises StaleViewError while zero-copy views of it are alive.
        """

    def __enter__(self) -> Context:
        """The context itself; close() on exit."""

    def __exit__(self, *args: object) -> None:
        """close()"""

    @property
    def n_ctx(self) -> int:
        """Context size in tokens (KV cells, all sequences)."""

    @property
    def n_ctx_seq(self) -> int:
        """
        KV cells one sequence may use (n_ctx / n_seq_max, padded by llama.cpp).
        """

    @property
    def n_batch(self) -> int:
        """Most tokens one decode() accepts (at most n_ctx)."""

    @property
    def n_ubatch(self) -> int:
        """Tokens per compute graph (a decode runs n_batch in n_ubatch slices)."""

    @property
    def n_seq_max(self) -> int:
        """Most sequences the context holds; seq ids are 0..n_seq_max-1."""

    @property
    def n_rs_seq(self) -> int:
        """Recurrent-state snapshots per sequence (rollback depth)."""

    @property
    def ctx_type(self) -> ContextType:
        """DEFAULT (target) or MTP (draft over the NextN layers)."""

    @property
    def embeddings(self) -> bool:
        """Whether decode() outputs final embeddings."""

    @property
    def n_threads(self) -> int:
        """Threads for single-token decodes."""

    @property
    def n_threads_batch(self) -> int:
        """Threads for multi-token decodes (prompts, verify batches)."""

    def set_n_threads(self, n_threads: int, n_threads_batch: int | None = None) -> None:
        """
        Change the thread counts (n_threads_batch=None: the same as n_threads).
        """

    def set_draft_vocabulary(self, tokens: object, *, spare: int = 1024) -> int:
        """
        Restrict this MTP draft context's head to a draft vocabulary: the drafts are computed over these tokens only (and those a text later uses, admitted as it goes, `spare` of them without a rebuild); an empty list restores the whole vocabulary. The target verifies every token, so the text does not depend on it. Returns the number of LM heads restricted (0: the model has none to restrict). Raises InvalidArgumentError (not an MTP context, a token out of range or listed twice) or ModelLoadError (the head cannot be read from the model file).
        """

    @property
    def draft_vocabulary_size(self) -> int | None:
        """Tokens in the draft vocabulary now (None: the whole vocabulary)."""

    @property
    def decode_count(self) -> int:
        """Number of decodes run so far: the generation of views taken now."""

    @property
    def n_outputs(self) -> int:
        """Output rows of the last decode."""

    def decode(self, batch: Batch, *, exact: bool = False) -> None:
        """
        Decode a batch (GIL released). Raises InvalidArgumentError for bad tokens, positions or seq ids, KvCacheFullError / DecodeAbortedError / InvalidBatchError / DecodeError for upstream failures (with .code). exact: batch-invariant, every row's outputs bit for bit those of a one-row batch (slower on repacked CPU weights).
        """

    def set_embeddings_pre_norm(self, on: bool, masked: bool = False) -> None:
        """
        Extract the pre-norm hidden states (the rows NextN/MTP layers consume): for every batch row, or only rows with the logits flag when masked=True.
        """

    @property
    def embeddings_pre_norm(self) -> bool:
        """
        Whether pre-norm hidden states are extracted (set_embeddings_pre_norm).
        """

    def memory_clear(self, data: bool = True) -> None:
        """Remove every sequence from the KV cache / recurrent state."""

    def memory_seq_rm(self, seq_id: int, p0: int = -1, p1: int = -1) -> bool:
        """
        Remove positions [p0, p1) of a sequence (-1: open end; seq_id -1: all). Returns False when the memory cannot remove a partial range (recurrent state without snapshots).
        """

    def memory_seq_cp(self, seq_id_src: int, seq_id_dst: int, p0: int = -1, p1: int = -1) -> None:
        """
        Copy a whole sequence to another (p0 = p1 = -1; a partial range only within one sequence).
        """

    def memory_seq_keep(self, seq_id: int) -> None:
        """Remove every sequence but this one."""

    def memory_seq_pos_min(self, seq_id: int) -> int:
        """Smallest position of the sequence in memory, -1 if empty."""

    def memory_seq_pos_max(self, seq_id: int) -> int:
        """Largest position of the sequence in memory, -1 if empty."""

    def state_seq_get(self, seq_id: int, flags: int = 0) -> bytes:
        """Serialize one sequence's memory (KV and recurrent state)."""

    def state_seq_set(self, seq_id: int, data: bytes, flags: int = 0) -> None:
        """
        Restore a sequence from state_seq_get(); raises StateError on mismatch.
        """

    def perf(self) -> dict[str, float]:
        """Upstream's timing counters."""

    def perf_reset(self) -> None:
        """Zero upstream's timing counters."""

    def __repr__(self) -> str: ...

    def get_logits(self) -> Annotated[NDArray[numpy.float32], dict(shape=(None, None), writable=False)]:
        """
        Read-only zero-copy view (n_outputs, n_vocab) of the last decode's logits, rows in batch order. Valid until the next decode (see ViewOwner.is_current).
        """

    def get_logits_ith(self, i: int) -> Annotated[NDArray[numpy.float32], dict(shape=(None,), writable=False)]:
        """
        Read-only zero-copy view of the logits of batch row i (negative: from the last output).
        """

    def get_embeddings_ith(self, i: int) -> Annotated[NDArray[numpy.float32], dict(shape=(None,), writable=False)]:
        """
        Read-only zero-copy view of the output embedding of batch row i (embeddings=True).
        """

    def get_embeddings_seq(self, seq_id: int) -> Annotated[NDArray[numpy.float32], dict(shape=(None,), writable=False)]:
        """
        Read-only zero-copy view of a sequence's pooled embedding (pooling models only).
        """

    def get_embeddings_pre_norm_ith(self, i: int) -> Annotated[NDArray[numpy.float32], dict(shape=(None,), writable=False)]:
        """Read-only zero-copy view of the pre-norm hidden state of batch row i."""

class Sampler:
    """
    Upstream's sampler chain. temperature=0 is greedy (argmax); otherwise top-k -> top-p -> min-p -> temperature -> seeded random draw.
    """

    def __init__(self, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None) -> None: ...

    def sample(self, ctx: Context, i: int = -1) -> int:
        """
        Sample a token from the logits of batch row i of ctx's last decode (GIL released).
        """

    def accept(self, token: int) -> None:
        """Tell stateful samplers (repetition, grammar) the token was chosen."""

    def reset(self) -> None:
        """Reset the chain (and the random state to the seed)."""

    @property
    def temperature(self) -> float:
        """Softmax temperature; <= 0 is greedy."""

    @property
    def top_k(self) -> int:
        """Keep the k most likely tokens (0: all)."""

    @property
    def top_p(self) -> float:
        """Nucleus sampling mass (1.0: off)."""

    @property
    def min_p(self) -> float:
        """Drop tokens below min_p times the top probability (0.0: off)."""

    @property
    def seed(self) -> int:
        """Random seed of the chain."""

    @property
    def is_greedy(self) -> bool:
        """True when sampling is argmax."""

class MtpStats:
    """Speculative decoding statistics (vLLM-style metrics)."""

    @property
    def n_drafts(self) -> int:
        """Proposals with at least one token."""

    @property
    def draft_tokens(self) -> int:
        """Tokens proposed."""

    @property
    def n_verified(self) -> int:
        """Proposals accepted/rejected so far."""

    @property
    def verified_tokens(self) -> int:
        """Proposed tokens the target has verified (accepted or not)."""

    @property
    def accepted_drafts(self) -> int:
        """Proposals with >= 1 token accepted."""

    @property
    def accepted_tokens(self) -> int:
        """Proposed tokens the target accepted."""

    @property
    def acceptance_per_position(self) -> list[float]:
        """
        [i]: fraction of verified proposals whose token i was accepted (non-increasing).
        """

    @property
    def acceptance_rate(self) -> float:
        """accepted_tokens / verified_tokens."""

    @property
    def mean_acceptance_length(self) -> float:
        """
        1 + accepted tokens per verified proposal: tokens gained per target step.
        """

    @property
    def t_begin(self) -> float:
        """Seconds in begin()."""

    @property
    def t_process(self) -> float:
        """Seconds in process()."""

    @property
    def t_draft(self) -> float:
        """Seconds in draft()."""

    @property
    def t_accept(self) -> float:
        """Seconds in accept()."""

    def as_dict(self) -> dict[str, Any]:
        """All counters and rates as a dict."""

    def __repr__(self) -> str: ...

class MtpSessionConfig:
    """Draft-mtp settings, validated on creation."""

    def __init__(self, n_seq: int = 1, n_draft_max: int = 3, n_min: int = 0, p_min: float = 0.0) -> None: ...

    @property
    def n_seq(self) -> int:
        """Sequences the session serves (seq ids 0..n_seq-1)."""

    @property
    def n_draft_max(self) -> int:
        """Most tokens one draft() proposes."""

    @property
    def n_min(self) -> int:
        """Drafts shorter than this are dropped."""

    @property
    def p_min(self) -> float:
        """Drafting stops at a token whose probability is below this."""

    def with_n_min(self, n_min: int) -> MtpSessionConfig:
        """A copy with another n_min."""

    def with_p_min(self, p_min: float) -> MtpSessionConfig:
        """A copy with another p_min."""

    def with_n_draft_max(self, n_draft_max: int) -> MtpSessionConfig:
        """A copy with another n_draft_max."""

    def __eq__(self, arg: MtpSessionConfig, /) -> bool:
        """Equal when every field is."""

    def __repr__(self) -> str: ...

class MtpSession:
    """
    Upstream's draft-mtp speculative decoder behind a guarded state machine: begin -> (draft -> decode verify batch on target -> process -> accept)*.
    """

    @overload
    def __init__(self, target: Context, draft: Context, config: MtpSessionConfig | None = None) -> None:
        """
        Preflight-check the contexts (IncompatibleContextsError names the fix), then set up draft-mtp.
        """

    @overload
    def __init__(self, target: Context, draft: Context, n_seq: int, n_draft_max: int) -> None:
        """The same with MtpSessionConfig(n_seq=n_seq, n_draft_max=n_draft_max)."""

    @staticmethod
    def new_with_config(target: Context, draft: Context, config: MtpSessionConfig) -> MtpSession:
        """MtpSession(target, draft, config)."""

    @property
    def config(self) -> MtpSessionConfig:
        """The session's MtpSessionConfig."""

    @property
    def n_draft_max(self) -> int:
        """config.n_draft_max."""

    @property
    def n_min(self) -> int:
        """config.n_min."""

    @property
    def p_min(self) -> float:
        """config.p_min."""

    @property
    def n_seq(self) -> int:
        """config.n_seq."""

    @property
    def need_embd(self) -> bool:
        """Whether the target must output final embeddings (draft-mtp: no)."""

    @property
    def need_embd_pre_norm(self) -> bool:
        """
        Whether the target must output pre-norm hidden states for every row (draft-mtp: yes; the session switched it on).
        """

    @property
    def target(self) -> Context:
        """The target context."""

    @property
    def draft_context(self) -> Context:
        """The MTP draft context."""

    @property
    def is_quiescent(self) -> bool:
        """No sequence has a pending proposal."""

    def has_pending_proposal(self, seq_id: int) -> bool:
        """Whether draft() proposed tokens that accept() has not settled yet."""

    def pending_proposal(self, seq_id: int) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """A copy of the tokens awaiting accept() (empty when none)."""

    def begin(self, seq_id: int, prompt_tokens: Sequence[int] | numpy.ndarray) -> None:
        """
        Start a sequence: prompt_tokens are the tokens already decoded (and processed) on the target.
        """

    def process(self, batch: Batch) -> None:
        """
        Feed the batch just decoded on the target to the draft context (GIL released).
        """

    def draft(self, seq_id: int, n_past: int, last_token: int, n_max: int | None = None) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]:
        """
        Propose up to n_draft_max tokens to follow last_token (at position n_past); they become the pending proposal of seq_id. GIL released.
        """

    def accept(self, seq_id: int, n_accepted: int) -> None:
        """Report how many tokens of the pending proposal the target verified."""

    def decode_target(self, batch: Batch, *, exact: bool = False) -> None:
        """
        target.decode(batch, exact=exact) (GIL released); a failure raises TargetDecodeError, an MtpSessionError and a DecodeError with .code.
        """

    def decode_target_and_process(self, batch: Batch, *, exact: bool = False) -> None:
        """
        decode_target(batch, exact=exact) then process(batch); GIL released for both.
        """

    def clear_target_kv_cache_seq(self, seq_id: int, p0: int | None = None, p1: int | None = None) -> bool:
        """
        target.memory_seq_rm(seq_id, p0, p1), None for an open end: drop rejected positions.
        """

    def clear_draft_kv_cache_seq(self, seq_id: int, p0: int | None = None, p1: int | None = None) -> bool:
        """draft_context.memory_seq_rm(seq_id, p0, p1), None for an open end."""

    @property
    def stats(self) -> MtpStats:
        """A snapshot of the statistics so far."""

    def print_stats(self) -> None:
        """Print the statistics in upstream's format (stdout)."""

    def get_state(self, seq_id: int) -> bytes:
        """Serialize this sequence's speculative state (quiescent sessions only)."""

    def set_state(self, seq_id: int, data: bytes) -> None:
        """Restore a state from get_state(); nothing changes on error."""

    def speculative_state(self, seq_id: int) -> bytes:
        """Another name of get_state()."""

    def restore_speculative_state(self, seq_id: int, data: bytes) -> None:
        """Another name of set_state()."""

class DraftController:
    """
    The adaptive draft length (n_draft_max="auto"): picks k for each step, 0 meaning plain decoding, to maximise expected tokens per second. It learns P(draft token i accepted | the ones before were) and the seconds of drafting, verifying and processing for each k; it keeps probing the lengths beside its choice (and drafting, while plain decoding is best) so that it follows changes of load or text. Feed it every step with observe(), ask next() for the length of the next one.
    """

    def __init__(self, n_max: int = 6, *, plain_skips_process: bool = False) -> None:
        """
        n_max: the longest draft it may choose. plain_skips_process: True when a step with k = 0 costs the verify alone because the loop then skips process() (llama_mtp's own loop does, and restarts the draft context when drafting resumes).
        """

    def next(self) -> int:
        """The draft length for the next step (0..n_max)."""

    @property
    def probe_follows(self) -> bool:
        """
        Whether the step after next() probes drafting from plain decoding: a loop that skips
        the draft context while plain keeps the target's hidden state from next()'s step for it.
        """

    @property
    def exploring(self) -> bool:
        """
        Whether next() is a probe rather than the best estimate (a probe of k = 0 should still call process(): drafting goes on after it).
        """

    def observe(self, k: int, drafted: int | Sequence[int] | numpy.ndarray, accepted: int | Sequence[int] | numpy.ndarray, *, t_draft: float, t_verify: float, t_process: float = 0.0) -> None:
        """
        Record one step: the length asked for, the tokens drafted and accepted (an int, or one per sequence in the step), and the step's seconds spent drafting, in the target decode of the verify batch (with sampling), and in process().
        """

    def state(self) -> dict[str, Any]:
        """
        What it has learned, as plain values (JSON-ready): acceptance counts per position, seconds per length, the probe gap. start_from() takes it back.
        """

    def start_from(self, state: dict[str, Any]) -> None:
        """
        Start from another controller's state(): its counts and costs with a small weight (new steps soon outweigh them), no warm-up; the next length is the best by them.
        """

    @property
    def n_max(self) -> int:
        """The longest draft it may choose."""

    @property
    def best(self) -> int:
        """
        The measured length with the highest expected speed now (lengths never measured are
        not chosen on a guess).
        """

    @property
    def measured(self) -> NDArray[numpy.uint8]:
        """
        [k]: 1 where length k's cost was measured (two steps, or one that agreed with the measured
        lengths on both sides).
        """

    @property
    def machine_level(self) -> float:
        """
        How much slower the machine is now than when the costs were first measured (1: the same);
        the costs of the lengths not played lately are scaled by it.
        """

    @property
    def n_steps(self) -> int:
        """Steps observed."""

    @property
    def history(self) -> NDArray[numpy.int32]:
        """The length asked for at each observed step (int32 array)."""

    @property
    def acceptance(self) -> NDArray[numpy.float64]:
        """
        [i-1]: estimated P(draft token i accepted | tokens before it were), i = 1..n_max.
        """

    @property
    def expected_tokens(self) -> NDArray[numpy.float64]:
        """[k]: expected tokens per sequence and step when drafting k."""

    @property
    def step_seconds(self) -> NDArray[numpy.float64]:
        """
        [k]: estimated seconds per sequence and step when drafting k (0 while unknown).
        """

    @property
    def expected_speed(self) -> NDArray[numpy.float64]:
        """
        [k]: expected tokens per second and sequence when drafting k (0 while unknown).
        """

    @property
    def optimistic_speed(self) -> NDArray[numpy.float64]:
        """
        [k]: the speed drafting k may plausibly reach (acceptance one standard error up, cost down by
        the doubt of a length rarely or not lately timed); a probe plays a length only where this
        beats the best expected_speed.
        """

    @property
    def plausible_speed(self) -> NDArray[numpy.float64]:
        """
        [k]: optimistic_speed with the acceptance optimism alone (the costs as estimated): whether a
        change of text may make k pay.
        """

    @property
    def predicted_speed(self) -> float:
        """
        Tokens per second and sequence the model predicted for the lengths it chose.
        """

    @property
    def measured_speed(self) -> float:
        """Tokens per second and sequence measured over the observed steps."""

    @property
    def t_draft(self) -> float:
        """Seconds spent drafting, all observed steps."""

    @property
    def t_verify(self) -> float:
        """Seconds spent verifying, all observed steps."""

    @property
    def t_process(self) -> float:
        """Seconds spent in process(), all observed steps."""

    def __repr__(self) -> str: ...

class ThreadController:
    """
    The auto thread count (n_threads=None): how many threads each step decodes with, from 1 to n_max. Where steps' process CPU time stays well under threads x wall time (another process keeps cores busy), it tries one thread fewer and keeps it where steps of the same shape cost clearly less; below n_max it tries one more where CPUs sat idle. Feed it every step with observe(), ask next() for the count of the next one.
    """

    def __init__(self, n_max: int) -> None:
        """n_max: the most threads it may choose (the count it starts with)."""

    def next(self) -> int:
        """The thread count of the next step."""

    @property
    def current(self) -> int:
        """The count it settled on (next() differs while it tries another)."""

    @property
    def probing(self) -> bool:
        """Whether the next step tries another count."""

    @property
    def switches(self) -> int:
        """How many times it moved to another count."""

    def start_at(self, n: int) -> None:
        """
        Start from n threads (clamped to 1..n_max) instead of n_max, trying more after 8 steps where CPUs then sit idle.
        """

    def observe(self, threads: int, shape: int, wall: float, cpu: float, *, idle_cpus: float = -1.0) -> None:
        """
        One step: the thread count it ran with, its shape (steps of one shape cost the same at one count), its wall seconds, the process's CPU seconds over it, and the CPUs that sat idle (negative: unknown).
        """

def argmax(logits: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> int:
    """
    The greedy pick of generate(): index of the first maximum of a float32 vector (NaN never wins; 0 for an empty vector or one without a value above -inf).
    """

class SequenceOptions:
    """What one sequence of a Generator asks for (add_sequences())."""

    def __init__(self, *, max_tokens: int, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, ignore_eos: bool = False, stop: Sequence[str] = [], n_draft: int = -1, grammar: Grammar | None = None, exact: bool = False, ngram: bool = True, sampled_drafts: bool = False, logit_bias: Sequence[tuple[int, float]] = [], n_probs: int = 0) -> None:
        """
        Validated sequence options, as add() takes them (seed: exactly this sequence's). logit_bias: (token, bias) pairs added to the target's logits before every pick (-inf bans a token). n_probs: keep each generated token's log-probability and its row's n_probs most probable candidates (Generator.take_probs(); -1: the token's alone).
        """

    @property
    def max_tokens(self) -> int:
        """Most tokens the sequence generates."""

    @property
    def n_draft(self) -> int:
        """-1: the generator's draft length; 0: none; n: at most n."""

    @property
    def stop(self) -> list[str]:
        """Strings that end the sequence."""

    @property
    def ngram(self) -> bool:
        """
        Whether the sequence may verify drafts taken from its own text (where the generator has an n-gram drafter).
        """

    @property
    def exact(self) -> bool:
        """
        Exact mode: every decode with a row of this sequence is batch-invariant, so its tokens are those of one-token-at-a-time decoding.
        """

    @property
    def sampled_drafts(self) -> bool:
        """
        At temperature > 0 without a grammar: MTP drafts sampled from the head's distribution and verified by rejection sampling (False: the head's top token and sample-and-match).
        """

class TokenProbs:
    """
    A generated token's log-probability under the target's distribution (the softmax of its raw logits) and the most probable tokens of the same row, most probable first.
    """

    @property
    def token(self) -> int:
        """The generated token."""

    @property
    def logprob(self) -> float:
        """Its natural log-probability (<= 0)."""

    @property
    def top_ids(self) -> list[int]:
        """The most probable tokens of its row."""

    @property
    def top_logprobs(self) -> list[float]:
        """Their log-probabilities."""

class Generator:
    """
    Low-level generation loop: prefill on construction, then step() until done. Use llama_mtp.generate()/stream() instead.
    """

    def __init__(self, target: Context, draft: Context | None, prompts: Sequence[Sequence[int] | numpy.ndarray], *, max_tokens: int, n_draft_max: int = 3, adaptive: bool = False, n_min: int = 0, p_min: float = 0.0, ngram: str | None = None, ngram_n_max: int = 16, ngram_size_n: int = 3, ngram_min_hits: int = 1, ngram_n_min: int = 1, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, ignore_eos: bool = False, stop: Sequence[str] = [], n_draft: int = -1, grammar: Grammar | None = None, exact: bool = False, seq_ngram: bool = True, sampled_drafts: bool = False) -> None:
        """
        Prefill the prompts (GIL released); generation happens in step(). adaptive: a DraftController picks each step's draft length, up to n_draft_max. Sequence i is seeded seed + i. n_draft: -1 follows the generator, 0 turns drafting off, n drafts at most n. grammar: a Grammar that sampling and verification go through (upstream's grammar sampler). ngram: an n-gram drafter of upstream's ("ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod"; None: none) drafting from each sequence's own text, up to ngram_n_max tokens, matching ngram_size_n tokens; with adaptive, an NgramController decides per step whether it pays. seq_ngram: whether these sequences may use it.
        """

    @staticmethod
    def with_slots(target: Context, draft: Context | None, *, n_slots: int, n_draft_max: int = 3, adaptive: bool = False, n_min: int = 0, p_min: float = 0.0, ngram: str | None = None, ngram_n_max: int = 16, ngram_size_n: int = 3, ngram_min_hits: int = 1, ngram_n_min: int = 1) -> Generator:
        """
        A generator with n_slots empty sequence slots for continuous batching: add() prompts between steps, cancel() and release() finished ones.
        """

    def add(self, prompts: Sequence[Sequence[int] | numpy.ndarray], *, max_tokens: int, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, ignore_eos: bool = False, stop: Sequence[str] = [], n_draft: int = -1, grammar: Grammar | None = None, exact: bool = False, ngram: bool = True, sampled_drafts: bool = False) -> list[int]:
        """
        Prefill prompts into free slots between steps (GIL released) and return their slots; the other sequences go on where they were. Raises GeneratorFullError without enough free slots.
        """

    def add_sequences(self, prompts: Sequence[Sequence[int] | numpy.ndarray], options: Sequence[SequenceOptions], *, join_next_step: bool = False) -> list[int]:
        """
        Like add(), with SequenceOptions of its own for each prompt (requests that differ in their options). join_next_step: the prompts are decoded in the next step's batch, beside the other sequences' verify rows (one decode instead of two: what a server wants), where the target allows it (not recurrent or hybrid, room in n_batch); else they are prefilled now.
        """

    def cancel(self, seq: int) -> None:
        """
        Stop sequence seq now (finish reason "cancelled"); its slot stays taken until release().
        """

    def release(self, seq: int) -> None:
        """
        Free the slot of a finished or cancelled sequence. Its memory stays: a later prompt that begins with the same tokens decodes only the rest (see n_cached).
        """

    @property
    def n_slots(self) -> int:
        """Sequence slots (the prompts given, or with_slots()' n_slots)."""

    @property
    def free_slots(self) -> list[int]:
        """Slots add() can fill."""

    @property
    def active_slots(self) -> list[int]:
        """Slots whose sequence is still generating."""

    @property
    def joining_slots(self) -> list[int]:
        """
        Slots whose prompt the next step decodes (added with join_next_step=True where it fit that step's batch); that decode gives their first token.
        """

    def step(self) -> list[list[int]]:
        """Run one step (GIL released); returns the new tokens of each sequence."""

    @property
    def done(self) -> bool:
        """True when every sequence has finished."""

    @property
    def tokens(self) -> list[list[int]]:
        """Per sequence: the tokens generated so far."""

    @property
    def finish_reasons(self) -> list[str]:
        """
        Per sequence: "" while running (or a free slot), then "stop" (EOS or a stop string), "length" or "cancelled".
        """

    def take_text(self, seq: int) -> str:
        """
        Text of sequence seq not handed out yet, as far as it is final: never an incomplete character, never the start of a possible stop string (all of it once the sequence ended).
        """

    def take_probs(self, seq: int) -> list[TokenProbs]:
        """
        The log-probabilities of sequence seq's tokens generated since the last call (its SequenceOptions' n_probs; empty without).
        """

    def text(self, seq: int) -> str:
        """The whole text of sequence seq so far, cut where a stop string begins."""

    @property
    def n_past(self) -> list[int]:
        """Per sequence: positions held in the target's memory."""

    @property
    def failure(self) -> str:
        """
        Why an earlier step or prefill failed ("" while healthy); a failed generator takes no more work.
        """

    @property
    def interruptible(self) -> bool:
        """
        Whether Ctrl-C on the main thread may stop a step or prefill midway (failing the generator; default True); see set_interruptible().
        """

    def adapt_threads(self, on: bool) -> None:
        """
        The auto thread count on or off: each step then decodes with the count a ThreadController chooses, from 1 to the contexts' count now (off: that count again).
        """

    @property
    def adapting_threads(self) -> bool:
        """Whether adapt_threads(True) is on."""

    @property
    def threads(self) -> int:
        """The thread count of the next step."""

    @property
    def thread_steps(self) -> list[int]:
        """
        How many steps ran with each thread count (index: the count) since adapt_threads(True).
        """

    def set_interruptible(self, on: bool) -> None:
        """
        On: Ctrl-C on the main thread may stop a step or prefill midway (the generator then fails). Off: the call runs to its end and Python raises KeyboardInterrupt after it (the LLM's scheduler turns it off while the generator holds other callers' sequences).
        """

    @property
    def n_cached(self) -> list[int]:
        """
        Per sequence: prompt tokens taken from the KV its slot kept (not decoded again).
        """

    @property
    def session(self) -> MtpSession | None:
        """The MtpSession driving the drafts (None without a draft context)."""

    @property
    def draft_lengths(self) -> NDArray[numpy.int32]:
        """
        The draft length asked for at each step (int32 array; 0: plain decoding; empty without a draft context).
        """

    def draft_lengths_from(self, start: int) -> NDArray[numpy.int32]:
        """draft_lengths[start:], without copying the entries before it."""

    @property
    def n_draft_lengths(self) -> int:
        """len(draft_lengths), without copying it."""

    @property
    def draft_length_counts(self) -> list[int]:
        """
        Steps that asked for each draft length, 0..n_draft_max (of the sequences that follow the generator's length).
        """

    def start_controller_from(self, state: dict[str, Any]) -> None:
        """
        With n_draft_max="auto", before the first step: the controller of one-sequence steps starts from an earlier DraftController.state() (DraftController.start_from).
        """

    @property
    def controller(self) -> DraftController | None:
        """
        A snapshot of the adaptive draft length's state (None unless adaptive).
        """

    @property
    def ngram(self) -> str | None:
        """
        The n-gram drafter's name (upstream's --spec-type name), None without one.
        """

    @property
    def drafter_stats(self) -> dict[str, dict[str, Any]]:
        """
        Per drafter ("mtp", "ngram"): steps that verified its drafts, drafts, draft_tokens, accepted_tokens, acceptance_rate, accepted_at (accepted_at[i]: drafts with more than i accepted).
        """

    def sequence_drafter_stats(self, slot: int) -> dict[str, dict[str, Any]]:
        """
        drafter_stats of the sequence in slot alone (its steps is 0): what its own drafts did, whatever else shared the batches.
        """

    @property
    def step_drafters(self) -> list[str]:
        """
        Per step (n_steps of them): whose drafts it verified ("plain", "mtp", "ngram", or "both" where sequences of one step differed).
        """

    def step_drafters_from(self, start: int) -> list[str]:
        """step_drafters[start:], without converting the entries before it."""

    @property
    def step_draft_lengths(self) -> NDArray[numpy.int32]:
        """Per step (n_steps of them): the longest draft it verified (0: plain)."""

    def step_draft_lengths_from(self, start: int) -> NDArray[numpy.int32]:
        """step_draft_lengths[start:], without copying the entries before it."""

    @property
    def t_draft(self) -> float:
        """Seconds of step() spent drafting."""

    @property
    def t_verify(self) -> float:
        """
        Seconds of step() spent on the verify batch: target decode, sampling, trimming.
        """

    @property
    def t_process(self) -> float:
        """Seconds of step() spent in process()."""

    @property
    def t_prompt(self) -> float:
        """Seconds spent on the prompt."""

    @property
    def t_gen(self) -> float:
        """Seconds spent in step()."""

    @property
    def n_prompt_tokens(self) -> int:
        """Prompt tokens prefilled, all sequences together."""

    @property
    def n_steps(self) -> int:
        """Target decodes (verify batches) so far."""

class Grammar:
    """
    A constraint for sampling through upstream's grammar sampler (GBNF). Verification samples through it too, so MTP drafting keeps working with it.
    """

    @staticmethod
    def from_gbnf(model: Model, gbnf: str) -> Grammar:
        """
        A GBNF grammar (start rule 'root'), checked against the model's vocabulary. Raises InvalidArgumentError when it does not parse.
        """

    @staticmethod
    def from_json_schema(model: Model, schema_json: str) -> Grammar:
        """
        The grammar of the JSON documents a JSON schema (given as JSON text) allows, by upstream's json_schema_to_grammar.
        """

    @property
    def gbnf(self) -> str:
        """The grammar's GBNF text."""

    @property
    def kind(self) -> str:
        """
        "user", "output_format" (a JSON schema) or "tool_calls" (a chat template's).
        """

    @property
    def lazy(self) -> bool:
        """
        True when it constrains only from a trigger on (tool calls inside free text).
        """

    @property
    def triggers(self) -> list[tuple[str, str]]:
        """
        What starts a lazy grammar: (kind, value) pairs, kind "token", "word", "pattern" or "pattern_full" (a regex over the whole output).
        """

    @property
    def preserved_tokens(self) -> list[str]:
        """Texts the template keeps as single tokens."""

    @property
    def generation_prompt(self) -> str:
        """
        The text the template put after the last message, fed to the grammar first.
        """

    def __repr__(self) -> str: ...

class ChatPrompt:
    """A conversation rendered by a ChatTemplate, and how to read the reply."""

    @property
    def prompt(self) -> str:
        """The prompt text."""

    @property
    def grammar(self) -> Grammar | None:
        """
        The constraint of the reply (tools or a JSON schema), None for free text.
        """

    @property
    def stops(self) -> list[str]:
        """The template's extra stop strings."""

    @property
    def format(self) -> str:
        """Upstream's name of the reply format its parser reads."""

    @property
    def parses_tool_calls(self) -> bool:
        """True when the reply is parsed for tool calls."""

    @property
    def plain_content(self) -> bool:
        """
        True when the reply is its content as generated (no tool calls or reasoning to parse out): a stream can pass text through as it comes.
        """

    def parse_reply(self, text: str, *, partial: bool = False) -> str:
        """
        The reply as an OpenAI assistant message in JSON text (content, reasoning_content, tool_calls). partial: the reply is still streaming.
        """

class ChatTemplate:
    """
    A model's chat template, rendered by upstream's jinja engine as llama-server does.
    """

    def __init__(self, model: Model, *, source: str = '') -> None:
        """
        The model's template (tokenizer.chat_template; ChatML when it has none), or `source` (jinja text) instead.
        """

    @property
    def source(self) -> str:
        """The jinja source in use."""

    @property
    def from_model(self) -> bool:
        """
        True when the template came from the model or an override, not the ChatML fallback.
        """

    def apply(self, messages_json: str, *, tools_json: str = '', tool_choice: str = 'auto', json_schema: str = '', add_generation_prompt: bool = True, parallel_tool_calls: bool = False, enable_thinking: bool = True, template_kwargs: Mapping[str, str] = {}) -> ChatPrompt:
        """
        Render OpenAI-format messages (JSON text), with tools and a JSON schema for the reply. template_kwargs values are JSON text. Bad messages raise InvalidArgumentError, template failures ChatTemplateError.
        """

def inspect_gguf(path: str | os.PathLike[str]) -> dict[str, object]:
    """
    Read a GGUF file's metadata with ggml's reader and run the load preflight, without loading weights. Returns {path, version, architecture, tokenizer_model, n_vocab, n_tensors, n_kv, hparams}; hparams maps each validated key (without the '{architecture}.' prefix) to its value: an int, a float, or a list of ints for per-layer values that differ. A file Model() would reject raises ModelLoadError naming the key, its value and the valid range (ModelNotFoundError if missing).
    """

def serve_rpc(host: str, port: int, *, n_threads: int | None = None, cache_dir: str | os.PathLike[str] | None = None) -> NoReturn:
    """
    Serve this machine's devices (its accelerators, else the CPU) to RPC clients with ggml's own RPC server; blocks for as long as it serves (the GIL is released), one client at a time. cache_dir: upstream's local cache of large weight tensors. The protocol is unauthenticated: bind only to addresses of a network you trust. Raises BackendError when it cannot listen.
    """

def rpc_available() -> bool:
    """True when this build has ggml's RPC backend."""

def set_rpc_timeouts(*, handshake: float | None = 10.0, reply: float | None = None) -> None:
    """
    Timeouts of RPC connections made afterwards (one per server, shared by the models on it). handshake: seconds to wait for a new connection's handshake; a server serves one client at a time, so this is how long a load waits for a busy server before ModelLoadError. reply: seconds to wait for any reply while generating; past it (a stopped worker, a cut network) the model's next call raises RpcError. Set it above the longest step (prompt processing included). None waits forever; the defaults are 10 s and None.
    """

def quantize(src: str | os.PathLike[str], dst: str | os.PathLike[str], type: str = 'Q4_K_M', *, n_threads: int = 0) -> None:
    """
    Quantize the GGUF model at src into a new file dst with llama.cpp's own quantizer (what llama-quantize does). It writes a temporary file beside dst and renames it to dst on success: a failure leaves dst as it was, and a Model mapping the old dst keeps reading it. type is one of llama-quantize's names (Q8_0, Q4_0, Q4_K_M, Q6_K, ...; those that need an importance matrix are not offered). Tensors whose rows do not fit the type take upstream's fallback type. n_threads: 0 = all cores. GIL released while it runs.
    """
