#pragma once
// Wall-clock timing of the engine's phases (prompt, steps, draft/process/accept).
#include <chrono>

namespace llama_mtp {

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Adds the seconds of its lifetime to `acc`.
struct ScopedTimer {
    double & acc;
    double t0 = now_s();
    explicit ScopedTimer(double & a) : acc(a) {}
    ~ScopedTimer() { acc += now_s() - t0; }
    ScopedTimer(const ScopedTimer &) = delete;
    ScopedTimer & operator=(const ScopedTimer &) = delete;
};

}  // namespace llama_mtp
