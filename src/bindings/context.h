#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <nanobind/nanobind.h>

#include "batch.h"
#include "llama.h"
#include "model.h"

namespace llama_mtp {

enum class ContextType : int { DEFAULT = LLAMA_CONTEXT_TYPE_DEFAULT, MTP = LLAMA_CONTEXT_TYPE_MTP };

struct ContextParams {
    uint32_t n_ctx = 4096;
    uint32_t n_batch = 512;
    uint32_t n_ubatch = 512;
    uint32_t n_seq_max = 1;
    int32_t n_threads = 0;        // 0 = hardware concurrency
    int32_t n_threads_batch = 0;  // 0 = n_threads
    ContextType ctx_type = ContextType::DEFAULT;
    uint32_t n_rs_seq = 0;
    bool embeddings = false;
};

// A llama_context plus what the binding needs to keep zero-copy views safe:
// which batch rows produced outputs, a decode counter (view generation) and the
// number of live views (decode refuses to reallocate llama's output buffer under them).
class Context {
public:
    Context(nanobind::object model_obj, const ContextParams & params);
    ~Context();

    llama_context * get() const;
    bool closed() const { return !ctx_; }
    void close();

    nanobind::object model_obj() const { return model_obj_; }
    const ModelPtr & model() const { return model_; }
    const ContextParams & params() const { return params_; }

    // Validate, then llama_decode with the GIL released; throws DecodeError on failure.
    void decode(const Batch & batch);
    // Record that upstream code (e.g. an MTP draft step) decoded on this context.
    void note_external_decode(int32_t n_tokens, const std::vector<int32_t> & out_rows);
    void note_layout_change() { layout_changed_ = true; }

    void check_seq(int64_t seq_id, bool allow_all = false) const;
    // Row index in the last batch -> llama index for *_ith calls, validated.
    int32_t output_index(int64_t i, const char * what) const;

    uint64_t decode_count() const { return decode_count_; }
    int32_t last_n_tokens() const { return (int32_t) last_out_index_.size(); }
    int32_t last_n_outputs() const { return last_n_outputs_; }

    int64_t live_views = 0;
    int64_t sessions = 0;  // MtpSessions holding raw pointers to this context
    std::mutex mutex;  // serializes native work on this context across Python threads
    bool pre_norm = false;
    bool pre_norm_masked = false;

private:
    void guard_output_buffer(int32_t n_outputs_needed);

    nanobind::object model_obj_;
    ModelPtr model_;
    ContextParams params_;
    llama_context * ctx_ = nullptr;
    uint64_t decode_count_ = 0;
    std::vector<int32_t> last_out_index_;  // per row of the last batch: output index or -1
    int32_t last_n_outputs_ = 0;
    int32_t outputs_reserved_ = 0;  // outputs llama's output buffer holds without growing
    bool layout_changed_ = false;
};

void bind_context(nanobind::module_ & m);

}  // namespace llama_mtp
