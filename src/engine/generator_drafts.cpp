// The generator's drafters side by side: the n-gram drafts of a step (taken from each
// sequence's own text), what each drafter did, and the controllers' snapshots.
#include <algorithm>

#include "errors.h"
#include "generator.h"

namespace llama_mtp {

std::optional<DraftController> Generator::controller() const {
    const Context::Lock lock(*tgt_);
    if (!adaptive_) return std::nullopt;
    if (!controller_) return DraftController(cfg_.n_draft_max, /*plain_skips_process=*/true);  // no step yet
    return *controller_;
}

void Generator::start_controller_from(const DraftPrior & prior) {
    const Context::Lock lock(*tgt_);
    if (!adaptive_)
        throw InvalidArgumentError("start_controller_from needs an adaptive generator (n_draft_max=\"auto\")");
    if (n_steps > 0 || !controllers_.empty()) {
        throw StateError("start_controller_from must come before the first step: the controller has started");
    }
    prior_ = prior;
}

namespace {

// entries [first, end) of a per-step log: a request reads the steps since it was admitted, not
// the whole history of a long-lived generator
template <typename T>
std::vector<T> tail(const std::vector<T> & log, size_t first) {
    return std::vector<T>(log.begin() + (ptrdiff_t) std::min(first, log.size()), log.end());
}

}  // namespace

std::vector<int32_t> Generator::draft_lengths(size_t first) const {
    const Context::Lock lock(*tgt_);
    return tail(draft_lengths_, first);
}

size_t Generator::n_draft_lengths() const {
    const Context::Lock lock(*tgt_);
    return draft_lengths_.size();
}

std::vector<int64_t> Generator::draft_length_counts() const {
    const Context::Lock lock(*tgt_);
    return draft_length_counts_;
}

DrafterTally Generator::drafter_tally(StepDrafter which) const {
    const Context::Lock lock(*tgt_);
    if (which == StepDrafter::MTP) return mtp_tally_;
    if (which == StepDrafter::NGRAM) return ngram_tally_;
    throw InvalidArgumentError("drafter_tally: a drafter is MTP or NGRAM");
}

std::vector<int8_t> Generator::step_drafters(size_t first) const {
    const Context::Lock lock(*tgt_);
    return tail(step_drafters_, first);
}

std::vector<int32_t> Generator::step_draft_lengths(size_t first) const {
    const Context::Lock lock(*tgt_);
    return tail(step_draft_lengths_, first);
}

int32_t Generator::plan_ngram(const std::vector<int32_t> & active, int32_t k) {
    for (int32_t s : active) seqs_[s].ngram_draft.clear();
    if (!ngram_) return 0;
    const int32_t n_ctx = (int32_t) tgt_->params().n_ctx_seq;
    std::vector<int32_t> seqs, last, n_max;
    for (int32_t s : active) {
        SeqState & st = seqs_[s];
        if (!st.cfg.ngram) continue;
        const int32_t room = std::min(
            {cfg_.ngram_cfg.n_max, st.cfg.max_tokens - (int32_t) st.generated.size() - 1, n_ctx - st.n_past - 2});
        if (room <= 0) continue;
        // the tokens before id_last: the prompt's, then the generated ones
        auto token_at = [&st](int32_t i) { return i < st.n_prompt ? st.prompt[i] : st.generated[i - st.n_prompt]; };
        if (!st.ngram_begun) {
            std::vector<int32_t> history;
            history.reserve(st.n_past);
            for (int32_t i = 0; i < st.n_past; ++i) history.push_back(token_at(i));
            ngram_->begin(s, history);
            st.ngram_begun = true;
        } else {
            ngram_->sync(s, st.n_past, token_at);
        }
        seqs.push_back(s);
        last.push_back(st.id_last);
        n_max.push_back(room);
    }
    if (seqs.empty()) return 0;
    std::vector<std::vector<int32_t>> out;
    ngram_->draft(seqs, last, n_max, out);
    int32_t n_used = 0;
    for (size_t j = 0; j < seqs.size(); ++j) {
        SeqState & st = seqs_[seqs[j]];
        std::vector<int32_t> & d = out[j];
        if (d.empty()) continue;
        if (ngram_ctl_) {
            // the alternative: the MTP length this sequence drafts otherwise, or plain decoding
            const double t_plain = ngram_ctl_->step_seconds(0);
            double alternative = t_plain > 0 ? 1.0 / t_plain : 0.0;
            const int32_t k_mtp = st.cfg.n_draft < 0 ? k : st.cfg.n_draft;
            if (session_ && controller_ && k_mtp > 0) {
                alternative = std::max(alternative, controller_->expected_speed(k_mtp));
            }
            d.resize(ngram_ctl_->choose((int32_t) d.size(), alternative));
        }
        if (d.empty()) continue;
        st.ngram_draft = std::move(d);
        n_used++;
    }
    return n_used;
}

void Generator::tally(StepDrafter who, int32_t drafted, int32_t accepted, SeqState & st) {
    for (DrafterTally * t :
         {who == StepDrafter::NGRAM ? &ngram_tally_ : &mtp_tally_, &st.tally[who == StepDrafter::NGRAM ? 1 : 0]}) {
        t->drafts++;
        t->draft_tokens += drafted;
        t->accepted_tokens += accepted;
        if ((int32_t) t->accepted_at.size() < accepted) t->accepted_at.resize(accepted, 0);
        for (int32_t i = 0; i < accepted; ++i) t->accepted_at[i]++;
    }
}

DrafterTally Generator::sequence_tally(int32_t s, StepDrafter which) const {
    check_sequence(s);
    return seqs_[s].tally[which == StepDrafter::NGRAM ? 1 : 0];
}

void Generator::log_step(const std::vector<int32_t> & active,
                         const std::vector<const std::vector<int32_t> *> & drafts) {
    int32_t who = 0, longest = 0;
    for (int32_t s : active) {
        if (drafts[s]->empty()) continue;
        who |= seqs_[s].ngram_draft.empty() ? (int32_t) StepDrafter::MTP : (int32_t) StepDrafter::NGRAM;
        longest = std::max(longest, (int32_t) drafts[s]->size());
    }
    if (who & (int32_t) StepDrafter::MTP) mtp_tally_.steps++;
    if (who & (int32_t) StepDrafter::NGRAM) ngram_tally_.steps++;
    step_drafters_.push_back((int8_t) who);
    step_draft_lengths_.push_back(longest);
}

}  // namespace llama_mtp
