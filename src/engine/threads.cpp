#include "threads.h"

#include <algorithm>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "common.h"

namespace llama_mtp {

namespace {

int32_t cpus_available() {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : (int32_t) n;
}

}  // namespace

int32_t default_threads() {
    const int32_t math = common_cpu_get_num_math();
    const int32_t available = cpus_available();
    return std::clamp(math > 0 ? std::min(math, available) : available, 1, kMaxThreads);
}

}  // namespace llama_mtp
