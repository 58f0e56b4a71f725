#include "draft_control.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

// How fast old acceptance fades: about the last 30 observations per position.
constexpr double kAcceptanceDecay = 0.97;
// Beside it, a fast estimate (about the last 5 observations per position) that takes over where
// it differs from the slow one by more than kChangeZ of its standard errors: the text changed
// (a quoted passage ends, a list begins), and 30 observations would take too long to see it.
constexpr double kFastDecay = 0.8;
constexpr double kFastPriorWeight = 0.25;
constexpr double kChangeZ = 2.0;
// Warm-up: one step drafting one token (the draft context is warm from the prompt; it says
// whether drafting may pay at all), then two plain steps: plain decoding measured.
constexpr int32_t kWarmup[] = {1, 0, 0};
constexpr int32_t kWarmupSteps = 3;
constexpr int32_t kMeasureSteps = DraftCosts::kMeasureSteps;
// While drafting: every kNeighbourEvery steps look for the length whose optimistic speed beats
// the best estimate most, and measure it again; none while every other length is surely
// worse, but one at least every kExploreLast steps.
constexpr int32_t kNeighbourEvery = 24;
constexpr int32_t kExploreLast = 256;
// The optimism of optimistic_speed(): acceptance kAcceptZ standard errors up; the cost of a
// measured length down by up to kCostDoubt the longer it was not played (kStaleDecay per step).
constexpr double kAcceptZ = 1.0;
constexpr double kCostDoubt = 0.08;
constexpr double kStaleDecay = 0.98;
// While plain decoding is best: probe drafting after kProbeFirst plain steps, then after twice
// as many each time, up to kProbeLast; after kProbeSoon while drafting may plausibly beat plain.
// (On a CPU a probe costs 2-5 plain steps: at 48 a 128-token text that never drafts right pays
// for two probes, 2-3 %.)
constexpr int32_t kProbeSoon = 4;
// Switching between drafting and plain decoding costs the draft context its history, so the
// other mode must be this much faster before it is taken.
constexpr double kSwitchMargin = 1.02;
// Realized against predicted: over the last kRealizedWindow steps that played the best
// estimate, a speed under kRealizedShort of the prediction measures plain decoding again
// (the alternative every choice is weighed against), at most every kPlainCheckEvery steps;
// so does a plain cost above a measured verify of more rows (a one-row decode never costs more).
constexpr size_t kRealizedWindow = 16;
constexpr double kRealizedShort = 0.8;
constexpr int32_t kPlainCheckEvery = 16;

}  // namespace

DraftController::DraftController(int32_t n_max, bool plain_skips_process)
    : n_max_(std::max<int32_t>(n_max, 1)),
      plain_skips_process_(plain_skips_process),
      acc_hits_(n_max_, 0.0),
      acc_trials_(n_max_, 0.0),
      fast_hits_(n_max_, 0.0),
      fast_trials_(n_max_, 0.0),
      costs_(n_max_),
      warmup_steps_(kWarmupSteps),
      probe_gap_(kProbeFirst) {
    next_ = std::min(kWarmup[0], n_max_);
}

bool DraftController::probe_follows() const {
    if ((int32_t) history_.size() < warmup_steps_) return true;  // the warm-up may end in a probe
    return !drafting_ && probe_next_;
}

bool DraftController::measured(int32_t k) const {
    return k >= 0 && k <= n_max_ && costs_.measured(k);
}

DraftController::Estimate DraftController::position(int32_t i, double prior) const {
    // the prior of a position is the estimate of the one before (1/2 for the first), weight
    // one observation: a draft that is right early tends to stay right, so longer drafts get tried
    // (the fast estimate's prior weighs a quarter: with ~5 observations it must be able to
    // reach near 0 or 1)
    const double n_slow = acc_trials_[i - 1] + 1.0, n_fast = fast_trials_[i - 1] + kFastPriorWeight;
    const double slow = (acc_hits_[i - 1] + prior) / n_slow;
    const double fast = (fast_hits_[i - 1] + kFastPriorWeight * prior) / n_fast;
    const double se_fast = std::sqrt(std::max(fast * (1.0 - fast), 0.01) / (n_fast + 1.0));
    if (std::fabs(fast - slow) > kChangeZ * se_fast) return {fast, n_fast};
    return {slow, n_slow};
}

