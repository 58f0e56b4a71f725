#pragma once
// Ctrl-C during one long native call (a big prefill): while a call is watched, SIGINT sets a
// flag that llama.cpp's abort callback reads, so the decode stops within one graph node; the
// signal is then handed back to Python, whose handler raises KeyboardInterrupt as usual.
// Only the main thread receives SIGINT in Python, so only calls made there are watched.
#include <type_traits>

namespace llama_mtp {

// The abort callback every context is created with (llama_set_abort_callback).
bool interrupt_requested(void * unused);

// Records the main thread; called once at module import.
void init_interrupts();

class InterruptWatch {
public:
    InterruptWatch();  // with the GIL held
    ~InterruptWatch();
    InterruptWatch(const InterruptWatch &) = delete;
    InterruptWatch & operator=(const InterruptWatch &) = delete;
    // With the GIL held: stop watching; if SIGINT came, deliver it to Python and throw
    // nanobind::python_error when its handler raised (KeyboardInterrupt).
    void deliver();

private:
    bool active_ = false;
};

// Runs f (which releases the GIL itself) under an InterruptWatch: a Ctrl-C while it runs
// raises KeyboardInterrupt from here, in place of the DecodeAbortedError it caused.
template <typename F>
auto with_interrupts(F && f) -> decltype(f()) {
    InterruptWatch watch;
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            watch.deliver();
        } else {
            auto r = f();
            watch.deliver();
            return r;
        }
    } catch (...) {
        watch.deliver();
        throw;
    }
}

}  // namespace llama_mtp
