#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "errors.h"

struct common_speculative;
struct common_batch;

namespace llama_mtp {

// MtpSession errors (Python: MtpSessionError and subclasses, registered in bind_mtp).
LLAMA_MTP_ERROR(MtpSessionError, Error);
LLAMA_MTP_ERROR(IncompatibleContextsError, MtpSessionError);
LLAMA_MTP_ERROR(BadSeqIdError, MtpSessionError);
LLAMA_MTP_ERROR(ProposalPendingError, MtpSessionError);
LLAMA_MTP_ERROR(NoPendingProposalError, MtpSessionError);
LLAMA_MTP_ERROR(AcceptedTooManyError, MtpSessionError);
LLAMA_MTP_ERROR(InvalidConfigError, MtpSessionError);
// A target decode failed inside a session call: both an MtpSessionError and a DecodeError.
LLAMA_MTP_ERROR(TargetDecodeError, MtpSessionError);
LLAMA_MTP_ERROR(MtpStateError, MtpSessionError);

// Where a target and a draft context meet: refuses the same context twice (before any lock is
// taken, which would wait for itself).
void require_two_contexts(const Context & target, const Context & draft);

struct MtpConfig {
    int32_t n_seq = 1;
    int32_t n_draft_max = 3;
    int32_t n_min = 0;
    float p_min = 0.0f;
    void validate() const;
};

struct MtpStatsData {
    uint64_t n_drafts = 0;         // draft() calls that proposed at least one token
    uint64_t draft_tokens = 0;     // tokens proposed
    uint64_t n_verified = 0;       // accept() calls on non-empty proposals
    uint64_t verified_tokens = 0;  // tokens of those proposals
    uint64_t accepted_drafts = 0;  // accept() calls with n_accepted >= 1
    uint64_t accepted_tokens = 0;
    std::vector<uint64_t> accepted_at;                             // [i]: accept() calls with n_accepted > i
    double t_begin = 0, t_process = 0, t_draft = 0, t_accept = 0;  // seconds
};

// Our guarded, stable shim over upstream's common_speculative (draft-mtp only). Every public
// method takes both contexts' locks (target first, as the Generator does), so a session may be
// shared between threads; the *_locked/_many methods are for the Generator, which holds them.
class MtpSession {
public:
    // Both contexts' locks, in the one order every caller uses.
    struct SessionLock {
        explicit SessionLock(const MtpSession & s);
        Context::Lock target;
        Context::Lock draft;
    };

    // Keeps both contexts alive for its lifetime.
    MtpSession(std::shared_ptr<Context> target, std::shared_ptr<Context> draft, const MtpConfig & config);
    ~MtpSession();
    MtpSession(const MtpSession &) = delete;
    MtpSession & operator=(const MtpSession &) = delete;

    void begin(int64_t seq_id, const std::vector<int32_t> & prompt);
    void process(const Batch & batch);
    std::vector<int32_t> draft(int64_t seq_id, int32_t n_past, int32_t last_token, int32_t n_max = -1);
    void accept(int64_t seq_id, int32_t n_accepted);

    // With the SessionLock held (the generator's hot path):
    void begin_locked(int64_t seq_id, const std::vector<int32_t> & prompt);
    // The batch the target just decoded, in upstream's form.
    void process_common(const common_batch & batch);
    // Draft for every seq in `seqs`.
    void draft_many(const std::vector<int32_t> & seqs, const std::vector<int32_t> & n_past,
                    const std::vector<int32_t> & last, const std::vector<int32_t> & n_max, llama_memory_t mem_dft);
    void accept_locked(int64_t seq_id, int32_t n_accepted);
    // An empty pending proposal (no room to draft).
    void propose_nothing(int64_t seq_id) {
        proposal_[seq_id].clear();
        pending_[seq_id] = true;
    }

    // A proposal drafted elsewhere (from the text: an n-gram draft) for the next verify batch.
    // process() and accept() then treat it as one of draft-mtp's own: accept(n) takes the
    // target's hidden state of row n for the next draft, so the draft context stays warm. It
    // counts in no statistics of the session (the generator keeps the n-gram drafter's own).
    void propose_external_locked(int64_t seq_id, const std::vector<int32_t> & tokens);

