// The Generator's prompts: placing them in free slots (each where the KV its slot kept shares
// the longest prefix with it) and decoding them as llama-completion decodes a prompt.
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

int64_t Generator::step_rows_per_sequence() const {
    return 1 + std::max(session_ ? cfg_.n_draft_max : 0, ngram_ ? cfg_.ngram_cfg.n_max : 0);
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
        if (c.n_probs < -1 || c.n_probs > kMaxProbs) {
            throw InvalidArgumentError("n_probs must be in [-1, " + std::to_string(kMaxProbs) + "], got " +
                                       std::to_string(c.n_probs));
        }
        st.bias = merged_bias(c.logit_bias, c.ignore_eos ? eog_tokens_ : std::vector<int32_t>{}, n_vocab_);
        if (c.grammar) {
            st.grammar_sampler = new_grammar_sampler(tgt_->model().get(), c.sampling, c.seed, *c.grammar, st.bias);
        } else if (c.sampling.temperature > 0.0f) {
            st.sampler = new_sampler_chain(c.sampling, c.seed, n_vocab_, st.bias);
            st.draft_rng.seed(c.seed ^ 0x9e3779b9u);  // its own stream: the chain's dist keeps its own
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
    // A prompt's last batch (up to n_batch tokens) joins the next step where the step's batch
    // has room for it beside the other sequences' rows (a prompt whose reused prefix is lost
    // counts whole), beside verify rows only when asked to. Not on a recurrent/hybrid target:
    // its prompt is decoded but its last token now, so that the recurrent state before that
    // token can be kept for a next prompt that shares all but the reply (a chat's next turn),
    // as llama-completion does with a prompt cache (common_prompt_batch_decode's save_state).
    const llama_model * mdl = tgt_->model().get();
    const int64_t n_batch = (int64_t) tgt_->params().n_batch;
    bool verifying = false;
    int64_t rows = 0;
    for (const auto & st : seqs_) {
        if (!st.used || !st.finish_reason.empty()) continue;
        verifying = verifying || !st.waiting();
        rows += st.waiting() ? (int64_t) st.pending_prompt.size() : step_rows_per_sequence();
    }
    for (const auto & p : prompts) rows += std::min(n_batch, (int64_t) p.size());
    const bool recurrent = llama_model_is_recurrent(mdl) || llama_model_is_hybrid(mdl);
    const bool join = !recurrent && (!verifying || join_next_step) && rows <= n_batch;
    const bool adapting = adapting_threads();
    if (adapting) use_threads();
    const double t0 = now_s(), cpu0 = adapting ? process_cpu_seconds() : -1;
    int64_t n_prefilled = 0;
    locked([&](const Context::Lock & target, llama_memory_t mem_dft) {
        std::vector<size_t> ends(slots.size());
        std::vector<bool> joins(slots.size(), false);
        for (size_t i = 0; i < slots.size(); ++i) {
            const int32_t s = slots[i];
            seqs_[s] = std::move(fresh[i]);
            SeqState & st = seqs_[s];
            st.kv_exact = st.cfg.exact && (reused[i] == 0 || cache_[s].exact);
            st.prefill_pos = st.n_cached = reused[i];
            reuse_prefix(s, reused[i], from_checkpoint[i], target, mem_dft);
            reused[i] = st.prefill_pos;       // 0 where the checkpoint could not be restored
            ends[i] = prompts[i].size() - 1;  // all but the last token, which the first verify batch takes
            if (join && st.finish_reason.empty()) {
                // the last batch, with the last token: the step samples the first token from its logits
                const size_t n_new = prompts[i].size() - (size_t) reused[i];
                ends[i] = prompts[i].size() - ((n_new - 1) % (size_t) n_batch + 1);
                joins[i] = true;
                st.pending_prompt.assign(prompts[i].begin() + (std::ptrdiff_t) ends[i], prompts[i].end());
                n_prompt_tokens += (int64_t) st.pending_prompt.size() - 1;
            } else if (join) {
                ends[i] = (size_t) reused[i];  // max_tokens=0: nothing to decode
            }
        }
        n_prefilled = prefill(slots, prompts, ends, joins, target);
    });
    t_prompt_last_ = now_s() - t0;
    t_prompt += t_prompt_last_;
    if (adapting && n_prefilled > 0) observe_threads(kShapePrefill, t_prompt_last_, process_cpu_seconds() - cpu0);
    last_step_end_ = 0;  // the time until the next step was spent here, not between steps
    return slots;
}

int64_t Generator::prefill(const std::vector<int32_t> & slots, const std::vector<std::vector<int32_t>> & prompts,
                           const std::vector<size_t> & ends, const std::vector<bool> & joins,
                           const Context::Lock & target) {
    const int32_t n_batch = (int32_t) tgt_->params().n_batch;
    bool any = false, exact = false;
    for (size_t i = 0; i < slots.size(); ++i) {
        any = any || (size_t) seqs_[slots[i]].prefill_pos < ends[i];
        exact = exact || seqs_[slots[i]].cfg.exact;
    }
    if (any && session_ && !hidden_on_) {
        // a plain stretch turned the target's NextN outputs off; the draft context needs them
        // for the prompt, so that the new sequences can draft at once
        tgt_->set_pre_norm_locked(target, true, false);
        hidden_on_ = true;
    }
    batch_->clear();
    int64_t n_decoded = 0;
    auto flush = [&]() {
        if (batch_->size() == 0) return;
        const BatchInvariant invariant(exact);
        tgt_->decode_locked(target, *batch_, 0);
        if (session_) session_->process_common(*batch_);
        batch_->clear();
    };
    for (size_t i = 0; i < slots.size(); ++i) {
        // from where the slot's kept prefix ends
        SeqState & st = seqs_[slots[i]];
        for (size_t j = (size_t) st.prefill_pos; j < ends[i]; ++j) {
            if (batch_->size() == n_batch) flush();
            batch_->add(prompts[i][j], (llama_pos) j, (llama_seq_id) slots[i], false);
            n_decoded++;
        }
        st.prefill_pos = (int32_t) std::max(ends[i], (size_t) st.prefill_pos);
    }
    flush();
    n_prompt_tokens += n_decoded;
    if (session_ && any) last_hidden_ = false;  // the last verify batch's hidden rows are gone
    for (size_t i = 0; i < slots.size(); ++i) {
        // finish_prefill() after the step that decodes a joining last batch; max_tokens=0
        // sequences that joined nothing decode nothing
        if (joins[i] || ends[i] + 1 != prompts[i].size()) continue;
        const int32_t s = slots[i];
        if (extend_only_) take_checkpoint(s, target);
        if (session_) {
            session_->begin_locked((int64_t) s, std::vector<int32_t>(prompts[i].begin(), prompts[i].end() - 1));
        }
    }
    return n_decoded;
}

}  // namespace llama_mtp
