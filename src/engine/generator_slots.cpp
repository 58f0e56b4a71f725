// The Generator's sequence slots: the KV prefix a slot keeps from its last sequence (and the
// recurrent checkpoint), cancelling and releasing sequences, and reading a sequence's tokens
// and text. Prompts come in through generator_prompts.cpp.
#include <algorithm>
#include <string>
#include <vector>

#include "batch_invariant.h"
#include "clock.h"
#include "common.h"
#include "errors.h"
#include "generator.h"
#include "generator_locked.h"
#include "llama-ext.h"
#include "model.h"

namespace llama_mtp {

void Generator::restart_clean(int32_t s, llama_memory_t mem_dft) {
    // a clean draft state for the next sequence in slot s (zero carry-over)
    const std::vector<float> zeros(llama_model_n_embd_out(tgt_->model().get()), 0.0f);
    session_->restart_draft_locked(s, zeros.data(), mem_dft);
}

void Generator::take_checkpoint(int32_t s, const Context::Lock & target) {
    // the recurrent part only (upstream's partial state, as llama-server's context checkpoints):
    // the attention KV of a hybrid target keeps every position and is trimmed instead
    SeqState & st = seqs_[s];
    const size_t size = llama_state_seq_get_size_ext(target.get(), s, LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY);
    st.checkpoint.resize(size);
    if (llama_state_seq_get_data_ext(target.get(), st.checkpoint.data(), size, s, LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY) !=
        size) {
        st.checkpoint.clear();
    }
    // and the draft context's pending row: a prompt resumed from here pairs its first position with it
    st.checkpoint_hidden = session_ ? session_->pending_hidden_locked(s) : std::vector<float>{};
}

void Generator::pend_prefix_row(int32_t s, int32_t n_kept, int32_t token, const Context::Lock & target) {
    if (!hidden_on_) {
        tgt_->set_pre_norm_locked(target, true, false);
        hidden_on_ = true;
    }
    llama_memory_seq_rm(target.memory(), s, n_kept - 1, -1);
    batch_->clear();
    batch_->add(token, n_kept - 1, s, true);
    {
        const BatchInvariant invariant(seqs_[s].cfg.exact);
        tgt_->decode_locked(target, *batch_, 1);
    }
    batch_->clear();
    last_hidden_ = false;  // the last verify batch's rows are gone
    const float * h = llama_get_embeddings_nextn_ith(target.get(), 0);
    if (h == nullptr) throw ContextError("the target's hidden state for a reused prefix is missing");
    session_->set_pending_hidden_locked(s, h);
}

void Generator::reuse_prefix(int32_t s, int32_t n_kept, bool from_checkpoint, const Context::Lock & target,
                             llama_memory_t mem_dft) {
    SlotCache & c = cache_[s];
    if (from_checkpoint && n_kept > 0) {
        const size_t n = c.checkpoint.size();
        if (llama_state_seq_set_data_ext(target.get(), c.checkpoint.data(), n, s, LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY) !=
                n ||
            !llama_memory_seq_rm(target.memory(), s, n_kept, -1)) {
            n_kept = 0;  // no usable state: the prompt is decoded whole
            seqs_[s].prefill_pos = seqs_[s].n_cached = 0;
        }
    }
    if (n_kept == 0) {
        if (!c.tokens.empty()) {
            llama_memory_seq_rm(target.memory(), s, -1, -1);
            if (session_) restart_clean(s, mem_dft);
        }
    } else {
        llama_memory_seq_rm(target.memory(), s, n_kept, -1);
        if (session_) {
            const size_t n_embd = (size_t) llama_model_n_embd_out(tgt_->model().get());
            if (c.draft_ok && from_checkpoint && c.checkpoint_hidden.size() == n_embd) {
                llama_memory_seq_rm(mem_dft, s, n_kept, -1);
                session_->set_pending_hidden_locked(s, c.checkpoint_hidden.data());
            } else if (c.draft_ok && !from_checkpoint) {
                llama_memory_seq_rm(mem_dft, s, n_kept, -1);
                if ((size_t) n_kept < c.tokens.size())
                    pend_prefix_row(s, n_kept, c.tokens[(size_t) n_kept - 1], target);
            } else {  // the draft context lacks the prefix: it starts over at the first step
                llama_memory_seq_rm(mem_dft, s, -1, -1);
                seqs_[s].stale = true;
                seqs_[s].no_row = true;
            }
        }
    }
    c = SlotCache{};
}

void Generator::cancel(int32_t s) {
    check_sequence(s);
    const Context::Lock lock(*tgt_);
    SeqState & st = seqs_[s];
    if (st.used && st.finish_reason.empty()) st.finish_reason = "cancelled";
}

void Generator::release(int32_t s) {
    check_sequence(s);
    if (!seqs_[s].used) return;
    if (seqs_[s].finish_reason.empty()) {
        throw InvalidArgumentError("sequence " + std::to_string(s) + " is still generating: cancel() it first");
    }
    locked([&](const Context::Lock & target, llama_memory_t mem_dft) {
        SeqState & st = seqs_[s];
        // the memory stays: a later prompt with the same beginning continues from it. It holds
        // the prompt and the generated tokens up to its last position (less when a prompt never
        // got decoded); the draft context holds them too unless it skipped steps. A recurrent
        // draft state is not kept (the draft starts over from the target's hidden state).
        const llama_pos n_kv = llama_memory_seq_pos_max(target.memory(), s) + 1;
        std::vector<int32_t> kept = std::move(st.prompt);
        kept.insert(kept.end(), st.generated.begin(), st.generated.end());
        kept.resize(std::min<size_t>(kept.size(), (size_t) std::max<llama_pos>(n_kv, 0)));
        const int32_t n_checkpoint = st.checkpoint.empty() ? 0 : st.n_prompt - 1;
        if (session_ && st.stale && st.lag_complete() &&  // the kept draft KV must hold the whole prefix
            session_->catch_up_locked(s, st.lag_pos, st.lag_tokens, st.lag_hidden, mem_dft)) {
            st.stale = false;
        }
        // the draft context of a hybrid target is attention KV alone (the NextN layer): it keeps a
        // prefix as an attention-only target does
        cache_[s] = {std::move(kept),          session_ && !st.stale, st.kv_exact,
                     std::move(st.checkpoint), n_checkpoint,          std::move(st.checkpoint_hidden)};
        seqs_[s] = SeqState{};
    });
}

std::vector<int32_t> Generator::n_cached() const {
    const Context::Lock lock(*tgt_);
    std::vector<int32_t> r;
    for (const auto & st : seqs_) r.push_back(st.n_cached);
    return r;
}

std::vector<int32_t> Generator::free_slots() const {
    const Context::Lock lock(*tgt_);
    std::vector<int32_t> r;
    for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
        if (!seqs_[s].used) r.push_back(s);
    }
    return r;
}

