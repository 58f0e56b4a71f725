#pragma once
// What a step costs at each draft length, as the DraftController measures it: no clock, no
// llama.cpp. A length counts as measured after two steps played at it (the cheaper of the two
// while there are two: one stalled step is not a cost; the lower median of the last steady
// steps after that), or after one step that agrees with the chord of measured lengths on both
// sides. A length with no step costs the chord between the nearest lengths with one (a cost
// curve concave in the length, as on CPUs, never undercuts it), flat beyond the longest.
// One machine level scales every stored cost: each steady step of a measured length compares
// its cost with what that length cost when first measured, and when the median of the last
// ratios moves, the lengths not played lately move with it (a load that came or went shows in
// all of them, not only in the length being played).
#include <cstdint>
#include <vector>

namespace llama_mtp {

struct StepCost {
    double draft = 0, verify = 0, process = 0;  // seconds per sequence
    double total() const { return draft + verify + process; }
};

class DraftCosts {
public:
    static constexpr int32_t kMeasureSteps = 2;

    explicit DraftCosts(int32_t n_max) : lengths_(n_max + 1) {}

    // A step played at length k (the step-th of the controller); steady: the step before it
    // played the same length (no new graph shapes).
    void add(int32_t k, const StepCost & c, bool steady, int32_t step);
    // A cost known from elsewhere (a prior): n steps' worth (2: measured), at machine level 1.
    void seed(int32_t k, const StepCost & c, int32_t n);
    void forget(int32_t k) { lengths_[k] = Length{}; }
    void forget_recent(int32_t k) { lengths_[k].recent.clear(); }
    // k's one step agreed with the chord: it counts as measured.
    void confirm(int32_t k) { lengths_[k].confirmed = true; }

    bool measured(int32_t k) const;
    int32_t samples(int32_t k) const { return lengths_[k].n_samples; }
    int32_t last_step(int32_t k) const { return lengths_[k].last_step; }
    // length k's own cost (rescaled by the machine level since it was played); {} without a step
    StepCost own(int32_t k) const;
    // own() where k has a step, else the chord / the flat edge described above
    StepCost at(int32_t k) const;
    // k has one step, and it agrees with the chord of measured lengths on both sides
    bool chord_confirms(int32_t k) const;
    // k has no step, and measured lengths lie on both sides of it
    bool chord_possible(int32_t k) const;
    double level() const { return level_; }

private:
    struct Sample {
        StepCost cost;
        bool steady = false;
    };
    struct Length {
        std::vector<Sample> recent;  // the last few, oldest first
        int32_t n_samples = 0;
        double base_total = -1;  // seconds at level 1 when first measured; < 0: not yet
        double level_at = 1.0;   // the machine level when last sampled
        int32_t last_step = -1;
        bool confirmed = false;
        StepCost estimate() const;
    };
    // the nearest lengths below and above k with at least `min_samples` steps (-1: none)
    void neighbours(int32_t k, int32_t min_samples, int32_t & lo, int32_t & hi) const;

    std::vector<Length> lengths_;
    double level_ = 1.0;
    std::vector<double> level_ratios_;  // the last steady steps' cost / base, oldest first
};

}  // namespace llama_mtp
