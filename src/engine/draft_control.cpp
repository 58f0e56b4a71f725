#include "draft_control.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

// How fast old evidence fades: acceptance keeps about the last 30 observations per position,
// costs about the last 10 steps of each length (load changes within seconds).
constexpr double kAcceptanceDecay = 0.97;
constexpr double kCostDecay = 0.9;
// Beside it, a fast estimate (about the last 5 observations per position) that takes over where
// it differs from the slow one by more than kChangeZ of its standard errors: the text changed
// (a quoted passage ends, a list begins), and 30 observations would take too long to see it.
constexpr double kFastDecay = 0.8;
constexpr double kFastPriorWeight = 0.25;
constexpr double kChangeZ = 2.0;
// Warm-up: two steps drafting one token, two plain steps (the second of each timed), then the
// model.
constexpr int32_t kWarmup[] = {1, 1, 0, 0};
constexpr int32_t kWarmupSteps = 4;
// While drafting: every kNeighbourEvery steps look for the length whose optimistic speed beats
// the best estimate most, and play it for two steps (the second one is steady, so it is timed);
// none while every other length is surely worse, but one at least every kExploreLast steps (the
// text or the load may have changed what "surely" meant).
constexpr int32_t kNeighbourEvery = 24;
constexpr int32_t kNeighbourSteps = 2;
constexpr int32_t kExploreLast = 256;
// The optimism of optimistic_speed(): acceptance kAcceptZ standard errors up; cost down by
// kCostDoubt for a length never timed (the line predicts it to within the kernels' tiling),
// less the more and the more lately it was timed (its weight fades by kStaleDecay per step it
// is not played).
constexpr double kAcceptZ = 1.0;
constexpr double kCostDoubt = 0.08;
constexpr double kStaleDecay = 0.98;
// How many observations the fitted line counts as beside what a length measured itself.
constexpr double kFitWeight = 0.25;
// While plain decoding is best: probe drafting one token (the cheapest probe, and position 1
// decides whether longer drafts can pay) after kProbeFirst plain steps, then after twice as
// many each time plain stays best, up to kProbeLast (back to kProbeFirst while drafting may
// plausibly beat plain: its optimistic speed is above plain's estimate).
constexpr int32_t kProbeFirst = 32;
constexpr int32_t kProbeLast = 256;
// A probe whose draft was right while drafting is nearly worth it: look again after kProbeSoon
// plain steps (the text may have become predictable).
constexpr int32_t kProbeSoon = 4;
constexpr double kNearlyWorth = 0.97;
// Switching between drafting and plain decoding costs the draft context its history, so the
// other mode must be this much faster before it is taken.
constexpr double kSwitchMargin = 1.02;
// A prior counts as this many observations of acceptance per position, and of each cost: enough
// to start right, few enough that a changed text or load shows within a few steps.
constexpr double kPriorTrials = 8.0;
constexpr double kPriorWeight = 2.0;

}  // namespace

void DraftController::Ewma::add(double x, double decay) {
    const double w = weight * decay;
    value = (value * w + x) / (w + 1.0);
    weight = w + 1.0;
}

DraftController::DraftController(int32_t n_max, bool plain_skips_process)
    : n_max_(std::max<int32_t>(n_max, 1)),
      plain_skips_process_(plain_skips_process),
      acc_hits_(n_max_, 0.0),
      acc_trials_(n_max_, 0.0),
      fast_hits_(n_max_, 0.0),
      fast_trials_(n_max_, 0.0),
      verify_(n_max_ + 1),
      process_(n_max_ + 1),
      last_played_(n_max_ + 1, -1),
      warmup_steps_(kWarmupSteps) {
    next_ = std::min(kWarmup[0], n_max_);
}

DraftPrior DraftController::prior() const {
    DraftPrior p;
    p.acc_hits = acc_hits_;
    p.acc_trials = acc_trials_;
    for (int32_t k = 0; k <= n_max_; ++k) {
        p.verify.push_back(verify_[k].known() ? verify_[k].value : -1.0);
        p.process.push_back(process_[k].known() ? process_[k].value : -1.0);
    }
    p.draft_per_token = draft_per_token_.known() ? draft_per_token_.value : -1.0;
    p.probe_gap = probe_gap_;
    return p;
}

