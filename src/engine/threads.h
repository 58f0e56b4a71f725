#pragma once
#include <cstdint>

#include "ggml.h"

namespace llama_mtp {

// ggml's own ceiling: a larger count makes the next decode spawn threads without bound.
constexpr int32_t kMaxThreads = GGML_MAX_N_THREADS;

// The thread count upstream's tools pick (one per physical core, common_cpu_get_num_math),
// never more than the CPUs this process may run on (affinity, cgroup cpusets).
int32_t default_threads();

}  // namespace llama_mtp
