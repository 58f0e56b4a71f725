#pragma once
// What the engine asks of whoever embeds it, around long native work: to let other threads of
// the caller run while it waits or computes (Python: release the GIL), and whether the caller
// wants the work stopped (Python: Ctrl-C). The binding layer installs both once at import; a
// C++ program that installs nothing gets no-ops (nothing to release, never interrupted).
#include <type_traits>

namespace llama_mtp {

struct EmbedderHooks {
    // Let the caller's other threads run; returns a token for reacquire (null: nothing released).
    void * (*release)() = nullptr;
    void (*reacquire)(void * token) = nullptr;
    // Start watching for an interrupt (returns a token for end_watch); whether one came since
    // (polled by llama.cpp's abort callback, from any thread); stop watching: with deliver,
    // hand what came to the caller (the Python hook raises KeyboardInterrupt: it may throw).
    void * (*begin_watch)() = nullptr;
    bool (*interrupted)() = nullptr;
    void (*end_watch)(void * token, bool deliver) = nullptr;
};

void set_embedder_hooks(const EmbedderHooks & hooks);

// The caller's other threads run for the lifetime of this object.
class Unblocked {
public:
    Unblocked();
    ~Unblocked();
    Unblocked(const Unblocked &) = delete;
    Unblocked & operator=(const Unblocked &) = delete;

private:
    void * token_;
};

// The abort callback every context is created with (llama_set_abort_callback).
bool interrupt_requested(void * unused);

class InterruptWatch {
public:
    InterruptWatch();
    ~InterruptWatch();  // stops watching without delivering
    InterruptWatch(const InterruptWatch &) = delete;
    InterruptWatch & operator=(const InterruptWatch &) = delete;
    // Stop watching and hand an interrupt that came to the caller (may throw the caller's error).
    void deliver();

private:
    void * token_;
    bool active_ = true;
};

// Runs f (which lets the caller's threads run itself) under an InterruptWatch: an interrupt
// while it runs is delivered from here, in place of the DecodeAbortedError it caused.
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