void DraftController::start_from(const DraftPrior & p) {
    const size_t n_pos = std::min<size_t>({(size_t) n_max_, p.acc_hits.size(), p.acc_trials.size()});
    for (size_t i = 0; i < n_pos; ++i) {
        const double trials = std::max(0.0, p.acc_trials[i]);
        const double hits = std::clamp(p.acc_hits[i], 0.0, trials);
        const double scale = trials > kPriorTrials ? kPriorTrials / trials : 1.0;
        acc_trials_[i] = trials * scale;
        acc_hits_[i] = hits * scale;
    }
    auto seed = [](std::vector<Ewma> & table, const std::vector<double> & values) {
        for (size_t k = 0; k < std::min(table.size(), values.size()); ++k) {
            if (std::isfinite(values[k]) && values[k] >= 0) table[k] = Ewma{values[k], kPriorWeight};
        }
    };
    seed(verify_, p.verify);
    seed(process_, p.process);
    for (int32_t k = 0; k <= n_max_; ++k) {
        if (verify_[k].known()) last_played_[k] = 0;  // what the prior knew fades like a measurement
    }
    if (std::isfinite(p.draft_per_token) && p.draft_per_token >= 0) {
        draft_per_token_ = Ewma{p.draft_per_token, kPriorWeight};
    }
    if (p.probe_gap > 0) probe_gap_ = std::clamp(p.probe_gap, kProbeFirst, kProbeLast);
    warmup_steps_ = 0;
    // a one-row decode never costs more than a verify of two or more rows: a prior that says so
    // was timed under a load that has passed (a busy stretch of the machine). Its plain cost is
    // dropped and timed again first (two plain steps, the second timed), else drafting would
    // look cheaper than plain and plain would never be played to show otherwise.
    double cheapest_verify = 1e300;
    for (int32_t k = 1; k <= n_max_; ++k) {
        if (verify_[k].known()) cheapest_verify = std::min(cheapest_verify, verify_[k].value);
    }
    if (verify_[0].known() && verify_[0].value > cheapest_verify) {
        verify_[0] = Ewma{};
        last_played_[0] = -1;
        retime_plain_ = kNeighbourSteps;
    }
    decide();
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

double DraftController::faded_weight(const std::vector<Ewma> & table, int32_t k) const {
    if (!table[k].known()) return 0.0;
    const int32_t idle = last_played_[k] < 0 ? 0 : (int32_t) history_.size() - last_played_[k];
    return std::max(1e-3, table[k].weight * std::pow(kStaleDecay, std::max(0, idle - 1)));
}

double DraftController::fitted(const std::vector<Ewma> & table, int32_t k) const {
    // weighted least squares of seconds = a + b * j over the lengths j with a measurement,
    // each weighted by how much and how lately it was measured; b >= 0 (a longer verify
    // never costs less on the line), one measured length: flat (optimistic for longer ones,
    // so that they get tried)
    double sw = 0, sj = 0, sv = 0, sjj = 0, sjv = 0;
    for (int32_t j = 0; j <= n_max_; ++j) {
        if (!table[j].known()) continue;
        const double w = faded_weight(table, j);
        sw += w;
        sj += w * j;
        sv += w * table[j].value;
        sjj += w * j * j;
        sjv += w * j * table[j].value;
    }
    if (sw <= 0) return 0.0;
    const double mean_j = sj / sw, mean_v = sv / sw;
    const double var_j = sjj / sw - mean_j * mean_j;
    const double slope = var_j > 1e-9 ? std::max(0.0, (sjv / sw - mean_j * mean_v) / var_j) : 0.0;
    const double line = std::max(0.0, mean_v + slope * (k - mean_j));
    if (!table[k].known()) return line;
    // a length's own measurement keeps its weight however long ago it was played (the line
    // follows the lengths played lately, so a load change shows there; the doubt of an old
    // measurement is optimistic_speed()'s)
    const double w = table[k].weight;
    return (w * table[k].value + kFitWeight * line) / (w + kFitWeight);
}

double DraftController::draft_seconds(int32_t k) const {
    return k > 0 && draft_per_token_.known() ? k * draft_per_token_.value : 0.0;
}

double DraftController::verify_seconds(int32_t k) const {
    return k >= 0 && k <= n_max_ ? fitted(verify_, k) : 0.0;
}

double DraftController::process_seconds(int32_t k) const {
    if (k < 0 || k > n_max_ || (k == 0 && plain_skips_process_)) return 0.0;
    return fitted(process_, k);
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
        reach *= std::min(1.0, a + kAcceptZ * std::sqrt(a * (1.0 - a) / (e.n + 1.0)));
        total += reach;
    }
    const double doubt = doubt_cost ? kCostDoubt / std::sqrt(1.0 + faded_weight(verify_, k)) : 0.0;
    return total / (t * (1.0 - doubt));
}

int32_t DraftController::best() const {
    const int32_t k_best = best_drafting_length();
    const double s_plain = expected_speed(0), s_best = expected_speed(k_best);
    if (s_plain <= 0 && s_best <= 0) return next_;  // nothing measured yet
    return s_plain >= s_best ? 0 : k_best;
}

int32_t DraftController::best_drafting_length() const {
    int32_t k_best = 1;
    for (int32_t k = 2; k <= n_max_; ++k) {
        if (expected_speed(k) > expected_speed(k_best)) k_best = k;
    }
    return k_best;
}

