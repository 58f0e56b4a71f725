// The Generator's sequence slots: adding prompts between steps (with the KV prefix a slot kept
// from its last sequence), cancelling and releasing sequences, prefilling prompts, and reading
// a sequence's tokens and text.
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

namespace {

int32_t common_prefix(const std::vector<int32_t> & kept, const std::vector<int32_t> & prompt, bool extend_only) {
    // at most all but the prompt's last token: the loop decodes that one itself
    const size_t n = std::min(kept.size(), prompt.size() - 1);
    size_t i = 0;
    while (i < n && kept[i] == prompt[i]) ++i;
    // a recurrent state cannot be rolled back: all of it continues, or none
    if (extend_only && i != kept.size()) return 0;
    return (int32_t) i;
}

// A recurrent or hybrid target's slot also kept its state after the prompt (a checkpoint): a
// prompt that begins with those tokens and then parts from the reply continues from there.
int32_t checkpoint_prefix(const std::vector<int32_t> & kept, int32_t n_checkpoint,
                          const std::vector<int32_t> & prompt) {
    if (n_checkpoint <= 0 || (size_t) n_checkpoint > kept.size() || (size_t) n_checkpoint + 1 > prompt.size()) return 0;
    return std::equal(kept.begin(), kept.begin() + n_checkpoint, prompt.begin()) ? n_checkpoint : 0;
}

}  // namespace

void Generator::restart_clean(int32_t s, llama_memory_t mem_dft) {
    // a clean draft state for the next sequence in slot s (zero carry-over)
    const std::vector<float> zeros(llama_model_n_embd_out(tgt_->model().get()), 0.0f);
    session_->restart_draft_locked(s, zeros.data(), mem_dft);
}