    // After steps without process() (plain decoding), start the draft context of seq_id over:
    // `hidden` is the target's NextN row of the last decoded position (null: not known).
    void restart_draft_locked(int64_t seq_id, const float * hidden, llama_memory_t mem_dft);
    // After steps without process(): decode the positions the draft context skipped,
    // [first_pos, first_pos + tokens.size()), in one batch, as process() would have (each token
    // paired with the target's NextN row of the position before it; `hidden` holds the rows of
    // these positions, one per token). False, and the draft context as it was, where it does not
    // end right before first_pos or upstream's state is not there to pair the first token with.
    bool catch_up_locked(int64_t seq_id, int32_t first_pos, const std::vector<int32_t> & tokens,
                         const std::vector<float> & hidden, llama_memory_t mem_dft);

    // draft-mtp's pending row of seq_id: the target's NextN row that the next process() or draft
    // pairs its first token with (empty where upstream holds none); and setting it, the draft
    // context's KV left as it is (a kept prefix whose last position is not the one it ended at).
    std::vector<float> pending_hidden_locked(int64_t seq_id) const;
    void set_pending_hidden_locked(int64_t seq_id, const float * hidden) { restart_pending(seq_id, hidden); }

    std::vector<uint8_t> get_state(int64_t seq_id);
    void set_state(int64_t seq_id, const std::vector<uint8_t> & data);

    void check_seq(int64_t seq_id) const;
    void check_quiescent(const char * what) const;
    bool is_quiescent() const;
    bool has_pending(int64_t seq_id) const {
        check_seq(seq_id);
        return pending_[seq_id];
    }
    const std::vector<int32_t> & pending_proposal(int64_t seq_id) const;

    // Sampled drafts (patch 0009): the next draft_many() of seq samples each token from the head's
    // top candidates at temp, the i-th with u[i] (uniform in [0, 1), one per token it may draft),
    // and pending_q() then holds the distribution of each drafted token (sorted by id); without
    // it, and after that draft, the head's top token (pending_q() empty).
    void sample_next_draft(int32_t seq, float temp, std::vector<float> u) {
        if ((size_t) seq >= sampled_.size()) sampled_.resize((size_t) seq + 1);
        sampled_[seq].temp = temp;
        sampled_[seq].u = std::move(u);
    }
    const std::vector<std::vector<llama_token_data>> & pending_q(int32_t seq) const {
        static const std::vector<std::vector<llama_token_data>> none;
        const bool ours = (size_t) seq < sampled_.size() && !external_[seq] && !proposal_[seq].empty();
        return ours && sampled_[seq].q.size() == proposal_[seq].size() ? sampled_[seq].q : none;
    }

    const MtpConfig & config() const { return config_; }
    const MtpStatsData & stats() const { return stats_; }
    Context & target() const { return *tgt_; }
    Context & draft_ctx() const { return *dft_; }
    const std::shared_ptr<Context> & target_ptr() const { return target_; }
    const std::shared_ptr<Context> & draft_ptr() const { return draft_; }
    void print_stats() const;

private:
    void preflight() const;
    void restart_pending(int64_t seq_id, const float * hidden);
    void settle_empty_proposal(int64_t seq_id);
    void settle_empty_proposals();
    void process_locked(const Batch & batch);
    // accept() of an external proposal: draft-mtp's accept without its bookkeeping (upstream
    // asserts when it is told of acceptance for a sequence it never drafted for)
    void accept_external_locked(int64_t seq_id, int32_t n_accepted);
    std::vector<int32_t> draft_locked(const SessionLock & lock, int64_t seq_id, int32_t n_past, int32_t last_token,
                                      int32_t n_max);

    std::shared_ptr<Context> target_, draft_;
    Context * tgt_;
    Context * dft_;
    llama_context * dft_raw_ = nullptr;  // the draft context's handle, for catch-up decodes (lock held)
    MtpConfig config_;
    common_speculative * spec_ = nullptr;
    common_batch * batch_ = nullptr;                 // reused conversion buffer for process(Batch)
    std::vector<std::shared_ptr<ContextUse>> uses_;  // close() refuses while the session lives
    std::vector<std::vector<int32_t>> history_;      // prompt + accepted drafts, per seq
    std::vector<std::vector<int32_t>> proposal_;     // last draft, per seq
    std::vector<bool> pending_;
    std::vector<bool> external_;  // the pending proposal came from propose_external_locked
    std::vector<bool> begun_;
    struct SampledDraft {
        float temp = 0.0f;  // > 0: the next draft is sampled
        std::vector<float> u;
        std::vector<std::vector<llama_token_data>> q;  // of the last draft's tokens
    };
    std::vector<SampledDraft> sampled_;  // per seq, grown by sample_next_draft
    uint64_t last_processed_decode_ = UINT64_MAX;
    MtpStatsData stats_;
};

}  // namespace llama_mtp