double DraftController::acceptance(int32_t i) const {
    if (i < 1 || i > n_max_) return 0.0;
    double a = 0.5;
    for (int32_t j = 1; j <= i; ++j) a = position(j, a).p;
    return a;
}

double DraftController::expected_tokens(int32_t k) const {
    double total = 1.0, reach = 1.0, a = 0.5;
    for (int32_t i = 1; i <= std::min(k, n_max_); ++i) {
        a = position(i, a).p;
        reach *= a;
        total += reach;
    }
    return total;
}

double DraftController::draft_seconds(int32_t k) const {
    return k > 0 ? costs_.at(k).draft : 0.0;
}

double DraftController::verify_seconds(int32_t k) const {
    return k >= 0 && k <= n_max_ ? costs_.at(k).verify : 0.0;
}

double DraftController::process_seconds(int32_t k) const {
    return k == 0 && plain_skips_process_ ? 0.0 : costs_.at(k).process;
}

double DraftController::step_seconds(int32_t k) const {
    return draft_seconds(k) + verify_seconds(k) + process_seconds(k);
}

double DraftController::expected_speed(int32_t k) const {
    if (k < 0 || k > n_max_) return 0.0;
    const double t = step_seconds(k);
    return t > 0 ? expected_tokens(k) / t : 0.0;
}

double DraftController::optimistic_speed(int32_t k) const {
    return optimistic_speed(k, true);
}

double DraftController::optimistic_speed(int32_t k, bool doubt_cost) const {
    if (k < 0 || k > n_max_) return 0.0;
    const double t = step_seconds(k);
    if (t <= 0) return 0.0;
    double total = 1.0, reach = 1.0, a = 0.5;
    for (int32_t i = 1; i <= k; ++i) {
        const Estimate e = position(i, a);
        a = e.p;
        // plausible: the first position up alone (a text that turned predictable shows there
        // first; the deeper positions' wide priors would keep plain decoding probing for ever)
        const bool up = doubt_cost || i == 1;
        reach *= up ? std::min(1.0, a + kAcceptZ * std::sqrt(a * (1.0 - a) / (e.n + 1.0))) : a;
        total += reach;
    }
    double doubt = 0.0;  // an unmeasured length's chord is optimistic already
    if (doubt_cost && measured(k)) {
        const int32_t idle = (int32_t) history_.size() - costs_.last_step(k);
        doubt = kCostDoubt * (1.0 - std::pow(kStaleDecay, std::max(0, idle - 1)));
    }
    return total / (t * (1.0 - doubt));
}

int32_t DraftController::best_drafting_length() const {
    int32_t k_best = -1;
    for (int32_t k = 1; k <= n_max_; ++k) {
        if (measured(k) && (k_best < 0 || expected_speed(k) > expected_speed(k_best))) k_best = k;
    }
    return k_best;
}

int32_t DraftController::best_plausible_drafting_length() const {
    int32_t k_best = 1;
    for (int32_t k = 2; k <= n_max_; ++k) {
        if (plausible_speed(k) > plausible_speed(k_best)) k_best = k;
    }
    return k_best;
}

int32_t DraftController::best() const {
    const int32_t k_best = best_drafting_length();
    if (!measured(0)) return k_best >= 0 ? k_best : next_;
    if (k_best < 0) return 0;
    return expected_speed(0) >= expected_speed(k_best) ? 0 : k_best;
}

int32_t DraftController::exploration_candidate(double s_best, bool measured_too) const {
    const int32_t k_best = best_drafting_length();
    int32_t candidate = -1;
    double top = s_best;
    for (int32_t k = measured_too ? 0 : 1; k <= n_max_; ++k) {
        if (k == k_best || (measured(k) && !measured_too)) continue;
        const double s = optimistic_speed(k);
        if (s > top) {
            top = s;
            candidate = k;
        }
    }
    return candidate;
}

void DraftController::measure(int32_t k, int32_t steps) {
    measure_k_ = k;
    measure_left_ = std::max(0, steps - 1);
    next_ = k;
    // plain decoding measured while drafting keeps the draft context in step (process() runs);
    // measured from plain decoding it is plain decoding
    exploring_ = k > 0 || drafting_;
    chosen_ = false;
}

