#include "thread_control.h"

#include <algorithm>
#include <cmath>

#include "errors.h"
#include "median.h"

namespace llama_mtp {

namespace {

constexpr int32_t kDownGapMax = 1024;
constexpr int32_t kUpGapFirst = 64;
constexpr int32_t kUpGapMax = 1024;
constexpr int32_t kUpWaitAfterGuess = 8;
constexpr int32_t kProbeExtraMax = 2;  // more steps a try may take to meet a shape the settled count has

double utilization(const ThreadObservation & o) {
    return o.wall > 0 ? o.cpu / (o.wall * (double) o.threads) : 1.0;
}

}  // namespace

ThreadController::ThreadController(int32_t n_max) : n_max_(n_max), current_(n_max) {
    if (n_max < 1) throw InvalidArgumentError("a thread controller needs n_max >= 1");
}

void ThreadController::start_at(int32_t n) {
    current_ = std::clamp(n, 1, n_max_);
    guessed_ = true;
    recent_.clear();
    starved_ = probe_left_ = 0;
    up_gap_ = kUpGapFirst;
    up_wait_ = kUpWaitAfterGuess;
}

double ThreadController::settled_cost(int64_t shape) const {
    std::vector<double> w;
    for (const auto & o : recent_) {
        if (o.shape == shape) w.push_back(o.wall);
    }
    return w.empty() ? -1 : median(w);
}

void ThreadController::start_probe(int32_t threads) {
    probe_threads_ = threads;
    probe_left_ = kProbeSteps;
    probe_extra_ = 0;
    probe_obs_.clear();
}

void ThreadController::finish_probe() {
    // each tried step against the settled count's steps of its shape
    std::vector<double> ratios;
    for (const auto & o : probe_obs_) {
        const double base = settled_cost(o.shape);
        if (base > 0) ratios.push_back(o.wall / base);
    }
    if (ratios.empty() && probe_extra_ < kProbeExtraMax) {  // no shape in common yet: one step more
        probe_extra_++;
        probe_left_ = 1;
        return;
    }
    const bool down = probe_threads_ < current_;
    probe_left_ = 0;
    if (!ratios.empty() && median(ratios) <= kGain) {
        current_ = probe_threads_;
        switches_++;
        starved_ = 0;
        recent_ = probe_obs_;
        down_gap_ = 4;
        down_wait_ = down_gap_;
        up_gap_ = kUpGapFirst;
        up_wait_ = up_gap_;
        return;
    }
    if (down) {
        down_gap_ = std::min(2 * down_gap_, kDownGapMax);
        down_wait_ = down_gap_;
    } else {
        up_gap_ = std::min(2 * up_gap_, kUpGapMax);
        up_wait_ = up_gap_;
    }
}

void ThreadController::observe(const ThreadObservation & o) {
    if (!(o.wall > 0) || !(o.cpu >= 0)) return;  // nothing measured
    if (probe_left_ > 0) {
        if (o.threads != probe_threads_ || o.shape < 0) return;
        probe_obs_.push_back(o);
        if (--probe_left_ == 0) finish_probe();
        return;
    }
    if (o.threads != current_) return;
    // starved: fewer CPUs used than threads run (a prefill counts too: it has no shape to compare)
    const double used = o.cpu / o.wall;
    if (utilization(o) < kStarved) {
        starved_used_[1] = starved_used_[0];
        starved_used_[0] = used;
        starved_ = std::min(starved_ + 1, 2);
    } else {
        starved_ = 0;
    }
    if (o.shape < 0) return;
    recent_.push_back(o);
    if ((int32_t) recent_.size() > kWindow) recent_.erase(recent_.begin());
    down_wait_ = std::max(0, down_wait_ - 1);
    up_wait_ = std::max(0, up_wait_ - 1);
    // two starved decodes in a row (one may be a first step building its graphs on one thread)
    if (current_ > 1 && down_wait_ == 0 && starved_ >= 2) {
        // as many threads as got a CPU (one fewer at least): n - 1 may share cores as badly as n
        const double got = 0.5 * (starved_used_[0] + starved_used_[1]);
        starved_ = 0;
        start_probe(std::clamp((int32_t) std::lround(got), 1, current_ - 1));
        return;
    }
    // more threads where CPUs sat idle (the load may have gone), or one more now and then where unknown
    // (after a guess, counters exist: until they have a value, no room is known)
    const bool room = o.idle_cpus >= 0.5 || (o.idle_cpus < 0 && !guessed_);
    if (current_ < n_max_ && up_wait_ == 0 && room) {
        const int32_t more = o.idle_cpus < 0 ? 1 : std::max(1, (int32_t) std::lround(o.idle_cpus));
        start_probe(std::min(n_max_, current_ + more));
    }
}

}  // namespace llama_mtp