double DraftController::best_plausible_drafting_speed() const {
    // acceptance optimism only: whether the text may have changed, not whether costs have
    double best = 0;
    for (int32_t k = 1; k <= n_max_; ++k) best = std::max(best, plausible_speed(k));
    return best;
}

int32_t DraftController::probe_candidate(int32_t k_best) const {
    int32_t candidate = -1;
    double margin = -1e300;
    const double s_best = expected_speed(k_best);
    for (int32_t k = 0; k <= n_max_; ++k) {  // plain decoding too: its cost may have changed
        if (k == k_best) continue;
        const double m = optimistic_speed(k) - s_best;
        if (m > margin) {
            margin = m;
            candidate = k;
        }
    }
    // a surely worse length is probed only when nothing was explored for kExploreLast steps
    return margin > 0 || since_explored_ >= kExploreLast ? candidate : -1;
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
    // a step at another length than the one before costs llama.cpp new graphs for the new
    // shape: only steady steps say what a length costs when it is kept (probes and the first
    // step of a switch teach acceptance; their cost is predicted from the steady ones)
    if (k_eff == last_k_eff_ && o.timed) {
        verify_[k_eff].add(tv, kCostDecay);
        if (tp > 0) process_[k_eff].add(tp, kCostDecay);
        if (k_eff > 0) draft_per_token_.add(td / k_eff, kCostDecay);
    }
    last_k_eff_ = k_eff;
    last_played_[k_eff] = (int32_t) history_.size();

    t_draft += o.t_draft;
    t_verify += o.t_verify;
    t_process += o.t_process;
    tokens += 1.0 + accepted_sum / n_seq;
    seq_seconds += td + tv + tp;
    // a probe from plain decoding after which drafting may plausibly beat plain: the text may
    // have changed, look again sooner; very soon where the probe's draft was right and drafting
    // is nearly worth it already
    if (!drafting_ && exploring_) {
        const double s_plain = expected_speed(0);
        if (accepted_sum > 0 && expected_speed(best_drafting_length()) >= kNearlyWorth * s_plain) {
            probe_gap_ = kProbeSoon;
        } else if (best_plausible_drafting_speed() >= s_plain) {
            probe_gap_ = std::min(probe_gap_, kProbeFirst);
        }
    }
    history_.push_back(std::clamp(o.k, 0, n_max_));
    decide();
    expected_tokens_total += expected_tokens(next_);
    expected_seconds_total += step_seconds(next_);
}

void DraftController::decide() {
    const int32_t step = (int32_t) history_.size();
    if (step < warmup_steps_) {
        next_ = std::min(kWarmup[step], n_max_);
        exploring_ = true;
        return;
    }
    if (retime_plain_ > 0) {
        --retime_plain_;
        next_ = 0;
        exploring_ = true;
        return;
    }
    // the best drafting length, and whether plain decoding beats it by the switch margin
    const int32_t k_best = best_drafting_length();
    const double s_best = expected_speed(k_best);
    const double s_plain = expected_speed(0);
    const bool plain = drafting_ ? s_plain > s_best * kSwitchMargin : s_plain * kSwitchMargin >= s_best;
    drafting_ = !plain;
    exploring_ = false;
    if (plain) {
        since_probe_ = 0;
        neighbour_left_ = 0;
        // a probe when the gap is over, or sooner while the probe itself (one drafted token)
        // may plausibly beat plain: few observations, a warm-up that happened to see one wrong
        // draft must not cost 32 steps (deeper positions are not asked: text that turned hard
        // never shows them, so their old estimates would keep it probing). The sooner probe is
        // decided a step ahead: probe_follows() tells the loop to keep the hidden state for it.
        ++plain_run_;
        const bool soon = probe_soon_;
        probe_soon_ = !soon && plain_run_ + 1 >= kProbeSoon && plausible_speed(1) > s_plain;
        if (plain_run_ >= probe_gap_ || soon) {
            probe_soon_ = false;
            plain_run_ = 0;
            probe_gap_ = std::min(2 * probe_gap_, kProbeLast);
            next_ = 1;
            exploring_ = true;
        } else {
            next_ = 0;
        }
        return;
    }
    plain_run_ = 0;
    probe_soon_ = false;
    probe_gap_ = kProbeFirst;
    if (neighbour_left_ > 0) {  // the rest of a neighbour probe
        --neighbour_left_;
        next_ = neighbour_;
        exploring_ = true;
        return;
    }
    next_ = k_best;
    ++since_explored_;
    if (++since_probe_ < kNeighbourEvery) return;
    since_probe_ = 0;
    const int32_t candidate = probe_candidate(k_best);
    if (candidate < 0) return;
    since_explored_ = 0;
    next_ = neighbour_ = candidate;
    neighbour_left_ = kNeighbourSteps - 1;
    exploring_ = true;
}

}  // namespace llama_mtp