bool DraftController::realized_falls_short() const {
    if (realized_.size() < kRealizedWindow) return false;
    Realized sum{};
    for (const Realized & r : realized_) {
        sum.tokens += r.tokens;
        sum.seconds += r.seconds;
        sum.expected_tokens += r.expected_tokens;
        sum.expected_seconds += r.expected_seconds;
    }
    if (sum.seconds <= 0 || sum.expected_seconds <= 0) return false;
    return sum.tokens / sum.seconds < kRealizedShort * sum.expected_tokens / sum.expected_seconds;
}

void DraftController::observe(const DraftObservation & o) {
    const int32_t n_seq = std::max<int32_t>(1, (int32_t) o.drafted.size());
    int32_t k_eff = 0;
    double accepted_sum = 0;
    for (size_t s = 0; s < o.drafted.size(); ++s) {
        const int32_t m = std::clamp(o.drafted[s], 0, n_max_);
        const int32_t a = s < o.accepted.size() ? std::clamp(o.accepted[s], 0, m) : 0;
        k_eff = std::max(k_eff, m);
        accepted_sum += a;
        // position i is observed when drafted and all before it were accepted
        for (int32_t i = 1; i <= std::min(a + 1, m); ++i) {
            const double hit = i <= a ? 1.0 : 0.0;
            acc_trials_[i - 1] = acc_trials_[i - 1] * kAcceptanceDecay + 1.0;
            acc_hits_[i - 1] = acc_hits_[i - 1] * kAcceptanceDecay + hit;
            fast_trials_[i - 1] = fast_trials_[i - 1] * kFastDecay + 1.0;
            fast_hits_[i - 1] = fast_hits_[i - 1] * kFastDecay + hit;
        }
    }
    const double td = o.t_draft / n_seq, tv = o.t_verify / n_seq, tp = o.t_process / n_seq;
    if (o.timed) {
        // a plain step costs the verify alone where the loop skips process() then
        const double process = k_eff == 0 && plain_skips_process_ ? 0.0 : tp;
        costs_.add(k_eff, StepCost{td, tv, process}, k_eff == last_k_eff_, (int32_t) history_.size());
    }
    last_k_eff_ = k_eff;

    t_draft += o.t_draft;
    t_verify += o.t_verify;
    t_process += o.t_process;
    const double step_tokens = 1.0 + accepted_sum / n_seq;
    tokens += step_tokens;
    seq_seconds += td + tv + tp;
    if (chosen_ && o.timed) {
        realized_.push_back(
            {step_tokens, td + tv + tp, pending_prediction_.expected_tokens, pending_prediction_.expected_seconds});
        if (realized_.size() > kRealizedWindow) realized_.erase(realized_.begin());
    }
    if (chord_check_ >= 0) {  // a one-step measurement: confirmed by its chord, or a second step
        const int32_t k = chord_check_;
        chord_check_ = -1;
        if (costs_.chord_confirms(k)) {
            costs_.confirm(k);
        } else if (measure_left_ == 0 && !measured(k)) {
            measure_k_ = k;
            measure_left_ = 1;
        }
    }
    // sooner probes back off while they find nothing (a hard text keeps the first position's
    // doubt wide: its fast estimate sees ~5 observations)
    if ((int32_t) history_.size() < warmup_steps_ && accepted_sum > 0) warmup_hit_ = true;
    if (probing_) soon_gap_ = accepted_sum > 0 ? kProbeSoon : std::min(2 * soon_gap_, kProbeLast);
    // a probe from plain decoding whose draft was right: measure its length (one more step)
    if (probing_ && accepted_sum > 0 && k_eff > 0 && !measured(k_eff) && measure_left_ == 0) {
        measure_k_ = k_eff;
        measure_left_ = 1;
    }
    history_.push_back(std::clamp(o.k, 0, n_max_));
    decide();
    pending_prediction_ = {0, 0, expected_tokens(next_), step_seconds(next_)};
    expected_tokens_total += pending_prediction_.expected_tokens;
    expected_seconds_total += pending_prediction_.expected_seconds;
}

