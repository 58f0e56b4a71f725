#include "ngram_control.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

constexpr double kPrior = 0.95;  // optimistic: a draft is tried before anything is known
constexpr double kPriorWeight = 1.0;
constexpr double kDecay = 0.9;  // acceptance follows the last ~10 drafts at each position
constexpr double kCostDecay = 0.95;
constexpr double kMargin = 1.02;  // a draft must beat the alternative by this much
constexpr int32_t kMaxGap = 256;

}  // namespace

NgramController::NgramController(int32_t n_max)
    : n_max_(std::max(n_max, 1)),
      hits_(n_max_, 0.0),
      trials_(n_max_, 0.0),
      cost_(n_max_ + 1, 0.0),
      cost_weight_(n_max_ + 1, 0.0) {}

double NgramController::acceptance(int32_t i) const {
    if (i < 1 || i > n_max_) return 0.0;
    return (hits_[i - 1] + kPrior * kPriorWeight) / (trials_[i - 1] + kPriorWeight);
}

double NgramController::expected_tokens(int32_t l) const {
    double e = 1.0, p = 1.0;
    for (int32_t i = 1; i <= std::min(l, n_max_); ++i) {
        p *= acceptance(i);
        e += p;
    }
    return e;
}

double NgramController::step_seconds(int32_t l) const {
    l = std::clamp(l, 0, n_max_);
    if (cost_weight_[l] >= 3.0) return cost_[l];
    // a line through the lengths measured (weighted least squares); one length alone: its
    // cost plus half of it per row (between the tiny models' 0.47 and Gemma-3's 0.7 here)
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    int32_t n_known = 0;
    for (int32_t k = 0; k <= n_max_; ++k) {
        const double w = std::min(cost_weight_[k], 10.0);
        if (w <= 0) continue;
        n_known++;
        sw += w;
        sx += w * k;
        sy += w * cost_[k];
        sxx += w * k * k;
        sxy += w * k * cost_[k];
    }
    if (n_known == 0) return -1.0;
    const double mx = sx / sw, my = sy / sw;
    const double var = sxx / sw - mx * mx;
    double slope = var > 1e-9 ? (sxy / sw - mx * my) / var : -1.0;
    const double base = my - (slope > 0 ? slope * mx : 0.0);
    if (slope <= 0) slope = 0.5 * std::max(my / (1.0 + 0.5 * mx), 1e-9);
    return std::max(base + slope * l, 1e-9);
}

int32_t NgramController::choose(int32_t available, double alternative_speed) {
    available = std::min(available, n_max_);
    if (available <= 0) return 0;
    int32_t best = 0;
    double best_speed = alternative_speed * kMargin;
    const double plain = step_seconds(0);
    for (int32_t l = 1; l <= available; ++l) {
        const double t = step_seconds(l);
        if (t <= 0 || plain <= 0) return std::min(available, 4);  // nothing measured yet: a short try
        const double speed = expected_tokens(l) / t;
        if (speed > best_speed) {
            best_speed = speed;
            best = l;
        }
    }
    if (best > 0) {
        since_probe_ = 0;
        return best;
    }
    if (++since_probe_ >= probe_gap_) {  // the acceptance it remembers may be out of date
        since_probe_ = 0;
        return 1;
    }
    return 0;
}

void NgramController::observe_cost(double draft_length, double seconds) {
    if (!(seconds > 0) || !std::isfinite(seconds)) return;
    const int32_t l = std::clamp((int32_t) std::lround(draft_length), 0, n_max_);
    const double w = cost_weight_[l] * kCostDecay;
    cost_[l] = (cost_[l] * w + seconds) / (w + 1.0);
    cost_weight_[l] = w + 1.0;
}

void NgramController::observe_draft(int32_t drafted, int32_t accepted) {
    drafted = std::min(drafted, n_max_);
    for (int32_t i = 0; i < drafted && i <= accepted; ++i) {
        hits_[i] = hits_[i] * kDecay + (i < accepted ? 1.0 : 0.0);
        trials_[i] = trials_[i] * kDecay + 1.0;
    }
    if (drafted == 1 && accepted == 0) {
        probe_gap_ = std::min(probe_gap_ * 2, kMaxGap);  // a probe that failed: wait longer
    } else if (accepted > 0) {
        probe_gap_ = 16;
    }
}

}  // namespace llama_mtp