void Generator::finish_prefill(int32_t s, bool processed) {
    SeqState & st = seqs_[s];
    st.pending_prompt.clear();
    if (!session_) return;
    if (processed) {
        session_->begin_locked(s, std::vector<int32_t>(st.prompt.begin(), st.prompt.end() - 1));
    } else {  // its draft context saw nothing of the prompt: a wake step starts it over
        st.stale = true;
        st.no_row = true;
    }
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

void Generator::check_prompt(const std::vector<int32_t> & p) const {
    const int32_t n_ctx_seq = (int32_t) tgt_->params().n_ctx_seq;
    if (p.empty()) {
        throw InvalidArgumentError("a prompt is empty (tokenize with add_special=True to get BOS)");
    }
    if ((int64_t) p.size() + 1 >= n_ctx_seq) {
        throw InvalidArgumentError("a prompt of " + std::to_string(p.size()) + " tokens does not fit the " +
                                   std::to_string(n_ctx_seq) + " KV cells one sequence has (n_ctx_seq)");
    }
    for (int32_t t : p) {
        check_token_id(n_vocab_, t, "prompt token");
    }
}

std::vector<int32_t> Generator::add(const std::vector<std::vector<int32_t>> & prompts,
                                    const std::vector<SeqConfig> & cfgs, bool join_next_step) {
    if (prompts.size() != cfgs.size()) {
        throw InvalidArgumentError("add: one configuration per prompt is needed");
    }
    if (!failed_.empty()) {
        throw ContextError("this generation failed earlier (" + failed_ + "); start a new one");
    }
    const int32_t ceiling = session_ ? cfg_.n_draft_max : 0;
    std::vector<SeqState> fresh(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        check_prompt(prompts[i]);
        const SeqConfig & c = cfgs[i];
        if (c.max_tokens < 0) {
            throw InvalidArgumentError("max_tokens must be >= 0, got " + std::to_string(c.max_tokens));
        }
        if (c.n_draft < -1 || c.n_draft > ceiling) {
            throw InvalidArgumentError("a sequence's n_draft must be -1 (the generator's), 0 (none) or at most " +
                                       std::to_string(ceiling) + ", got " + std::to_string(c.n_draft));
        }
        for (const std::string & stop : c.stop) {
            if (stop.empty()) throw InvalidArgumentError("stop strings must not be empty");
        }
        SeqState & st = fresh[i];
        st.cfg = c;
        validate_sampler_params(c.sampling);
        if (c.grammar) {
            st.grammar_sampler = new_grammar_sampler(tgt_->model().get(), c.sampling, c.seed, *c.grammar);
        } else if (c.sampling.temperature > 0.0f) {
            st.sampler = new_sampler_chain(c.sampling, c.seed);
        }
        st.prompt = prompts[i];
        st.n_prompt = (int32_t) prompts[i].size();
        st.id_last = prompts[i].back();
        st.n_past = st.n_prompt - 1;
        st.used = true;
        if (c.max_tokens == 0) st.finish_reason = "length";
    }
    // each prompt takes the free slot whose kept KV shares the longest prefix with it
    std::vector<int32_t> slots, reused(prompts.size(), 0);
    std::vector<bool> from_checkpoint(prompts.size(), false);
    {
        const Context::Lock lock(*tgt_);  // a step() in another thread reads the slots
        std::vector<bool> taken(seqs_.size(), false);
        for (size_t i = 0; i < prompts.size(); ++i) {
            int32_t best = -1, best_len = -1;
            bool best_rollback = false;
            for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
                if (seqs_[s].used || taken[s]) continue;
                // an exact sequence reuses only KV that was decoded exactly
                const bool usable = !cfgs[i].exact || cache_[s].exact;
                int32_t len = usable ? common_prefix(cache_[s].tokens, prompts[i], extend_only_) : 0;
                bool rollback = false;
                if (usable && extend_only_ && len == 0) {
                    len = checkpoint_prefix(cache_[s].tokens, cache_[s].n_checkpoint, prompts[i]);
                    rollback = len > 0;
                }
                if (len > best_len) best = s, best_len = len, best_rollback = rollback;
            }
            if (best < 0) break;
            taken[best] = true;
            slots.push_back(best);
            reused[i] = best_len;
            from_checkpoint[i] = best_rollback;
        }
    }
    if (slots.size() < prompts.size()) {
        throw GeneratorFullError(std::to_string(prompts.size()) + " sequences asked for, " +
                                 std::to_string(slots.size()) + " of the generator's " + std::to_string(seqs_.size()) +
                                 " slots are free");
    }
    // joining the next step needs room in its batch beside every slot's verify rows, and a
    // target whose memory takes a prompt and verify rows in one ubatch (not recurrent/hybrid)
    const llama_model * mdl = tgt_->model().get();
    int64_t rows = (int64_t) seqs_.size() * (session_ ? cfg_.n_draft_max + 1 : 1);
    for (size_t i = 0; i < prompts.size(); ++i) rows += (int64_t) prompts[i].size() - 1 - reused[i];
    for (const auto & st : seqs_) rows += (int64_t) st.pending_prompt.size();
    const bool join = join_next_step && !llama_model_is_recurrent(mdl) && !llama_model_is_hybrid(mdl) &&
                      rows <= (int64_t) tgt_->params().n_batch;
    const bool adapting = adapting_threads();
    if (adapting) use_threads();
    const double t0 = now_s(), cpu0 = adapting ? process_cpu_seconds() : -1;
    locked([&](const Context::Lock & target, llama_memory_t mem_dft) {
        for (size_t i = 0; i < slots.size(); ++i) {
            const int32_t s = slots[i];
            seqs_[s] = std::move(fresh[i]);
            SeqState & st = seqs_[s];
            st.kv_exact = st.cfg.exact && (reused[i] == 0 || cache_[s].exact);
            st.prefill_pos = st.n_cached = reused[i];
            reuse_prefix(s, reused[i], from_checkpoint[i], target, mem_dft);
            reused[i] = st.prefill_pos;  // 0 where the checkpoint could not be restored
            if (join && st.finish_reason.empty()) {
                // the last token too: the step samples the first token from its logits
                st.pending_prompt.assign(prompts[i].begin() + reused[i], prompts[i].end());
                n_prompt_tokens += (int64_t) st.pending_prompt.size() - 1;
            }
        }
        if (!join) prefill(slots, prompts, target);
    });
    t_prompt_last_ = now_s() - t0;
    t_prompt += t_prompt_last_;
    if (adapting && !join) observe_threads(-1, t_prompt_last_, process_cpu_seconds() - cpu0);
    last_step_end_ = 0;  // the time until the next step was spent here, not between steps
    return slots;
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

void Generator::prefill(const std::vector<int32_t> & slots, const std::vector<std::vector<int32_t>> & prompts,
                        const Context::Lock & target) {
    const int32_t n_batch = (int32_t) tgt_->params().n_batch;
    if (session_ && !hidden_on_) {
        // a plain stretch turned the target's NextN outputs off; the draft context needs them
        // for the prompt, so that the new sequences can draft at once
        tgt_->set_pre_norm_locked(target, true, false);
        hidden_on_ = true;
    }
    batch_->clear();
    bool exact = false;
    for (const int32_t s : slots) exact = exact || seqs_[s].cfg.exact;
    auto flush = [&]() {
        if (batch_->size() == 0) return;
        const BatchInvariant invariant(exact);
        tgt_->decode_locked(target, *batch_, 0);
        if (session_) session_->process_common(*batch_);
        batch_->clear();
    };
    for (size_t i = 0; i < slots.size(); ++i) {
        // everything but the last token (the loop decodes it with the first draft), from where
        // the slot's kept prefix ends
        SeqState & st = seqs_[slots[i]];
        for (size_t j = st.prefill_pos; j + 1 < prompts[i].size(); ++j) {
            if (batch_->size() == n_batch) flush();
            batch_->add(prompts[i][j], (llama_pos) j, (llama_seq_id) slots[i], false);
            n_prompt_tokens++;
        }
    }
    flush();
    if (extend_only_) {
        for (const int32_t s : slots) take_checkpoint(s, target);
    }
    if (session_) {
        last_hidden_ = false;  // the last verify batch's hidden rows are gone
        for (size_t i = 0; i < slots.size(); ++i) {
            session_->begin_locked((int64_t) slots[i], std::vector<int32_t>(prompts[i].begin(), prompts[i].end() - 1));
        }
    }
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