void DraftController::decide() {
    const int32_t step = (int32_t) history_.size();
    probing_ = false;
    chosen_ = false;
    if (step < warmup_steps_) {
        next_ = std::min(kWarmup[step], n_max_);
        exploring_ = next_ > 0;  // the plain steps skip the draft context, as plain decoding does
        return;
    }
    if (measure_left_ > 0) {  // the rest of a measurement
        --measure_left_;
        next_ = measure_k_;
        exploring_ = next_ > 0 || drafting_;
        return;
    }
    if (!measured(0)) {  // everything is weighed against plain decoding
        measure(0, kMeasureSteps - std::min(costs_.samples(0), 1));
        return;
    }
    const int32_t k_best = best_drafting_length();
    const double s_best = k_best > 0 ? expected_speed(k_best) : 0.0;
    const double s_plain = expected_speed(0);
    // plain decoding questioned: it costs more than a measured verify of more rows, or the
    // speed realized by drafting falls short of the prediction
    if (++since_plain_check_ >= kPlainCheckEvery) {
        bool suspect = drafting_ && realized_falls_short();
        for (int32_t k = 1; k <= n_max_ && !suspect; ++k) {
            suspect = measured(k) && costs_.own(0).verify > kPlainAboveVerify * costs_.own(k).verify;
        }
        if (suspect) {
            since_plain_check_ = 0;
            realized_.clear();
            costs_.forget_recent(0);
            measure(0, kMeasureSteps);
            return;
        }
    }
    const bool plain = k_best < 0 || (drafting_ ? s_plain > s_best * kSwitchMargin : s_plain * kSwitchMargin >= s_best);
    if (plain != !drafting_) realized_.clear();
    drafting_ = !plain;
    if (plain) {
        since_neighbour_ = 0;
        const int32_t k_probe = best_plausible_drafting_length();
        const bool promising = plausible_speed(k_probe) > s_plain * kSwitchMargin;
        // right after the warm-up, a promising text is probed at once (the warm-up announced it);
        // so is one whose warm-up draft was right: that step was the first of its shape, so its
        // cost says little about what drafting costs
        const bool after_warmup = step == warmup_steps_ && warmup_steps_ > 0;
        if (probe_next_ || (after_warmup && (promising || warmup_hit_))) {
            probe_next_ = false;
            plain_run_ = 0;
            next_ = k_probe;
            exploring_ = probing_ = true;
            return;
        }
        ++plain_run_;
        next_ = 0;
        exploring_ = false;
        chosen_ = true;
        // the next step probes when the gap is over, or sooner while drafting may plausibly
        // beat plain (few observations; a text that turned predictable). Decided a step ahead:
        // probe_follows() tells the loop to keep the hidden state for it.
        if (plain_run_ + 1 >= probe_gap_) {
            probe_next_ = true;
            probe_gap_ = std::min(2 * probe_gap_, kProbeLast);
        } else if (plain_run_ + 1 >= soon_gap_ && promising) {
            probe_next_ = true;
        }
        return;
    }
    plain_run_ = 0;
    probe_next_ = false;
    probe_gap_ = kProbeFirst;
    soon_gap_ = kProbeSoon;
    // a length never measured that may beat the best by its chord cost: measured now (at most
    // once each; one step where measured lengths on both sides make the chord, and its step
    // agrees with it)
    int32_t candidate = exploration_candidate(s_best, false);
    if (candidate > 0 && costs_.chord_possible(candidate)) {
        since_explored_ = 0;
        chord_check_ = candidate;
        measure(candidate, 1);
        return;
    }
    if (candidate < 0) {
        ++since_explored_;
        if (++since_neighbour_ >= kNeighbourEvery) {
            since_neighbour_ = 0;
            candidate = exploration_candidate(s_best, true);
            if (candidate < 0 && since_explored_ >= kExploreLast) candidate = exploration_candidate(0.0, true);
        }
    }
    if (candidate >= 0) {
        since_explored_ = 0;
        measure(candidate, kMeasureSteps);
        return;
    }
    next_ = k_best;
    exploring_ = false;
    chosen_ = true;
}

}  // namespace llama_mtp
