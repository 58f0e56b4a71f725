// MtpSession: the guarded state machine over upstream's draft-mtp (hot path: compiled for
// speed in the engine library, see CMakeLists.txt).
#include "mtp.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "clock.h"
#include "common.h"
#include "hooks.h"
#include "llama-ext.h"
#include "speculative.h"

namespace llama_mtp {

namespace {

std::string fix(const std::string & what, const std::string & how) {
    return what + " (fix: " + how + ")";
}

}  // namespace

void require_two_contexts(const Context & target, const Context & draft) {
    if (&target == &draft) {
        throw IncompatibleContextsError(
            fix("the same context was passed as target and draft",
                "create a DEFAULT context for the target and a separate ContextType.MTP context for the draft"));
    }
}

void MtpConfig::validate() const {
    auto in_range = [](const char * name, int64_t value, int64_t lo, int64_t hi) {
        if (value < lo || value > hi) {
            throw with_attributes(
                InvalidConfigError(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "], got " + std::to_string(value)),
                {{"parameter", std::string(name)}, {"value", value}, {"minimum", lo}, {"maximum", hi}});
        }
    };
    in_range("n_seq", n_seq, 1, (int64_t) llama_max_parallel_sequences());
    in_range("n_draft_max", n_draft_max, 1, 64);
    in_range("n_min", n_min, 0, n_draft_max);
    if (!std::isfinite(p_min) || p_min < 0.0f || p_min > 1.0f) {
        throw with_attributes(
            InvalidConfigError("p_min must be a finite number in [0, 1], got " + std::to_string(p_min)),
            {{"parameter", std::string("p_min")}});
    }
}

MtpSession::MtpSession(std::shared_ptr<Context> target, std::shared_ptr<Context> draft, const MtpConfig & config)
    : target_(std::move(target)), draft_(std::move(draft)), tgt_(target_.get()), dft_(draft_.get()), config_(config) {
    if (!tgt_ || !dft_) {
        throw InvalidArgumentError("an MtpSession needs a target and a draft context");
    }
    require_two_contexts(*tgt_, *dft_);
    config_.validate();
    preflight();  // parameters fixed at creation: before the locks, whose order needs DEFAULT then MTP
    // upstream's init switches on pre-norm extraction on both contexts: no decode may run meanwhile
    const SessionLock lock(*this);

    common_params_speculative params;
    params.types = {COMMON_SPECULATIVE_TYPE_DRAFT_MTP};
    params.draft.n_max = config_.n_draft_max;
    params.draft.n_min = config_.n_min;
    params.draft.p_min = config_.p_min;
    // upstream's in-graph top-k reads the restricted head's logits wrongly (ids = logit bits): CPU sampling
    params.draft.backend_sampling = dft_->draft_vocabulary() == nullptr;
    params.draft.ctx_tgt = lock.target.get();
    params.draft.ctx_dft = lock.draft.get();
    dft_raw_ = lock.draft.get();
    {
        const Unblocked unblocked;
        spec_ = common_speculative_init(params, (uint32_t) config_.n_seq);
    }
    if (!spec_) {
        throw MtpSessionError("upstream could not initialize draft-mtp (see the log)");
    }
    // rows the draft context decodes without output (process(), catch-ups) only fill its KV
    // cache: the MTP graph drops them after the attention (patch 0006)
    llama_set_mtp_prune_rows(lock.draft.get(), true);
    // upstream switched on nextn extraction (unmasked on the target, masked on the draft)
    // and attached a backend sampler to the draft: both change the output layout
    tgt_->pre_norm = true;
    tgt_->pre_norm_masked = false;
    dft_->pre_norm = true;
    dft_->pre_norm_masked = true;
    tgt_->note_layout_change();
    dft_->note_layout_change();
    batch_ = new common_batch(lock.target.get());
    uses_ = {std::make_shared<ContextUse>(tgt_), std::make_shared<ContextUse>(dft_)};
    history_.assign(config_.n_seq, {});
    proposal_.assign(config_.n_seq, {});
    pending_.assign(config_.n_seq, false);
    external_.assign(config_.n_seq, false);
    begun_.assign(config_.n_seq, false);
}

MtpSession::~MtpSession() {
    delete batch_;
    if (spec_) {
        common_speculative_free(spec_);
    }
}

MtpSession::SessionLock::SessionLock(const MtpSession & s) : target(*s.tgt_), draft(*s.dft_) {}

void MtpSession::preflight() const {
    const Context & t = *tgt_;
    const Context & d = *dft_;
    if (t.closed() || d.closed()) {
        throw IncompatibleContextsError(fix("a context is closed", "pass open contexts"));
    }
    if (t.params().ctx_type != ContextType::DEFAULT) {
        throw IncompatibleContextsError(
            fix("the target context must be ContextType.DEFAULT", "create it with ctx_type=ContextType.DEFAULT"));
    }
    if (d.params().ctx_type != ContextType::MTP) {
        throw IncompatibleContextsError(
            fix("the draft context must be ContextType.MTP", "create it with ctx_type=ContextType.MTP"));
    }
    const llama_model * mt = t.model().get();
    const llama_model * md = d.model().get();
    if (llama_model_n_layer_nextn(md) <= 0) {
        throw IncompatibleContextsError(
            fix("the draft model has no NextN (MTP) layers", "use a model with MTP layers"));
    }
    if (llama_model_n_embd_out(md) != llama_model_n_embd_out(mt)) {
        throw IncompatibleContextsError(fix("n_embd_out differs between draft (" +
                                                std::to_string(llama_model_n_embd_out(md)) + ") and target (" +
                                                std::to_string(llama_model_n_embd_out(mt)) + ")",
                                            "draft with the MTP layers of the target's own model"));
    }
    if (llama_vocab_n_tokens(llama_model_get_vocab(md)) != llama_vocab_n_tokens(llama_model_get_vocab(mt))) {
        throw IncompatibleContextsError(fix("the vocabularies differ", "use the same model for target and draft"));
    }
    const uint32_t n_seq = (uint32_t) config_.n_seq;
    if (t.params().n_seq_max < n_seq) {
        throw IncompatibleContextsError(
            fix("target n_seq_max " + std::to_string(t.params().n_seq_max) + " < n_seq " + std::to_string(n_seq),
                "create the target with n_seq_max >= n_seq"));
    }
    if (d.params().n_seq_max != n_seq) {
        throw IncompatibleContextsError(
            fix("draft n_seq_max " + std::to_string(d.params().n_seq_max) + " != n_seq " + std::to_string(n_seq),
                "create the draft with n_seq_max = n_seq"));
    }
    const uint32_t need = (uint32_t) config_.n_draft_max + 1;
    if (t.params().n_batch < need) {
        throw IncompatibleContextsError(
            fix("target n_batch " + std::to_string(t.params().n_batch) + " < n_draft_max + 1 = " + std::to_string(need),
                "raise n_batch or lower n_draft_max"));
    }
    if (d.params().n_batch < t.params().n_batch) {
        throw IncompatibleContextsError(fix("draft n_batch " + std::to_string(d.params().n_batch) +
                                                " < target n_batch " + std::to_string(t.params().n_batch),
                                            "give the draft context at least the target's n_batch"));
    }
    for (const Context * c : {&t, &d}) {
        const llama_model * m = c->model().get();
        if (!(llama_model_is_recurrent(m) || llama_model_is_hybrid(m)) || c->params().ctx_type == ContextType::MTP) {
            continue;
        }
        if (c->params().n_ubatch < need) {
            throw IncompatibleContextsError(
                fix("recurrent/hybrid target needs n_ubatch >= n_draft_max + 1 = " + std::to_string(need) + ", has " +
                        std::to_string(c->params().n_ubatch),
                    "raise n_ubatch"));
        }
        if (c->params().n_rs_seq < (uint32_t) config_.n_draft_max) {
            throw IncompatibleContextsError(
                fix("recurrent/hybrid target needs n_rs_seq >= n_draft_max = " + std::to_string(config_.n_draft_max) +
                        " to roll back rejected drafts, has " + std::to_string(c->params().n_rs_seq),
                    "create it with n_rs_seq=n_draft_max"));
        }
    }
}

void MtpSession::check_seq(int64_t seq_id) const {
    if (seq_id < 0 || seq_id >= config_.n_seq) {
        throw with_attributes(BadSeqIdError("seq_id " + std::to_string(seq_id) +
                                            " is outside [0, n_seq=" + std::to_string(config_.n_seq) + ")"),
                              {{"seq_id", seq_id}, {"n_seq", (int64_t) config_.n_seq}});
    }
}

bool MtpSession::is_quiescent() const {
    for (size_t s = 0; s < pending_.size(); ++s) {
        if (pending_[s] && !proposal_[s].empty()) {
            return false;
        }
    }
    return true;
}

// An empty proposal needs no acceptance (as upstream's loop treats it): settled here with
// accept(0) before the sequence goes on, so upstream's draft-mtp stays in step.
void MtpSession::settle_empty_proposal(int64_t seq_id) {
    if (pending_[seq_id] && proposal_[seq_id].empty()) {
        accept_locked(seq_id, 0);
    }
}

void MtpSession::settle_empty_proposals() {
    for (size_t s = 0; s < pending_.size(); ++s) {
        settle_empty_proposal((int64_t) s);
    }
}

void MtpSession::check_quiescent(const char * what) const {
    if (!is_quiescent()) {
        throw ProposalPendingError(std::string(what) +
                                   " needs a quiescent session: accept() every pending proposal first");
    }
}

const std::vector<int32_t> & MtpSession::pending_proposal(int64_t seq_id) const {
    check_seq(seq_id);
    if (!pending_[seq_id]) {
        throw NoPendingProposalError("seq " + std::to_string(seq_id) + " has no pending proposal");
    }
    return proposal_[seq_id];
}

void MtpSession::begin(int64_t seq_id, const std::vector<int32_t> & prompt) {
    const Unblocked unblocked;
    const SessionLock lock(*this);
    begin_locked(seq_id, prompt);
}

void MtpSession::begin_locked(int64_t seq_id, const std::vector<int32_t> & prompt) {
    check_seq(seq_id);
    settle_empty_proposal(seq_id);
    if (pending_[seq_id]) {
        throw ProposalPendingError("seq " + std::to_string(seq_id) +
                                   " has a pending proposal: accept() it before begin()");
    }
    const int32_t n_vocab = vocab_size(tgt_->model().get());
    for (int32_t t : prompt) {
        check_token_id(n_vocab, t, "prompt token");
    }
    if (prompt.size() >= tgt_->params().n_ctx_seq) {
        throw MtpSessionError("prompt of " + std::to_string(prompt.size()) +
                              " tokens does not fit the target context (" + std::to_string(tgt_->params().n_ctx_seq) +
                              " cells per sequence)");
    }
    ScopedTimer timer(stats_.t_begin);
    history_[seq_id].assign(prompt.begin(), prompt.end());
    common_speculative_begin(spec_, (llama_seq_id) seq_id, history_[seq_id]);
    begun_[seq_id] = true;
}

void MtpSession::process_common(const common_batch & batch) {
    dft_->require_no_views("MtpSession.process");
    ScopedTimer timer(stats_.t_process);
    if (DraftVocabulary * vocab = dft_->draft_vocabulary()) vocab->admit(dft_raw_, batch);  // the text's tokens
    bool ok = common_speculative_process(spec_, batch);
    dft_->note_external_decode();
    if (!ok) {
        throw MtpSessionError("draft context failed to process the batch (see the log)");
    }
}

void MtpSession::process(const Batch & batch) {
    with_interrupts([&] {
        const Unblocked unblocked;
        const SessionLock lock(*this);
        process_locked(batch);
    });
}

void MtpSession::process_locked(const Batch & batch) {
    if (tgt_->decode_count() == last_processed_decode_ || tgt_->last_n_tokens() != batch.size() || batch.size() == 0) {
        throw MtpSessionError("process(batch) must be called once, right after target.decode(batch), with that batch");
    }
    // rows must be grouped by sequence (upstream pairs each row with the previous row's hidden state)
    std::vector<int32_t> last_row(config_.n_seq, -1);
    batch_->clear();
    for (int32_t i = 0; i < batch.size(); ++i) {
        const int32_t s = batch.seq_id(i);
        if (s < 0 || s >= config_.n_seq) {
            throw with_attributes(BadSeqIdError("batch row " + std::to_string(i) + " has seq_id " + std::to_string(s) +
                                                " outside [0, n_seq)"),
                                  {{"seq_id", (int64_t) s}, {"n_seq", (int64_t) config_.n_seq}, {"row", (int64_t) i}});
        }
        if (last_row[s] >= 0 && last_row[s] != i - 1) {
            throw InvalidArgumentError("rows of seq " + std::to_string(s) + " are not contiguous in the batch");
        }
        last_row[s] = i;
        batch_->add(batch.token()[i], batch.pos()[i], s, batch.logits()[i] != 0);
    }
    last_processed_decode_ = tgt_->decode_count();
    process_common(*batch_);
}

void MtpSession::draft_many(const std::vector<int32_t> & seqs, const std::vector<int32_t> & n_past,
                            const std::vector<int32_t> & last, const std::vector<int32_t> & n_max,
                            llama_memory_t mem_dft) {
    dft_->require_no_views("MtpSession.draft");
    ScopedTimer timer(stats_.t_draft);
    for (size_t k = 0; k < seqs.size(); ++k) {
        const int32_t s = seqs[k];
        proposal_[s].clear();
        auto & dp = common_speculative_get_draft_params(spec_, s);
        dp.drafting = true;
        dp.n_max = n_max[k];
        dp.pos0 = n_past[k];
        dp.id_last = last[k];
        dp.prompt = &history_[s];
        dp.result = &proposal_[s];
        SampledDraft * sd = (size_t) s < sampled_.size() ? &sampled_[s] : nullptr;
        const bool sample = sd && sd->temp > 0.0f && sd->u.size() >= (size_t) n_max[k];
        dp.draft_temp = sample ? sd->temp : 0.0f;
        dp.draft_u = sample ? sd->u.data() : nullptr;
        dp.result_q = sample ? &sd->q : nullptr;
        if (sd) sd->q.clear(), sd->temp = 0.0f;  // for this draft only
    }
    common_speculative_draft(spec_);
    for (size_t k = 0; k < seqs.size(); ++k) {
        const int32_t s = seqs[k];
        pending_[s] = true;
        // drafting wrote draft-context KV past n_past; the verified prefix is rebuilt by process()
        llama_memory_seq_rm(mem_dft, s, n_past[k], -1);
        if (!proposal_[s].empty()) {
            stats_.n_drafts++;
            stats_.draft_tokens += proposal_[s].size();
        }
    }
    dft_->note_external_decode();
}

std::vector<int32_t> MtpSession::draft(int64_t seq_id, int32_t n_past, int32_t last_token, int32_t n_max) {
    return with_interrupts([&] {
        const Unblocked unblocked;
        const SessionLock lock(*this);
        return draft_locked(lock, seq_id, n_past, last_token, n_max);
    });
}

std::vector<int32_t> MtpSession::draft_locked(const SessionLock & lock, int64_t seq_id, int32_t n_past,
                                              int32_t last_token, int32_t n_max) {
    check_seq(seq_id);
    settle_empty_proposal(seq_id);
    if (pending_[seq_id]) {
        throw ProposalPendingError("seq " + std::to_string(seq_id) +
                                   " already has a pending proposal: accept() it first");
    }
    // begin() is optional, as in upstream: draft-mtp's draft and accept never read the prompt
    check_token_id(vocab_size(tgt_->model().get()), last_token, "last_token");
    const int32_t n_ctx = (int32_t) tgt_->params().n_ctx_seq;
    if (n_past < 0 || n_past >= n_ctx) {
        throw InvalidArgumentError("n_past " + std::to_string(n_past) + " outside [0, " + std::to_string(n_ctx) +
                                   ") (the target's cells per sequence)");
    }
    int32_t limit = std::min(config_.n_draft_max, n_ctx - n_past - 2);
    if (n_max >= 0) {
        limit = std::min(limit, n_max);
    }
    limit = std::max(limit, 0);
    if (limit > 0) {
        draft_many({(int32_t) seq_id}, {n_past}, {last_token}, {limit}, lock.draft.memory());
    } else {
        propose_nothing(seq_id);
    }
    return proposal_[seq_id];
}

void MtpSession::accept(int64_t seq_id, int32_t n_accepted) {
    const Unblocked unblocked;
    const SessionLock lock(*this);
    accept_locked(seq_id, n_accepted);
}

void MtpSession::accept_locked(int64_t seq_id, int32_t n_accepted) {
    check_seq(seq_id);
    if (!pending_[seq_id]) {
        throw NoPendingProposalError("seq " + std::to_string(seq_id) + " has no pending proposal to accept");
    }
    if (n_accepted < 0 || (size_t) n_accepted > proposal_[seq_id].size()) {
        throw with_attributes(AcceptedTooManyError("accept(" + std::to_string(n_accepted) + ") for a proposal of " +
                                                   std::to_string(proposal_[seq_id].size()) + " token(s)"),
                              {{"seq_id", seq_id},
                               {"n_accepted", (int64_t) n_accepted},
                               {"size", (int64_t) proposal_[seq_id].size()},
                               {"maximum", (int64_t) proposal_[seq_id].size()}});
    }
    if (external_[seq_id]) {
        accept_external_locked(seq_id, n_accepted);
        return;
    }
    ScopedTimer timer(stats_.t_accept);
    const auto & prop = proposal_[seq_id];
    // upstream asserts n_accepted == 0 when its impl never drafted for this seq
    common_speculative_accept(spec_, (llama_seq_id) seq_id, (uint16_t) (prop.empty() ? 0 : n_accepted));
    if (!prop.empty()) {
        stats_.n_verified++;
        stats_.verified_tokens += prop.size();
        if (n_accepted > 0) {
            stats_.accepted_drafts++;
            stats_.accepted_tokens += n_accepted;
            if (stats_.accepted_at.size() < (size_t) n_accepted) {
                stats_.accepted_at.resize(n_accepted, 0);
            }
            for (int32_t i = 0; i < n_accepted; ++i) {
                stats_.accepted_at[i]++;
            }
        }
    }
    history_[seq_id].insert(history_[seq_id].end(), prop.begin(), prop.begin() + n_accepted);
    pending_[seq_id] = false;
}

void MtpSession::print_stats() const {
    common_speculative_print_stats(spec_);
}

}  // namespace llama_mtp
