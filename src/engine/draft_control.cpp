#include "draft_control.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

// How fast old evidence fades: acceptance keeps about the last 30 observations per position,
// costs about the last 10 steps of each length (load changes within seconds).
constexpr double kAcceptanceDecay = 0.97;
constexpr double kCostDecay = 0.9;
// Warm-up: two steps drafting one token, two plain steps (the second of each timed), then the
// model.
constexpr int32_t kWarmup[] = {1, 1, 0, 0};
constexpr int32_t kWarmupSteps = 4;
// While drafting: every kNeighbourEvery steps try k+1 or k-1 (alternately) for two steps (the
// second one is steady, so it is timed), which keeps the estimates beside the best one fresh;
// a neighbour far worse than the best only every 4th time.
constexpr int32_t kNeighbourEvery = 24;
constexpr int32_t kNeighbourSteps = 2;
constexpr double kFarWorse = 0.8;
// While plain decoding is best: probe drafting one token (the cheapest probe, and position 1
// decides whether longer drafts can pay) after kProbeFirst plain steps, then after twice as
// many each time plain stays best, up to kProbeLast (back to kProbeFirst when a probe's draft
// was right against expectations).
constexpr int32_t kProbeFirst = 32;
constexpr int32_t kProbeLast = 256;
constexpr double kNearlyWorth = 0.9;
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
    if (std::isfinite(p.draft_per_token) && p.draft_per_token >= 0) {
        draft_per_token_ = Ewma{p.draft_per_token, kPriorWeight};
    }
    if (p.probe_gap > 0) probe_gap_ = std::clamp(p.probe_gap, kProbeFirst, kProbeLast);
    warmup_steps_ = 0;
    decide();
}

double DraftController::acceptance(int32_t i) const {
    if (i < 1 || i > n_max_) return 0.0;
    // the prior of position i is the estimate of position i-1 (1/2 for the first), weight one
    // observation: a draft that is right early tends to stay right, so longer drafts get tried
    double a = 0.5;
    for (int32_t j = 1; j <= i; ++j) a = (acc_hits_[j - 1] + a) / (acc_trials_[j - 1] + 1.0);
    return a;
}

double DraftController::expected_tokens(int32_t k) const {
    double total = 1.0, reach = 1.0, a = 0.5;
    for (int32_t i = 1; i <= std::min(k, n_max_); ++i) {
        a = (acc_hits_[i - 1] + a) / (acc_trials_[i - 1] + 1.0);
        reach *= a;
        total += reach;
    }
    return total;
}

double DraftController::interpolate(const std::vector<Ewma> & table, int32_t k) const {
    if (table[k].known()) return table[k].value;
    int32_t lo = -1, hi = -1;
    for (int32_t j = k - 1; j >= 0 && lo < 0; --j)
        if (table[j].known()) lo = j;
    for (int32_t j = k + 1; j <= n_max_ && hi < 0; ++j)
        if (table[j].known()) hi = j;
    if (lo >= 0 && hi >= 0) {
        const double f = double(k - lo) / double(hi - lo);
        return table[lo].value + f * (table[hi].value - table[lo].value);
    }
    // one side only: the nearest known cost. Beyond the longest length kept so far that is
    // optimistic, so a longer draft gets tried once acceptance makes it look worth it
    return lo >= 0 ? table[lo].value : hi >= 0 ? table[hi].value : 0.0;
}

double DraftController::draft_seconds(int32_t k) const {
    return k > 0 && draft_per_token_.known() ? k * draft_per_token_.value : 0.0;
}

double DraftController::verify_seconds(int32_t k) const {
    return k >= 0 && k <= n_max_ ? interpolate(verify_, k) : 0.0;
}

double DraftController::process_seconds(int32_t k) const {
    if (k < 0 || k > n_max_ || (k == 0 && plain_skips_process_)) return 0.0;
    return interpolate(process_, k);
}

double DraftController::step_seconds(int32_t k) const {
    return draft_seconds(k) + verify_seconds(k) + process_seconds(k);
}

double DraftController::expected_speed(int32_t k) const {
    if (k < 0 || k > n_max_) return 0.0;
    const double t = step_seconds(k);
    return t > 0 ? expected_tokens(k) / t : 0.0;
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

double DraftController::best_drafting_speed() const {
    return expected_speed(best_drafting_length());
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
            acc_trials_[i - 1] = acc_trials_[i - 1] * kAcceptanceDecay + 1.0;
            acc_hits_[i - 1] = acc_hits_[i - 1] * kAcceptanceDecay + (i <= a ? 1.0 : 0.0);
        }
    }
    const double td = o.t_draft / n_seq, tv = o.t_verify / n_seq, tp = o.t_process / n_seq;
    // a step at another length than the one before costs llama.cpp new graphs for the new
    // shape: only steady steps say what a length costs when it is kept (probes and the first
    // step of a switch teach acceptance; their cost is interpolated from the steady ones)
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
    // a probe from plain decoding after which drafting looks nearly worth it: the text may
    // have changed, look again soon
    if (!drafting_ && exploring_ && best_drafting_speed() >= kNearlyWorth * expected_speed(0)) {
        probe_gap_ = kProbeFirst;
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
        if (++plain_run_ >= probe_gap_) {
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
    probe_gap_ = kProbeFirst;
    if (neighbour_left_ > 0) {  // the rest of a neighbour probe
        --neighbour_left_;
        next_ = neighbour_;
        exploring_ = true;
        return;
    }
    next_ = k_best;
    if (++since_probe_ < kNeighbourEvery) return;
    since_probe_ = 0;
    const int32_t nb = probe_up_ ? k_best + 1 : k_best - 1;
    probe_up_ = !probe_up_;
    if (nb < 0 || nb > n_max_) return;
    const bool far_worse = expected_speed(nb) < kFarWorse * s_best;
    if (far_worse && last_played_[nb] >= 0 && step - last_played_[nb] < 4 * kNeighbourEvery) return;
    next_ = neighbour_ = nb;
    neighbour_left_ = kNeighbourSteps - 1;
    exploring_ = true;
}

}  // namespace llama_mtp
