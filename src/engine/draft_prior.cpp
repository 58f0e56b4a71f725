// A DraftController's state as a prior for another one (a later call, another process: the
// cost cache), and starting from one.
#include <algorithm>
#include <cmath>

#include "draft_control.h"
#include "median.h"

namespace llama_mtp {

namespace {

// A prior counts as this many observations of acceptance per position: enough to start right,
// few enough that a changed text shows within a few steps.
constexpr double kPriorTrials = 8.0;
constexpr int32_t kMeasureSteps = DraftCosts::kMeasureSteps;

}  // namespace

DraftPrior DraftController::prior() const {
    DraftPrior p;
    p.acc_hits = acc_hits_;
    p.acc_trials = acc_trials_;
    std::vector<double> per_token;
    for (int32_t k = 0; k <= n_max_; ++k) {
        const StepCost c = costs_.own(k);
        const bool known = costs_.samples(k) > 0;
        p.verify.push_back(known ? c.verify : -1.0);
        p.process.push_back(known ? c.process : -1.0);
        p.samples.push_back(std::min(costs_.samples(k), kMeasureSteps));
        if (k > 0 && known) per_token.push_back(c.draft / k);
    }
    p.draft_per_token = per_token.empty() ? -1.0 : lower_median(per_token);
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
    const bool draft_known = std::isfinite(p.draft_per_token) && p.draft_per_token >= 0;
    for (int32_t k = 0; k <= n_max_ && k < (int32_t) p.verify.size(); ++k) {
        if (!std::isfinite(p.verify[k]) || p.verify[k] < 0) continue;
        StepCost c;
        c.verify = p.verify[k];
        const bool has_process = k < (int32_t) p.process.size() && std::isfinite(p.process[k]) && p.process[k] >= 0;
        c.process = has_process && !(k == 0 && plain_skips_process_) ? p.process[k] : 0.0;
        c.draft = k > 0 && draft_known ? k * p.draft_per_token : 0.0;
        // a measurement (two steps) or a probe's step; the machine level rescales them from the first steps
        const int32_t n = k < (int32_t) p.samples.size() ? std::clamp(p.samples[k], 1, kMeasureSteps) : kMeasureSteps;
        costs_.seed(k, c, n);
    }
    if (p.probe_gap > 0) probe_gap_ = std::clamp(p.probe_gap, kProbeFirst, kProbeLast);
    warmup_steps_ = 0;
    // a one-row decode never costs more than a verify of two or more rows: a prior that says so
    // was timed under a load that has passed (a stalled step, a busy stretch). Its plain cost
    // is dropped and measured first, else drafting would look cheaper than plain and plain
    // would never be played to show otherwise.
    for (int32_t k = 1; k <= n_max_ && measured(0); ++k) {
        if (measured(k) && costs_.own(0).verify > kPlainAboveVerify * costs_.own(k).verify) costs_.forget(0);
    }
    decide();
}

}  // namespace llama_mtp
