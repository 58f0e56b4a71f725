// Context: the guarded llama_context (one locked path in, decode validation, output
// bookkeeping for views).
#include "context.h"

#include <algorithm>
#include <string>

#include "batch_invariant.h"
#include "common.h"
#include "errors.h"
#include "hooks.h"
#include "llama-ext.h"
#include "threads.h"

namespace llama_mtp {

namespace {

void require(bool ok, const std::string & msg) {
    if (!ok) {
        throw InvalidArgumentError(msg);
    }
}

std::string decode_failure(int32_t rc) {
    const char * what = rc == 1   ? "no KV cache slot for the batch (context full: raise n_ctx or remove sequences)"
                        : rc == 2 ? "decode aborted"
                        : rc == -1
                            ? "llama.cpp rejected the batch (inconsistent positions or sequence ids; see the log)"
                            : "llama_decode failed";
    return std::string(what) + " [code " + std::to_string(rc) + "]";
}

}  // namespace

namespace {

// Never blocks on a context's lock while holding the GIL: the holder may need it to finish.
std::unique_lock<std::mutex> acquire(std::mutex & m) {
    std::unique_lock<std::mutex> lock(m, std::try_to_lock);
    if (!lock.owns_lock()) {
        const Unblocked unblocked;
        lock.lock();
    }
    return lock;
}

// The contexts whose locks this thread holds, in the order taken.
thread_local std::vector<const Context *> held_locks;

// Refuses a lock that would wait for itself or break the DEFAULT-before-MTP order.
const Context & check_lock_order(const Context & c) {
    for (const Context * held : held_locks) {
        if (held == &c) {
            throw ContextError(
                "this thread already holds this context's lock: the same context was passed where two "
                "different contexts are needed (or a call re-entered it); it would wait for itself");
        }
        if (held->params().ctx_type >= c.params().ctx_type) {
            throw ContextError(
                "lock order: a target (DEFAULT) context is locked before any MTP context, and one context of "
                "each kind at a time; this call would break that order and could deadlock");
        }
    }
    return c;
}

}  // namespace

Context::Lock::Lock(const Context & c) : owner_(&check_lock_order(c)), lock_(acquire(c.mutex_)) {
    if (!c.ctx_) {
        throw ClosedError("the context is closed");
    }
    if (c.rpc_) {
        c.rpc_->check();  // the weights on a lost RPC server are gone: nothing may run
    }
    ctx_ = c.ctx_;
    held_locks.push_back(owner_);
}

Context::Lock::~Lock() {
    const auto it = std::find(held_locks.rbegin(), held_locks.rend(), owner_);
    if (it != held_locks.rend()) {
        held_locks.erase(std::next(it).base());
    }
}

Context::Context(std::shared_ptr<Model> model_handle, const ContextParams & p) : params_(p) {
    if (!model_handle) {
        throw InvalidArgumentError("a context needs a model");
    }
    const Model & model = *model_handle;
    model_ = model.shared();
    rpc_ = model.rpc();
    model_handle_ = std::move(model_handle);
    if (rpc_) {
        rpc_->check();
    }
    if (model.vocab_only) {
        throw ContextError("the model was loaded with vocab_only=True: it has no weights to run");
    }
    require(p.n_ctx >= 1 && p.n_ctx <= (1u << 24), "n_ctx must be in [1, 16777216], got " + std::to_string(p.n_ctx));
    require(p.n_batch >= 1 && p.n_batch <= (1u << 20),
            "n_batch must be in [1, 1048576], got " + std::to_string(p.n_batch));
    require(p.n_ubatch >= 1 && p.n_ubatch <= (1u << 20),
            "n_ubatch must be in [1, 1048576], got " + std::to_string(p.n_ubatch));
    const uint32_t max_seq = (uint32_t) llama_max_parallel_sequences();
    require(p.n_seq_max >= 1 && p.n_seq_max <= max_seq,
            "n_seq_max must be in [1, " + std::to_string(max_seq) + "], got " + std::to_string(p.n_seq_max));
    require(p.n_rs_seq <= 64, "n_rs_seq must be in [0, 64], got " + std::to_string(p.n_rs_seq));
    if (p.ctx_type == ContextType::MTP && model.n_layer_nextn() <= 0) {
        throw ContextError(
            "ctx_type=MTP needs a model with NextN (MTP) layers; this model has "
            "none (or was loaded with load_mtp=False)");
    }
    params_.n_threads = p.n_threads > 0 ? p.n_threads : default_threads();
    params_.n_threads_batch = p.n_threads_batch > 0 ? p.n_threads_batch : params_.n_threads;

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = params_.n_ctx;
    cp.n_batch = params_.n_batch;
    cp.n_ubatch = params_.n_ubatch;
    cp.n_seq_max = params_.n_seq_max;
    cp.n_rs_seq = params_.n_rs_seq;
    cp.n_threads = params_.n_threads;
    cp.n_threads_batch = params_.n_threads_batch;
    cp.ctx_type = (llama_context_type) params_.ctx_type;
    cp.embeddings = params_.embeddings;
    cp.no_perf = false;
    cp.abort_callback = interrupt_requested;
    {
        const Unblocked unblocked;
        ctx_ = llama_init_from_model(model_.get(), cp);
    }
    if (rpc_) {
        try {
            rpc_->check();  // a lost RPC server explains a failed allocation, or spoils a made context
        } catch (...) {
            if (ctx_) {
                llama_free(ctx_);  // no destructor runs for a constructor that throws
                ctx_ = nullptr;
            }
            throw;
        }
    }
    if (!ctx_) {
        throw ContextError(
            "llama.cpp could not create the context (see the log; too large "
            "n_ctx for memory, or parameters the model does not support)");
    }
    // what llama.cpp made of the request: every later check uses these
    params_.n_ctx = llama_n_ctx(ctx_);
    params_.n_ctx_seq = llama_n_ctx_seq(ctx_);
    params_.n_batch = llama_n_batch(ctx_);
    params_.n_ubatch = llama_n_ubatch(ctx_);
    params_.n_seq_max = llama_n_seq_max(ctx_);
    outputs_reserved_ = (int32_t) params_.n_seq_max;
}

Context::~Context() {
    if (ctx_) {
        llama_free(ctx_);
    }
}

void Context::close() {
    auto lock = acquire(mutex_);  // waits for the calls in flight on other threads
    if (!ctx_) {
        return;
    }
    if (sessions > 0) {
        throw ContextError("an MtpSession or generation uses this context: delete it before close()");
    }
    if (live_views > 0) {
        throw StaleViewError(std::to_string(live_views.load()) +
                             " zero-copy view(s) of this context are alive; delete them (or "
                             "copy what you need) before close()");
    }
    llama_free(ctx_);
    ctx_ = nullptr;
    closed_ = true;
}

void Context::set_n_threads(int32_t n_threads, int32_t n_threads_batch) {
    Lock lock(*this);
    llama_set_n_threads(lock.get(), n_threads, n_threads_batch);
    params_.n_threads = n_threads;
    params_.n_threads_batch = n_threads_batch;
}

void Context::check_seq(int64_t seq_id, bool allow_all) const {
    if (allow_all && seq_id == -1) {
        return;
    }
    if (seq_id < 0 || seq_id >= (int64_t) params_.n_seq_max) {
        throw InvalidArgumentError("seq_id " + std::to_string(seq_id) + " is out of range [0, " +
                                   std::to_string(params_.n_seq_max) + ") (n_seq_max)" +
                                   (allow_all ? "; -1 means all sequences" : ""));
    }
}

void Context::guard_output_buffer(int32_t n_outputs_needed) const {
    // llama.cpp reallocates its output buffer when a decode needs more rows than it holds
    // (or the output layout changed); live views would then point at freed memory.
    const bool may_grow = layout_changed_ || n_outputs_needed > outputs_reserved_;
    if (may_grow && live_views > 0) {
        throw StaleViewError("this decode may reallocate llama.cpp's output buffer, and " +
                             std::to_string(live_views.load()) +
                             " zero-copy view(s) of the current outputs are alive; delete them or .copy() them first");
    }
}

void Context::require_no_views(const char * what) const {
    if (live_views > 0) {
        throw StaleViewError(std::string(what) +
                             " decodes on this context, which may reallocate its output "
                             "buffer, and " +
                             std::to_string(live_views.load()) +
                             " zero-copy view(s) of its outputs are alive; delete them or .copy() them first");
    }
}

template <typename Run, typename IsOutput>
void Context::run_decode(int32_t n_tokens, int32_t n_outputs, Run && run, IsOutput && is_output) {
    if (params_.ctx_type == ContextType::MTP) {
        throw ContextError("an MTP context is driven by MtpSession, not decoded directly");
    }
    require(n_tokens >= 1, "cannot decode an empty batch");
    require((uint32_t) n_tokens <= params_.n_batch,
            "batch has " + std::to_string(n_tokens) + " tokens, more than the context's n_batch " +
                std::to_string(params_.n_batch) + " (llama.cpp limits n_batch to n_ctx)");
    if (params_.embeddings) {
        n_outputs = n_tokens;
    }
    guard_output_buffer(n_outputs);
    const int32_t rc = run();
    ++decode_count_;
    if (rc != 0 || rpc_) {
        try {
            if (rpc_) {
                rpc_->check();  // a lost RPC server comes first: its zeroed replies explain the rest
            }
            if (rc != 0) {
                throw DecodeError(rc, decode_failure(rc));
            }
        } catch (...) {
            last_out_index_.clear();
            last_n_outputs_ = 0;
            throw;
        }
    }
    outputs_reserved_ = std::max(outputs_reserved_, n_outputs);
    layout_changed_ = false;
    last_out_index_.assign(n_tokens, -1);
    int32_t k = 0;
    for (int32_t i = 0; i < n_tokens; ++i) {
        if (params_.embeddings || is_output(i)) {
            last_out_index_[i] = k++;
        }
    }
    last_n_outputs_ = k;
}

void Context::decode_locked(const Lock & lock, const llama_batch & b, int32_t n_outputs) {
    run_decode(
        b.n_tokens, n_outputs, [&] { return llama_decode(lock.get(), b); },
        [&](int32_t i) { return b.logits[i] != 0; });
}

void Context::decode_locked(const Lock & lock, const common_batch & b, int32_t n_outputs) {
    auto & batch = const_cast<common_batch &>(b);  // get() renders into the batch's own buffer
    run_decode(
        batch.size(), n_outputs, [&] { return llama_process(lock.get(), LLAMA_PROCESS_TYPE_DECODE, batch.get()); },
        [&](int32_t i) { return batch.tokens[i].output; });
}

void Context::decode(const Batch & batch, bool exact) {
    const int32_t n = batch.size();
    const int32_t n_vocab = vocab_size(model_.get());
    const int32_t * tok = batch.token();
    const int32_t * pos = batch.pos();
    const int32_t * nseq = batch.n_seq_id();
    for (int32_t i = 0; i < n; ++i) {
        check_token_id(n_vocab, tok[i], "token", i);
        if (pos[i] < 0) {
            throw InvalidArgumentError("batch row " + std::to_string(i) + ": negative position " +
                                       std::to_string(pos[i]));
        }
        if (nseq[i] < 1 || nseq[i] > batch.n_seq_max()) {
            throw InvalidArgumentError("batch row " + std::to_string(i) + ": n_seq_id " + std::to_string(nseq[i]) +
                                       " outside [1, " + std::to_string(batch.n_seq_max()) + "]");
        }
        for (int32_t k = 0; k < nseq[i]; ++k) {
            const int32_t s = batch.seq_id(i, k);
            if (s < 0 || (uint32_t) s >= params_.n_seq_max) {
                throw InvalidArgumentError("batch row " + std::to_string(i) + ": seq_id " + std::to_string(s) +
                                           " is out of range [0, " + std::to_string(params_.n_seq_max) +
                                           ") (the context's n_seq_max)");
            }
        }
    }
    with_interrupts([&] {
        const Unblocked unblocked;
        Lock lock(*this);
        const BatchInvariant invariant(exact);
        decode_locked(lock, batch.view(), batch.n_outputs());
    });
}

void Context::note_external_decode() {
    ++decode_count_;
    last_out_index_.clear();
    last_n_outputs_ = 0;
    layout_changed_ = true;
    if (rpc_) {
        rpc_->check();
    }
}

int32_t Context::output_index(int64_t i, const char * what) const {
    if (last_out_index_.empty()) {
        throw ContextError(std::string("no ") + what + " available: decode a batch first");
    }
    if (i < 0) {
        if (-i > last_n_outputs_) {
            throw InvalidArgumentError(std::string(what) + " index " + std::to_string(i) +
                                       " out of range: the last batch produced " + std::to_string(last_n_outputs_) +
                                       " output(s)");
        }
        return (int32_t) i;  // upstream resolves negative indices from the last output
    }
    if (i >= (int64_t) last_out_index_.size()) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) +
                                   " out of range: the last batch had " + std::to_string(last_out_index_.size()) +
                                   " row(s)");
    }
    if (last_out_index_[i] < 0) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) +
                                   " was decoded without its logits flag set");
    }
    return (int32_t) i;
}

void Context::set_pre_norm_locked(const Lock & lock, bool on, bool masked) {
    llama_set_embeddings_nextn(lock.get(), on, masked);
    pre_norm = on;
    pre_norm_masked = masked;
    note_layout_change();
}

}  // namespace llama_mtp
