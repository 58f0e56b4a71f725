#include "generator.h"
#include "generator_locked.h"

#include <cmath>
#include <optional>

#include "batch_invariant.h"
#include "clock.h"
#include "common.h"
#include "errors.h"
#include "hooks.h"
#include "llama-ext.h"
#include "model.h"

namespace llama_mtp {

Generator::Generator(std::shared_ptr<Context> target, std::shared_ptr<Context> draft,
                     const std::vector<std::vector<int32_t>> & prompts, const GenConfig & cfg)
    : target_(std::move(target)), draft_(std::move(draft)), cfg_(cfg) {
    if (prompts.empty()) {
        throw InvalidArgumentError("at least one prompt is needed");
    }
    init((int32_t) prompts.size());
    std::vector<SeqConfig> cfgs(prompts.size(), cfg.seq);
    for (size_t s = 0; s < cfgs.size(); ++s) cfgs[s].seed = cfg.seq.seed + (uint32_t) s;
    add(prompts, cfgs);
    t_prompt = t_prompt_last_;
}

Generator::Generator(std::shared_ptr<Context> target, std::shared_ptr<Context> draft, int32_t n_slots,
                     const GenConfig & cfg)
    : target_(std::move(target)), draft_(std::move(draft)), cfg_(cfg) {
    if (n_slots < 1) {
        throw InvalidArgumentError("n_slots must be >= 1, got " + std::to_string(n_slots));
    }
    init(n_slots);
}

void Generator::init(int32_t n_seq) {
    if (!target_) {
        throw InvalidArgumentError("a generator needs a target context");
    }
    tgt_ = target_.get();
    if (draft_) {
        require_two_contexts(*tgt_, *draft_);
    }
    const ContextParams & tp = tgt_->params();
    if (tp.ctx_type != ContextType::DEFAULT) {
        throw InvalidArgumentError("the target must be a DEFAULT context");
    }
    if ((uint32_t) n_seq > tp.n_seq_max) {
        throw InvalidArgumentError(std::to_string(n_seq) + " sequences need a target context with n_seq_max >= " +
                                   std::to_string(n_seq) + ", it has " + std::to_string(tp.n_seq_max));
    }
    // one verify batch holds every sequence's last token and drafts
    if (cfg_.ngram) cfg_.ngram_cfg.validate();
    // the longest draft of one sequence, MTP or n-gram
    const int32_t max_draft = std::max(draft_ ? cfg_.n_draft_max : 0, cfg_.ngram ? cfg_.ngram_cfg.n_max : 0);
    const int64_t rows = (int64_t) n_seq * (max_draft + 1);
    if (rows > (int64_t) tp.n_batch) {
        throw InvalidArgumentError(std::to_string(n_seq) + " sequences with drafts of up to " +
                                   std::to_string(max_draft) + " tokens need verify batches of " +
                                   std::to_string(rows) + " rows; the target's n_batch is " +
                                   std::to_string(tp.n_batch) + " (llama.cpp limits it to n_ctx)");
    }
    extend_only_ = llama_model_is_recurrent(tgt_->model().get()) || llama_model_is_hybrid(tgt_->model().get());
    if (extend_only_ && max_draft > 0 &&
        (tp.n_rs_seq < (uint32_t) max_draft || (int64_t) tp.n_ubatch < max_draft + 1)) {
        // rejected rows are rolled back through recurrent-state snapshots, one per draft token
        throw InvalidArgumentError("a recurrent or hybrid target verifying drafts of up to " +
                                   std::to_string(max_draft) + " tokens needs n_rs_seq >= " +
                                   std::to_string(max_draft) + " and n_ubatch >= " + std::to_string(max_draft + 1) +
                                   "; it has " + std::to_string(tp.n_rs_seq) + " and " + std::to_string(tp.n_ubatch));
    }
    n_vocab_ = vocab_size(tgt_->model().get());
    const llama_vocab * vocab = llama_model_get_vocab(tgt_->model().get());
    for (int32_t t = 0; t < n_vocab_; ++t) {
        if (llama_vocab_is_eog(vocab, t)) eog_tokens_.push_back(t);
    }
    use_ = std::make_unique<ContextUse>(tgt_);
    if (draft_) {
        MtpConfig mc{n_seq, cfg_.n_draft_max, cfg_.n_min, cfg_.p_min};
        session_ = std::make_unique<MtpSession>(target_, draft_, mc);
        adaptive_ = cfg_.adaptive;
    }
    if (cfg_.ngram) {
        ngram_ = std::make_unique<NgramDrafter>(cfg_.ngram_cfg, n_seq);
        if (cfg_.adaptive) ngram_ctl_ = std::make_unique<NgramController>(cfg_.ngram_cfg.n_max);
    }
    seqs_.resize(n_seq);
    cache_.resize(n_seq);
    draft_length_counts_.assign(cfg_.n_draft_max + 1, 0);
    locked(
        [&](const Context::Lock & target, llama_memory_t) { batch_ = std::make_unique<common_batch>(target.get()); });
}

Generator::~Generator() = default;

bool Generator::step_is_exact() const {
    for (const auto & st : seqs_) {
        if (st.used && st.finish_reason.empty() && st.cfg.exact) return true;
    }
    return false;
}

bool Generator::done() const {
    if (!failed_.empty()) return true;
    for (const auto & st : seqs_) {
        if (st.used && st.finish_reason.empty()) return false;  // generating, or waiting for its prompt
    }
    return true;
}

std::vector<std::vector<int32_t>> Generator::step() {
    std::vector<std::vector<int32_t>> out(seqs_.size());
    if (done() && failed_.empty()) {
        return out;
    }
    const bool adapting = adapting_threads();
    if (adapting) use_threads();
    const double cpu0 = adapting ? process_cpu_seconds() : -1;
    double wall = 0, cpu = -1;
    int64_t shape = kShapePrefill;
    locked([&](const Context::Lock & target, llama_memory_t mem_dft) {
        const double t0 = now_s();
        // what the caller did between two steps (a server's HTTP and text handling) is part of
        // each step's cost: fewer, longer steps save it. Prefills (add()) are not.
        between_steps_ = last_step_end_ > 0 ? t0 - last_step_end_ : 0.0;
        step_locked(out, target, mem_dft);
        const double t1 = now_s();
        const bool prompts_only = step_shape_ == kShapePrefill;  // the last batches of new prompts, nothing verified
        if (prompts_only) {                                      // timed as a prefill in add() is
            t_prompt_last_ = t1 - t0;
            t_prompt += t_prompt_last_;
            last_step_end_ = 0;
        } else {
            last_step_end_ = t1;
            t_gen += t1 - t0;
        }
        if (adapting) {
            wall = t1 - t0;
            cpu = process_cpu_seconds() - cpu0;
            shape = step_shape_;
        }
    });
    // outside the contexts' locks: the thread count's lock is always taken before them
    if (adapting) observe_threads(shape, wall, cpu);
    return out;
}

int32_t Generator::pick(SeqState & st, int32_t row, llama_context * ctx) {
    if (st.grammar_sampler) {
        return grammar_sample(st.grammar_sampler.get(), ctx, row);
    }
    if (st.sampler) {
        return llama_sampler_sample(st.sampler.get(), ctx, row);
    }
    const float * logits = llama_get_logits_ith(ctx, row);
    return st.bias.empty() ? argmax(logits, n_vocab_) : argmax_biased(logits, n_vocab_, st.bias);
}

void Generator::step_locked(std::vector<std::vector<int32_t>> & out, const Context::Lock & target,
                            llama_memory_t mem_dft) {
    const double t_start = now_s();
    step_shape_ = kShapeNone;  // until this step's batch is known (a step with nothing to do compares with none)
    const int32_t n_ctx = (int32_t) tgt_->params().n_ctx_seq;
    std::vector<int32_t> active;
    bool any_auto = false, any_fixed = false, any_stale = false, any_rowless = false;
    std::vector<int32_t> joining;  // sequences whose prompt this step decodes
    for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
        const SeqState & st = seqs_[s];
        if (!st.used || !st.finish_reason.empty()) continue;
        if (st.waiting()) {
            joining.push_back(s);
            continue;
        }
        active.push_back(s);
        any_auto |= st.cfg.n_draft < 0;
        any_fixed |= st.cfg.n_draft > 0;
        any_stale |= st.stale;
        any_rowless |= st.stale && (st.no_row || !st.lag_complete());
    }
    if (active.empty() && joining.empty()) return;
    const bool prompts_only = active.empty();  // new prompts alone: their prefill, not a verify step (step())
    if (adaptive_ && any_auto) {
        int32_t n_auto = 0;
        for (int32_t s : active) n_auto += seqs_[s].cfg.n_draft < 0;
        size_t band = 0;
        while ((1 << band) < n_auto) ++band;  // 1 -> 0, 2 -> 1, 3-4 -> 2, 5-8 -> 3, ...
        if (controllers_.size() <= band) controllers_.resize(band + 1);
        if (!controllers_[band]) {
            controllers_[band] = std::make_unique<DraftController>(cfg_.n_draft_max, /*plain_skips_process=*/true);
            if (band == 0 && prior_) controllers_[band]->start_from(*prior_);
        }
        controller_ = controllers_[band].get();
    }
    // the draft length of this step for the sequences that follow the generator's; a plain
    // step chosen by the controller (not a probe of it) skips the draft context altogether,
    // which then starts over when drafting resumes. Sequences with a fixed length draft anyway.
    // A step of new prompts only asks the controller nothing and feeds the draft context, as a
    // prefill does, so that they draft from their next step.
    int32_t k = active.empty() ? 0 : controller_ ? controller_->next() : cfg_.n_draft_max;
    const bool auto_session = any_auto && (k > 0 || !controller_ || controller_->exploring());
    const bool use_session = session_ && (auto_session || any_fixed || active.empty());
    // restarting needs the target's hidden state of the last position; a plain stretch turns
    // those outputs off (they cost the hybrid target ~2 %) except before a scheduled probe, and
    // a prefill overwrites them. Without them, this step only wakes the draft context
    // (process, no draft).
    const bool wake = use_session && any_stale && (!last_hidden_ || any_rowless);
    if (wake) k = 0;
    const int32_t n_ngram = plan_ngram(active, k);
    // plain steps keep the target's NextN rows too: the draft context catches up on them
    // (note_lag) instead of losing its history (a later request may reuse this prefix and draft)
    const bool hidden = session_ != nullptr;
    if (session_ && hidden != hidden_on_) {
        tgt_->set_pre_norm_locked(target, hidden, false);
        hidden_on_ = hidden;
    }
    bool mtp_steered = false;  // an auto sequence follows the controller's k this step
    for (int32_t s : active) mtp_steered |= seqs_[s].cfg.n_draft < 0 && seqs_[s].ngram_draft.empty();
    if (session_ && mtp_steered) {
        draft_lengths_.push_back(k);
        draft_length_counts_[k]++;
    }
    static const std::vector<int32_t> kNoDraft;
    std::vector<const std::vector<int32_t> *> drafts(seqs_.size(), &kNoDraft);
    double t_draft_step = 0, t_process_step = 0;
    if (use_session) {
        for (int32_t s : active) {
            SeqState & st = seqs_[s];
            if (!st.stale) continue;
            const float * h = wake ? nullptr : llama_get_embeddings_nextn_ith(target.get(), st.row);
            if (h == nullptr && !wake) throw ContextError("the target's hidden state for the draft is missing");
            bring_in_step(s, h, mem_dft);
        }
        const ScopedTimer timer(t_draft_step);
        std::vector<int32_t> seqs, past, last, nmax;
        for (int32_t s : active) {
            const SeqState & st = seqs_[s];
            if (!st.ngram_draft.empty()) {  // verified in place of an MTP draft; keeps the draft context warm
                session_->propose_external_locked(s, st.ngram_draft);
                continue;
            }
            const int32_t want = wake ? 0 : st.cfg.n_draft < 0 ? k : st.cfg.n_draft;
            const int32_t n_max =
                std::min({want, st.cfg.max_tokens - (int32_t) st.generated.size() - 1, n_ctx - st.n_past - 2});
            if (n_max > 0) {
                arm_sampled_draft(s, n_max);
                seqs.push_back(s);
                past.push_back(st.n_past);
                last.push_back(st.id_last);
                nmax.push_back(n_max);
            } else {
                session_->propose_nothing(s);  // keeps the state machine in step
            }
        }
        if (!seqs.empty()) {
            session_->draft_many(seqs, past, last, nmax, mem_dft);
        }
        for (int32_t s : active) drafts[s] = &session_->pending_proposal(s);
    } else {
        for (int32_t s : active) {
            SeqState & st = seqs_[s];
            if (session_ && !st.stale) {  // a lag record starts here (auto sequences: note_lag)
                drop_lag(st);
                st.lag_pos = st.n_past;
            }
            if (session_) st.stale = true;
            if (!seqs_[s].ngram_draft.empty()) drafts[s] = &seqs_[s].ngram_draft;
        }
    }
    // one verify batch for all sequences: [id_last, drafts...], every row with logits
    batch_->clear();
    for (int32_t s : active) {
        SeqState & st = seqs_[s];
        st.row = batch_->size();
        st.no_row = false;
        batch_->add(st.id_last, st.n_past, s, true);
        const auto & d = *drafts[s];
        for (size_t i = 0; i < d.size(); ++i) {
            batch_->add(d[i], st.n_past + 1 + (int32_t) i, s, true);
        }
    }
    // new prompts: their last token's logits give the first token in this same step (time to
    // first token as plain decoding's); their draft starts from its hidden state next step
    const int32_t n_outputs = batch_->size() + (int32_t) joining.size();
    for (int32_t s : joining) {
        SeqState & st = seqs_[s];
        const size_t n = st.pending_prompt.size();
        st.row = batch_->size() + (int32_t) n - 1;
        for (size_t i = 0; i < n; ++i) {
            batch_->add(st.pending_prompt[i], (llama_pos) (st.prefill_pos + i), s, i + 1 == n);
        }
    }
    {
        const BatchInvariant exact(step_is_exact());
        tgt_->decode_locked(target, *batch_, n_outputs);
    }
    last_hidden_ = hidden_on_;
    if (use_session) {
        const ScopedTimer timer(t_process_step);
        session_->process_common(*batch_);
    }
    for (int32_t s : joining) finish_prefill(s, use_session);
    if (!prompts_only) n_steps++;
    DraftObservation seen;
    const llama_vocab * vocab = llama_model_get_vocab(tgt_->model().get());
    llama_memory_t mem_tgt = target.memory();
    std::vector<int32_t> ids, answering = active;
    answering.insert(answering.end(), joining.begin(), joining.end());
    for (size_t j = 0; j < answering.size(); ++j) {
        const int32_t s = answering[j];
        const bool joined = j >= active.size();  // no draft, no proposal: its first token
        SeqState & st = seqs_[s];
        const auto & d = *drafts[s];
        static const std::vector<std::vector<llama_token_data>> kPointMass;
        const bool sampled = use_session && !joined && st.ngram_draft.empty();
        verify(st, d, sampled ? session_->pending_q(s) : kPointMass, target.get(), ids);
        const int32_t n_acc = (int32_t) ids.size() - 1;
        if (use_session && !joined) {
            session_->accept_locked(s, n_acc);
        }
        const bool from_text = !joined && !st.ngram_draft.empty();
        if (from_text) {
            ngram_->accept(s, (int32_t) d.size(), n_acc);
            if (ngram_ctl_) ngram_ctl_->observe_draft((int32_t) d.size(), n_acc);
        }
        if (!d.empty()) tally(from_text ? StepDrafter::NGRAM : StepDrafter::MTP, (int32_t) d.size(), n_acc, st);
        if (st.cfg.n_draft < 0 && !joined && !from_text) {  // the controller learns from the sequences it steers
            seen.drafted.push_back((int32_t) d.size());
            seen.accepted.push_back(n_acc);
        }
        int32_t keep = 0;
        for (int32_t tok : ids) {
            keep++;
            if (!st.cfg.ignore_eos && llama_vocab_is_eog(vocab, tok)) {
                st.finish_reason = "stop";
                break;
            }
            st.generated.push_back(tok);
            out[s].push_back(tok);
            if (st.cfg.n_probs != 0) {
                const float * logits = llama_get_logits_ith(target.get(), st.row + keep - 1);
                st.probs.push_back(token_probs(logits, n_vocab_, tok, std::max(0, st.cfg.n_probs)));
            }
            if (st.text.append(vocab, tok, st.cfg.stop)) {
                st.finish_reason = "stop";
                break;
            }
            if ((int32_t) st.generated.size() >= st.cfg.max_tokens) {
                st.finish_reason = "length";
                break;
            }
            if (st.n_past + keep + 2 >= n_ctx) {  // context full: where plain decoding stops too
                st.finish_reason = "length";
                break;
            }
        }
        const int32_t n_rows = (int32_t) d.size() + 1;  // rows of this seq in the verify batch
        if (!use_session && st.stale && !joined) note_lag(s, keep, d, target.get(), mem_dft);
        st.n_past += keep;
        st.id_last = ids[keep - 1];
        // drop the rejected (or truncated) rows: KV cells, or recurrent snapshots. Only when
        // there are any: touching the memory needlessly costs llama.cpp its graph reuse.
        if (keep < n_rows) {
            llama_memory_seq_rm(mem_tgt, s, st.n_past, -1);
            if (mem_dft) llama_memory_seq_rm(mem_dft, s, st.n_past, -1);
        }
    }
    const double t_step = now_s() - t_start;
    if (!prompts_only) {
        t_draft += t_draft_step;
        t_process += t_process_step;
        t_verify += t_step - t_draft_step - t_process_step;
        log_step(active, drafts);
    }
    if (ngram_ctl_ && joining.empty() && !prompts_only) {
        double rows = 0;
        for (int32_t s : active) rows += (double) drafts[s]->size();
        ngram_ctl_->observe_cost(rows / (double) active.size(), (t_step - t_draft_step) / (double) active.size());
    }
    step_shape_ = prompts_only                      ? kShapePrefill
                  : joining.empty() && n_ngram == 0 ? (int64_t) batch_->size() * 4096 + (int64_t) active.size()
                                                    : kShapeNone;
    if (controller_ && any_auto && !seen.drafted.empty()) {
        seen.k = k;
        seen.timed = joining.empty() && n_ngram == 0 && !threads_trial_;
        seen.t_draft = t_draft_step;
        seen.t_process = t_process_step;
        seen.t_verify = t_step - t_draft_step - t_process_step + std::min(between_steps_, t_step);
        controller_->observe(seen);
    }
}

}  // namespace llama_mtp