std::vector<int32_t> Generator::active_slots() const {
    const Context::Lock lock(*tgt_);
    std::vector<int32_t> r;
    for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
        if (seqs_[s].used && seqs_[s].finish_reason.empty()) r.push_back(s);
    }
    return r;
}

std::vector<int32_t> Generator::joining_slots() const {
    const Context::Lock lock(*tgt_);
    std::vector<int32_t> r;
    for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
        if (seqs_[s].used && seqs_[s].waiting()) r.push_back(s);
    }
    return r;
}

std::vector<std::vector<int32_t>> Generator::tokens() const {
    std::vector<std::vector<int32_t>> r;
    for (const auto & st : seqs_) r.push_back(st.generated);
    return r;
}

std::vector<std::string> Generator::finish_reasons() const {
    std::vector<std::string> r;
    for (const auto & st : seqs_) r.push_back(st.finish_reason);
    return r;
}

std::string Generator::take_text(int32_t s) {
    check_sequence(s);
    const Context::Lock lock(*tgt_);  // step() in another thread writes the text
    return seqs_[s].text.take(seqs_[s].cfg.stop, !seqs_[s].finish_reason.empty());
}

std::vector<TokenProbs> Generator::take_probs(int32_t s) {
    check_sequence(s);
    const Context::Lock lock(*tgt_);
    return std::exchange(seqs_[s].probs, {});
}

std::string Generator::text(int32_t s) const {
    check_sequence(s);
    const Context::Lock lock(*tgt_);
    return seqs_[s].text.bytes();
}

void Generator::check_sequence(int32_t s) const {
    if (s < 0 || s >= (int32_t) seqs_.size()) {
        throw InvalidArgumentError("sequence " + std::to_string(s) + " is outside [0, " + std::to_string(seqs_.size()) +
                                   ")");
    }
}

std::vector<int32_t> Generator::n_past() const {
    std::vector<int32_t> r;
    for (const auto & st : seqs_) r.push_back(st.n_past);
    return r;
}

}  // namespace llama_mtp
