#pragma once
#include <cstdint>

#include "ggml.h"

namespace llama_mtp {

// ggml's own ceiling: a larger count makes the next decode spawn threads without bound.
constexpr int32_t kMaxThreads = GGML_MAX_N_THREADS;

// The thread count upstream's tools pick (one per physical core, common_cpu_get_num_math),
// never more than the CPUs this process may run on (affinity, cgroup cpusets).
int32_t default_threads();

// CPU seconds of this process so far, every thread together; < 0 where the platform has no clock for it.
double process_cpu_seconds();

// What the CPUs of this process's set did up to a moment: a steady clock's seconds, this
// process's CPU seconds, the set's idle (and I/O wait) seconds (Linux: /proc/stat); < 0: unknown.
struct CpuSnapshot {
    double wall = -1, cpu = -1, idle = -1;
};
CpuSnapshot cpu_snapshot();
// The CPUs this process could have had between two snapshots: those that sat idle and those it
// used itself; < 0 where unknown or the stretch is shorter than min_seconds.
double free_cpus_between(const CpuSnapshot & before, const CpuSnapshot & after, double min_seconds);
// The process-wide snapshot of the last guess (at first: when this library was loaded), replaced by `now`.
CpuSnapshot exchange_guess_snapshot(const CpuSnapshot & now);

// How many CPUs of this process's set sat idle, from the kernel's counters (Linux: /proc/stat;
// elsewhere unknown). Counters tick 100 times a second, so a value needs a stretch of time.
class IdleCpuMeter {
public:
    // The idle CPUs averaged since the last value, once at least min_seconds passed since it;
    // until then the last value; < 0: unknown.
    double sample(double min_seconds);

private:
    CpuSnapshot last_;
    double value_ = -1;
};

}  // namespace llama_mtp
