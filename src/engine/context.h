#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "batch.h"
#include "draft_vocab.h"
#include "llama.h"
#include "model.h"

struct common_batch;

namespace llama_mtp {

enum class ContextType : int { DEFAULT = LLAMA_CONTEXT_TYPE_DEFAULT, MTP = LLAMA_CONTEXT_TYPE_MTP };

// Requested on creation; after it, the values llama.cpp actually uses (it pads n_ctx per
// sequence and clamps n_batch to n_ctx and n_ubatch to n_batch): every check reads these.
struct ContextParams {
    uint32_t n_ctx = 4096;
    uint32_t n_ctx_seq = 4096;  // KV cells one sequence may use (n_ctx / n_seq_max, padded)
    uint32_t n_batch = 512;
    uint32_t n_ubatch = 512;
    uint32_t n_seq_max = 1;
    int32_t n_threads = 0;        // 0 = default_threads()
    int32_t n_threads_batch = 0;  // 0 = n_threads
    ContextType ctx_type = ContextType::DEFAULT;
    uint32_t n_rs_seq = 0;
    bool embeddings = false;
};

// A llama_context plus what keeps zero-copy views and threads safe: which batch rows produced
// outputs, a decode counter (view generation), the number of live views (a decode refuses to
// reallocate llama.cpp's output buffer under them) and the lock every native call takes.
class Context {
public:
    // Keeps `model` (and through it the weights) alive for its lifetime.
    Context(std::shared_ptr<Model> model, const ContextParams & params);
    ~Context();
    Context(const Context &) = delete;
    Context & operator=(const Context &) = delete;

    // The one guarded path into the llama_context: holds the context's lock for its lifetime
    // and throws ClosedError when the context is closed. It never blocks on the lock while
    // holding the GIL (the holder of the lock may need the GIL to finish), so it is safe to
    // take with or without the GIL; long native work then releases the GIL itself.
    // A thread takes at most one lock per context, and takes targets (DEFAULT) before drafts
    // (MTP): a lock that would break that order throws ContextError instead of waiting forever
    // (a second lock of one context waits for itself; MTP-then-DEFAULT can deadlock against
    // another thread's DEFAULT-then-MTP).
    class Lock {
    public:
        explicit Lock(const Context & c);
        ~Lock();
        Lock(const Lock &) = delete;
        Lock & operator=(const Lock &) = delete;
        llama_context * get() const { return ctx_; }
        llama_memory_t memory() const { return llama_get_memory(ctx_); }

    private:
        const Context * owner_;
        std::unique_lock<std::mutex> lock_;
        llama_context * ctx_;
    };

    bool closed() const { return closed_.load(); }
    // Waits for native calls in flight on other threads, then frees the context; refuses
    // (typed error) while an MtpSession/Generator uses it or zero-copy views of it are alive.
    void close();

    const std::shared_ptr<Model> & model_handle() const { return model_handle_; }
    const ModelPtr & model() const { return model_; }
    const ContextParams & params() const { return params_; }
    void set_n_threads(int32_t n_threads, int32_t n_threads_batch);

    // Validate, then decode with the GIL released (Ctrl-C aborts it); throws DecodeError.
    // exact: batch-invariant (every row as a one-row batch computes it; see batch_invariant.h).
    void decode(const Batch & batch, bool exact = false);
    // The guarded decode every path uses, called with the lock held (GIL released or not):
    // checks against the effective n_batch, the output-buffer guard for live views, the
    // bookkeeping of rows with outputs. `n_outputs`: rows with the output flag.
    void decode_locked(const Lock & lock, const common_batch & batch, int32_t n_outputs);
    void decode_locked(const Lock & lock, const llama_batch & batch, int32_t n_outputs);
    // Upstream code (an MTP draft step) decoded on this context with the lock held: its
    // outputs are not ours to index, and views taken before are stale.
    void note_external_decode();
    // Refuses (StaleViewError) when views are alive: for upstream decodes whose output
    // layout we cannot predict.
    void require_no_views(const char * what) const;
    void note_layout_change() { layout_changed_ = true; }
    // Pre-norm (NextN) hidden-state outputs on or off; the output layout changes with them.
    void set_pre_norm_locked(const Lock & lock, bool on, bool masked);

    // The draft head restricted to a draft vocabulary (MTP contexts; see draft_vocab.h): `ids`
    // with room for `spare` more tokens; empty ids: the whole vocabulary again. Returns the number
    // of LM heads restricted.
    int32_t set_draft_vocabulary(const std::vector<int32_t> & ids, int32_t spare);
    // The set in use (null: the whole vocabulary); admit() with the lock held.
    DraftVocabulary * draft_vocabulary() const { return draft_vocab_.get(); }

    void check_seq(int64_t seq_id, bool allow_all = false) const;
    // Row index in the last batch -> llama index for *_ith calls, validated.
    int32_t output_index(int64_t i, const char * what) const;

    uint64_t decode_count() const { return decode_count_.load(); }
    int32_t last_n_tokens() const { return (int32_t) last_out_index_.size(); }
    int32_t last_n_outputs() const { return last_n_outputs_; }

    std::atomic<int64_t> live_views{0};
    std::atomic<int64_t> sessions{0};  // MtpSessions and Generators holding this context
    bool pre_norm = false;
    bool pre_norm_masked = false;

private:
    template <typename Run, typename IsOutput>
    void run_decode(int32_t n_tokens, int32_t n_outputs, Run && run, IsOutput && is_output);
    void guard_output_buffer(int32_t n_outputs_needed) const;

    std::shared_ptr<Model> model_handle_;
    ModelPtr model_;
    RpcLinkPtr rpc_;  // the model's RPC connections: checked on every way in and after decodes
    ContextParams params_;
    llama_context * ctx_ = nullptr;
    mutable std::mutex mutex_;  // serializes native work on this context across threads
    std::atomic<bool> closed_{false};
    std::atomic<uint64_t> decode_count_{0};
    std::vector<int32_t> last_out_index_;  // per row of the last batch: output index or -1
    int32_t last_n_outputs_ = 0;
    int32_t outputs_reserved_ = 0;  // outputs llama's output buffer holds without growing
    bool layout_changed_ = false;
    std::unique_ptr<DraftVocabulary> draft_vocab_;
};

// Counts a user of a context (MtpSession, Generator) for as long as it lives: close() refuses
// while any exist.
struct ContextUse {
    Context * ctx;
    explicit ContextUse(Context * c) : ctx(c) { ++ctx->sessions; }
    ~ContextUse() { --ctx->sessions; }
    ContextUse(const ContextUse &) = delete;
    ContextUse & operator=(const ContextUse &) = delete;
};

}  // namespace llama_mtp
