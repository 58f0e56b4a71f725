// The Generator's auto thread count: a ThreadController picks each step's count (1 to the
// contexts' count when turned on) from what the steps before cost; see thread_control.h.
#include <algorithm>
#include <cmath>
#include <vector>

#include "clock.h"
#include "generator.h"
#include "hooks.h"

namespace llama_mtp {

namespace {
// /proc/stat ticks 100 times a second: idle CPUs are read over stretches of at least this long
constexpr double kIdleSampleSeconds = 0.25;
constexpr double kGuessSeconds = 0.05;  // the shortest window a first guess is read over
}  // namespace

void Generator::adapt_threads(bool on) {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    if (on == (threads_ctl_ != nullptr)) return;
    if (on) {
        const int32_t ceiling = (int32_t) tgt_->params().n_threads;
        threads_ctl_ = std::make_unique<ThreadController>(ceiling);
        threads_now_ = ceiling;
        thread_steps_.assign((size_t) ceiling + 1, 0);
        guessed_ = false;
    } else {
        set_threads(threads_ctl_->n_max());
        threads_ctl_.reset();
    }
}

bool Generator::adapting_threads() const {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    return threads_ctl_ != nullptr;
}

int32_t Generator::threads() const {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    return threads_ctl_ ? threads_ctl_->next() : (int32_t) tgt_->params().n_threads;
}

std::vector<int64_t> Generator::thread_steps() const {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    return thread_steps_;
}

void Generator::guess_threads() {
    // the CPUs this process could have had since the last guess in it (or since the library was
    // loaded): those that sat idle and those it used itself (loading, creating contexts, the last
    // generation). A busy machine shows so before any decode runs starved; a stretch too short
    // for /proc/stat's 100 ticks a second tells nothing.
    guessed_ = true;
    const CpuSnapshot now = cpu_snapshot();
    const double free_cpus = free_cpus_between(exchange_guess_snapshot(now), now, kGuessSeconds);
    if (free_cpus >= 0 && free_cpus < (double) threads_ctl_->n_max() - 0.5) {
        threads_ctl_->start_at((int32_t) std::lround(free_cpus));
    }
}

void Generator::use_threads() {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    if (!threads_ctl_) return;
    if (!guessed_) guess_threads();
    threads_trial_ = threads_ctl_->probing();
    set_threads(threads_ctl_->next());
}

void Generator::set_threads(int32_t n) {
    if (n == threads_now_ || n < 1) return;
    // both contexts: a draft step is a decode too (each call takes the context's own lock, which
    // is taken without the embedder's interpreter lock everywhere)
    const Unblocked unblocked;
    tgt_->set_n_threads(n, n);
    if (draft_) draft_->set_n_threads(n, n);
    threads_now_ = n;
}

void Generator::observe_threads(int64_t shape, double wall, double cpu) {
    const std::lock_guard<std::mutex> guard(threads_mu_);
    if (!threads_ctl_) return;
    // prefills are starvation evidence only, not steps
    if (shape != kShapePrefill && (size_t) threads_now_ < thread_steps_.size()) thread_steps_[(size_t) threads_now_]++;
    if (cpu < 0) return;
    ThreadObservation o;
    o.threads = threads_now_;
    o.shape = shape;
    o.wall = wall;
    o.cpu = cpu;
    o.idle_cpus = idle_meter_.sample(kIdleSampleSeconds);
    threads_ctl_->observe(o);
}

}  // namespace llama_mtp
