#include "draft_costs.h"

#include <algorithm>
#include <cmath>

#include "median.h"

namespace llama_mtp {

namespace {

constexpr size_t kWindow = 5;  // steps kept per length
// a length not played for this many steps is measured anew (its old steps are dropped)
constexpr int32_t kStaleAfter = 8;
// The machine level moves once the lower median of the last kLevelRatios ratios (at least
// kLevelMin of them) leaves [level / kLevelShift, level * kLevelShift].
constexpr size_t kLevelRatios = 5;
constexpr size_t kLevelMin = 3;
constexpr double kLevelShift = 1.1;
// A length's one step agrees with the chord of its measured neighbours within this fraction.
constexpr double kChordAgrees = 0.15;

}  // namespace

StepCost DraftCosts::Length::estimate() const {
    std::vector<const Sample *> steady, all;
    for (const Sample & s : recent) {
        all.push_back(&s);
        if (s.steady) steady.push_back(&s);
    }
    auto & pick = steady.size() >= 2 ? steady : all;
    if (pick.empty()) return {};
    std::sort(pick.begin(), pick.end(),
              [](const Sample * a, const Sample * b) { return a->cost.total() < b->cost.total(); });
    return steady.size() >= 2 ? pick[(pick.size() - 1) / 2]->cost : pick.front()->cost;
}

void DraftCosts::add(int32_t k, const StepCost & c, bool steady, int32_t step) {
    Length & L = lengths_[k];
    if (L.last_step >= 0 && step - L.last_step > kStaleAfter) L.recent.clear();  // measured anew
    if (steady && L.base_total > 0) {
        level_ratios_.push_back(c.total() / L.base_total);
        if (level_ratios_.size() > kLevelRatios) level_ratios_.erase(level_ratios_.begin());
        if (level_ratios_.size() >= kLevelMin) {
            const double m = lower_median(level_ratios_);
            if (m > level_ * kLevelShift || m < level_ / kLevelShift) {
                level_ = std::clamp(m, 1e-3, 1e3);
                level_ratios_.clear();
            }
        }
    }
    L.recent.push_back({c, steady});
    if (L.recent.size() > kWindow) L.recent.erase(L.recent.begin());
    L.n_samples++;
    L.level_at = level_;
    L.last_step = step;
    if (L.base_total < 0 && L.n_samples >= kMeasureSteps) L.base_total = L.estimate().total() / level_;
}

void DraftCosts::seed(int32_t k, const StepCost & c, int32_t n) {
    Length & L = lengths_[k];
    L.recent.assign(n, Sample{c, true});
    L.n_samples = n;
    L.base_total = n >= kMeasureSteps ? c.total() : -1;
    L.level_at = 1.0;
    L.last_step = 0;
}

bool DraftCosts::measured(int32_t k) const {
    return k >= 0 && k < (int32_t) lengths_.size() && (lengths_[k].n_samples >= kMeasureSteps || lengths_[k].confirmed);
}

StepCost DraftCosts::own(int32_t k) const {
    const Length & L = lengths_[k];
    const StepCost c = L.estimate();
    const double scale = level_ / L.level_at;
    return {c.draft * scale, c.verify * scale, c.process * scale};
}

void DraftCosts::neighbours(int32_t k, int32_t min_samples, int32_t & lo, int32_t & hi) const {
    lo = hi = -1;
    for (int32_t j = k - 1; j >= 0 && lo < 0; --j) {
        if (lengths_[j].n_samples >= min_samples) lo = j;
    }
    for (int32_t j = k + 1; j < (int32_t) lengths_.size() && hi < 0; ++j) {
        if (lengths_[j].n_samples >= min_samples) hi = j;
    }
}

StepCost DraftCosts::at(int32_t k) const {
    if (k < 0 || k >= (int32_t) lengths_.size()) return {};
    if (lengths_[k].n_samples > 0) return own(k);
    int32_t lo, hi;
    neighbours(k, 1, lo, hi);
    if (lo < 0 && hi < 0) return {};
    // drafting: per drafted token, from the nearest drafting length known
    const int32_t per = lo > 0 ? lo : hi;
    const double draft = per > 0 ? own(per).draft / per * k : 0.0;
    if (lo >= 0 && hi >= 0) {  // the chord
        const StepCost a = own(lo), b = own(hi);
        const double f = double(k - lo) / double(hi - lo);
        return {draft, a.verify + f * (b.verify - a.verify), a.process + f * (b.process - a.process)};
    }
    const StepCost edge = own(lo >= 0 ? lo : hi);  // flat beyond the lengths known
    return {draft, edge.verify, edge.process};
}

bool DraftCosts::chord_confirms(int32_t k) const {
    int32_t lo, hi;
    neighbours(k, kMeasureSteps, lo, hi);
    if (lo < 0 || hi < 0 || lengths_[k].n_samples != 1) return false;
    const double f = double(k - lo) / double(hi - lo);
    const double a = own(lo).total(), b = own(hi).total();
    const double chord = a + f * (b - a), t = own(k).total();
    return std::fabs(t - chord) <= kChordAgrees * chord;
}

bool DraftCosts::chord_possible(int32_t k) const {
    int32_t lo, hi;
    neighbours(k, kMeasureSteps, lo, hi);
    return lo >= 0 && hi >= 0 && lengths_[k].n_samples == 0;
}

}  // namespace llama_mtp
