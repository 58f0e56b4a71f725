#pragma once
#include <cstdint>

#include "ggml.h"
#include "int_arg.h"

namespace llama_mtp {

// ggml's own ceiling: a larger count makes the next decode spawn threads without bound.
constexpr int32_t kMaxThreads = GGML_MAX_N_THREADS;

// The thread count upstream's tools pick (one per physical core, common_cpu_get_num_math),
// never more than the CPUs this process may run on (affinity, cgroup cpusets).
int32_t default_threads();

// n, if 1 <= n <= kMaxThreads; otherwise InvalidArgumentError naming `what`.
int32_t thread_count(const IntArg & n, const char * what);

}  // namespace llama_mtp
