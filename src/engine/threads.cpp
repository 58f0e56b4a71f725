#include "threads.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#if defined(_WIN32)
#include <windows.h>
#else
#include <time.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

#include "clock.h"
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

#if defined(__linux__)
double idle_seconds() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    std::ifstream in("/proc/stat");
    if (!in) return -1;
    const long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0) return -1;
    double idle = 0;
    bool any = false;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
        std::istringstream fields(line.substr(3));
        int cpu = -1;
        unsigned long long user = 0, nice = 0, system = 0, idle_t = 0, iowait = 0;
        if (!(fields >> cpu >> user >> nice >> system >> idle_t >> iowait)) continue;
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set)) continue;
        idle += (double) (idle_t + iowait);
        any = true;
    }
    return any ? idle / (double) ticks : -1;
}
#endif

}  // namespace

double process_cpu_seconds() {
#if defined(_WIN32)
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) return -1;
    auto seconds = [](const FILETIME & f) {
        return (double) (((unsigned long long) f.dwHighDateTime << 32) | f.dwLowDateTime) * 1e-7;
    };
    return seconds(kernel) + seconds(user);
#else
    timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return -1;
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
#endif
}

CpuSnapshot cpu_snapshot() {
    CpuSnapshot s;
    s.wall = now_s();
    s.cpu = process_cpu_seconds();
#if defined(__linux__)
    s.idle = idle_seconds();
#endif
    return s;
}

double free_cpus_between(const CpuSnapshot & before, const CpuSnapshot & after, double min_seconds) {
    const double dt = after.wall - before.wall;
    if (before.cpu < 0 || after.cpu < 0 || before.idle < 0 || after.idle < 0 || !(dt >= min_seconds) || dt <= 0) {
        return -1;
    }
    return std::max(0.0, (after.idle - before.idle + after.cpu - before.cpu) / dt);
}

namespace {
std::mutex g_guess_mu;
CpuSnapshot g_guess = cpu_snapshot();  // when the library was loaded
}  // namespace

CpuSnapshot exchange_guess_snapshot(const CpuSnapshot & now) {
    const std::lock_guard<std::mutex> lock(g_guess_mu);
    const CpuSnapshot before = g_guess;
    g_guess = now;
    return before;
}

double IdleCpuMeter::sample(double min_seconds) {
    if (last_.wall >= 0 && now_s() - last_.wall < min_seconds) return value_;
    const CpuSnapshot now = cpu_snapshot();
    if (now.idle < 0) {
        value_ = -1;
    } else if (last_.idle >= 0 && now.wall > last_.wall) {
        value_ = std::max(0.0, (now.idle - last_.idle) / (now.wall - last_.wall));
    }
    last_ = now;
    return value_;
}

int32_t default_threads() {
    const int32_t math = common_cpu_get_num_math();
    const int32_t available = cpus_available();
    return std::clamp(math > 0 ? std::min(math, available) : available, 1, kMaxThreads);
}

}  // namespace llama_mtp
