#pragma once
// The auto thread count: how many threads the next step decodes with, from 1 to a ceiling.
#include <cstdint>
#include <vector>

namespace llama_mtp {

// One step as the ThreadController sees it.
struct ThreadObservation {
    int32_t threads = 1;    // the count it ran with
    int64_t shape = 0;      // steps of one shape (draft length, sequences) cost the same at one count;
                            // < 0: a decode that compares with no other (a prefill): its CPU time only
    double wall = 0;        // its seconds
    double cpu = 0;         // CPU seconds of the whole process over it (every thread)
    double idle_cpus = -1;  // CPUs of this process's set that sat idle over a recent stretch; < 0: unknown
};

// Why it exists: ggml's CPU threads meet at a barrier after every operation of a decode, and
// OpenMP's barrier spins (~300,000 pause instructions) before it sleeps. When another process
// keeps a core busy, two of the threads share a core, and at each barrier one spins through the
// time slice of the thread it waits for: on a 2-core machine with one core busy a 2-thread
// decode ran 10-20x slower than a 1-thread one (benchmarks/README.md, "The busy machine").
//
// It decides from what it is told, never from a clock (tests feed it simulated machines):
// - at its count n > 1, two decodes in a row (steps or prefills) whose process CPU time stays well under n x their
//   wall time ran with threads that could not all run: it tries as many threads as got a CPU
//   (n - 1 at least) for two steps and keeps that count where steps of the same shape cost
//   clearly less; else it waits longer before the next try (4, 8, ... 1024 steps);
// - below the ceiling, where CPUs of its set sat idle (or, unknown, now and then: 64, 128, ...
//   1024 steps) it tries that many more the same way (the load may have gone).
// On an idle machine at the ceiling it never tries anything: it costs nothing there.
class ThreadController {
public:
    explicit ThreadController(int32_t n_max);

    // The thread count of the next step.
    int32_t next() const { return probe_left_ > 0 ? probe_threads_ : current_; }
    // The count it settled on (next() differs while it tries another).
    int32_t current() const { return current_; }
    bool probing() const { return probe_left_ > 0; }
    int32_t n_max() const { return n_max_; }
    // How many times it moved to another count.
    int64_t switches() const { return switches_; }
    void observe(const ThreadObservation & o);
    // Start from n threads instead of n_max (a guess of the CPUs free before the first decode),
    // trying more soon (8 steps) where CPUs then sit idle: a wrong guess costs a few steps. Its
    // caller measures idle CPUs: an unknown value then means "not yet", never room.
    void start_at(int32_t n);

    // CPU time per thread and wall second under which a step counts as starved
    static constexpr double kStarved = 0.75;
    // a tried count is kept where its steps cost at most this share of the settled count's
    static constexpr double kGain = 0.85;
    static constexpr int32_t kProbeSteps = 2;
    static constexpr int32_t kWindow = 8;

private:
    void start_probe(int32_t threads);
    void finish_probe();
    // median wall seconds of the settled count's recent steps of this shape; < 0: none
    double settled_cost(int64_t shape) const;

    int32_t n_max_;
    int32_t current_;
    std::vector<ThreadObservation> recent_;  // the settled count's last kWindow steps
    int32_t starved_ = 0;                    // starved decodes in a row at the settled count (at most 2 counted)
    double starved_used_[2] = {0, 0};        // CPUs the last two of them used, the latest first
    int32_t probe_threads_ = 0, probe_left_ = 0, probe_extra_ = 0;
    std::vector<ThreadObservation> probe_obs_;
    int32_t down_gap_ = 4, down_wait_ = 0;
    int32_t up_gap_ = 64, up_wait_ = 64;
    int64_t switches_ = 0;
    bool guessed_ = false;  // started from start_at(): its caller reads idle CPUs (unknown: not yet)
};

}  // namespace llama_mtp
