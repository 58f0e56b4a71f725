// Context: the guarded llama_context (decode validation, output bookkeeping for views).
#include "context.h"

#include <algorithm>
#include <string>

#include "errors.h"
#include "threads.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {


void require(bool ok, const std::string & msg) {
    if (!ok) {
        throw InvalidArgumentError(msg);
    }
}

}  // namespace

Context::Context(nb::object model_obj, const ContextParams & p) : params_(p) {
    Model & model = nb::cast<Model &>(model_obj);
    model_ = model.shared();
    model_obj_ = std::move(model_obj);
    if (model.vocab_only) {
        throw ContextError("the model was loaded with vocab_only=True: it has no weights to run");
    }
    require(p.n_ctx >= 1 && p.n_ctx <= (1u << 24), "n_ctx must be in [1, 16777216], got " + std::to_string(p.n_ctx));
    require(p.n_batch >= 1 && p.n_batch <= (1u << 20), "n_batch must be in [1, 1048576], got " + std::to_string(p.n_batch));
    require(p.n_ubatch >= 1, "n_ubatch must be >= 1, got " + std::to_string(p.n_ubatch));
    const uint32_t max_seq = (uint32_t) llama_max_parallel_sequences();
    require(p.n_seq_max >= 1 && p.n_seq_max <= max_seq,
            "n_seq_max must be in [1, " + std::to_string(max_seq) + "], got " + std::to_string(p.n_seq_max));
    require(p.n_rs_seq <= 64, "n_rs_seq must be in [0, 64], got " + std::to_string(p.n_rs_seq));
    if (p.ctx_type == ContextType::MTP && model.n_layer_nextn() <= 0) {
        throw ContextError("ctx_type=MTP needs a model with NextN (MTP) layers; this model has "
                           "none (or was loaded with load_mtp=False)");
    }
    // upstream silently clamps n_ubatch to n_batch; do the same so the property tells the truth
    params_.n_ubatch = std::min(p.n_ubatch, p.n_batch);
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
    {
        nb::gil_scoped_release release;
        ctx_ = llama_init_from_model(model_.get(), cp);
    }
    if (!ctx_) {
        throw ContextError("llama.cpp could not create the context (see the log; too large "
                           "n_ctx for memory, or parameters the model does not support)");
    }
    outputs_reserved_ = (int32_t) params_.n_seq_max;
}

Context::~Context() {
    if (ctx_) {
        llama_free(ctx_);
    }
}

llama_context * Context::get() const {
    if (!ctx_) {
        throw ClosedError("the context is closed");
    }
    return ctx_;
}

void Context::close() {
    if (!ctx_) {
        return;
    }
    if (sessions > 0) {
        throw ContextError("an MtpSession uses this context: delete the session before close()");
    }
    if (live_views > 0) {
        throw StaleViewError(std::to_string(live_views) +
                             " zero-copy view(s) of this context are alive; delete them (or "
                             "copy what you need) before close()");
    }
    llama_free(ctx_);
    ctx_ = nullptr;
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

void Context::guard_output_buffer(int32_t n_outputs_needed) {
    // llama.cpp reallocates its output buffer when a decode needs more rows than it holds
    // (or the output layout changed); live views would then point at freed memory.
    const bool may_grow = layout_changed_ || n_outputs_needed > outputs_reserved_;
    if (may_grow && live_views > 0) {
        throw StaleViewError(
            "this decode may reallocate llama.cpp's output buffer, and " +
            std::to_string(live_views) +
            " zero-copy view(s) of the current outputs are alive; delete them or .copy() them "
            "first");
    }
}

void Context::decode(const Batch & batch) {
    llama_context * ctx = get();
    if (params_.ctx_type == ContextType::MTP) {
        throw ContextError("an MTP context is driven by MtpSession, not decoded directly");
    }
    const int32_t n = batch.size();
    require(n >= 1, "cannot decode an empty batch");
    require((uint32_t) n <= params_.n_batch, "batch has " + std::to_string(n) +
                                                 " tokens, more than the context's n_batch " +
                                                 std::to_string(params_.n_batch));
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
    const int32_t n_outputs = params_.embeddings ? n : batch.n_outputs();
    guard_output_buffer(n_outputs);

    int32_t rc = 0;
    {
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mutex);
        rc = llama_decode(ctx, batch.view());
    }
    ++decode_count_;
    if (rc != 0) {
        last_out_index_.clear();
        last_n_outputs_ = 0;
        std::string what = rc == 1   ? "no KV cache slot for the batch (context full: raise n_ctx or remove sequences)"
                           : rc == 2 ? "decode aborted"
                           : rc == -1 ? "llama.cpp rejected the batch (inconsistent positions or sequence ids; see the log)"
                                      : "llama_decode failed";
        throw DecodeError(rc, what + " [code " + std::to_string(rc) + "]");
    }
    outputs_reserved_ = std::max(outputs_reserved_, n_outputs);
    layout_changed_ = false;
    last_out_index_.assign(n, -1);
    int32_t k = 0;
    const int8_t * out = batch.logits();
    for (int32_t i = 0; i < n; ++i) {
        if (params_.embeddings || out[i]) {
            last_out_index_[i] = k++;
        }
    }
    last_n_outputs_ = k;
}

void Context::note_external_decode(int32_t n_tokens, const std::vector<int32_t> & out_rows) {
    ++decode_count_;
    last_out_index_.assign(n_tokens, -1);
    int32_t k = 0;
    for (int32_t r : out_rows) {
        if (r >= 0 && r < n_tokens) {
            last_out_index_[r] = k++;
        }
    }
    last_n_outputs_ = k;
    outputs_reserved_ = std::max(outputs_reserved_, k);
    layout_changed_ = false;
}

int32_t Context::output_index(int64_t i, const char * what) const {
    if (last_out_index_.empty()) {
        throw ContextError(std::string("no ") + what + " available: decode a batch first");
    }
    if (i < 0) {
        if (-i > last_n_outputs_) {
            throw InvalidArgumentError(std::string(what) + " index " + std::to_string(i) + " out of range: the last batch produced " +
                                       std::to_string(last_n_outputs_) + " output(s)");
        }
        return (int32_t) i;  // upstream resolves negative indices from the last output
    }
    if (i >= (int64_t) last_out_index_.size()) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) + " out of range: the last batch had " +
                                   std::to_string(last_out_index_.size()) + " row(s)");
    }
    if (last_out_index_[i] < 0) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) +
                                   " was decoded without its logits flag set");
    }
    return (int32_t) i;
}

}  // namespace llama_mtp
