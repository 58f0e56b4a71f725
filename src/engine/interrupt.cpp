#include "interrupt.h"

#include <atomic>
#include <csignal>

#include <nanobind/nanobind.h>

#ifndef _WIN32
#include <signal.h>
#endif

namespace nb = nanobind;

namespace llama_mtp {

namespace {

unsigned long g_main_thread = 0;
volatile std::sig_atomic_t g_sigint = 0;
thread_local int t_depth = 0;  // nested watches on this thread (only the outermost installs)
#ifndef _WIN32
struct sigaction g_previous;
#endif

extern "C" void on_sigint(int) {
    g_sigint = 1;
}

}  // namespace

void init_interrupts() {
    g_main_thread = PyThread_get_thread_ident();
}

// Only the watching (main) thread ever sees the flag: a decode in another thread runs on.
bool interrupt_requested(void *) {
    return t_depth > 0 && g_sigint != 0;
}

InterruptWatch::InterruptWatch() {
#ifndef _WIN32
    if (PyThread_get_thread_ident() != g_main_thread) {
        return;
    }
    if (t_depth > 0) {  // nested: the outer watch installed the handler
        ++t_depth;
        active_ = true;
        return;
    }
    struct sigaction current;
    sigaction(SIGINT, nullptr, &current);
    // Python's handler is installed unless the program chose SIG_IGN or SIG_DFL: keep those
    if (current.sa_handler == SIG_IGN || current.sa_handler == SIG_DFL) {
        return;
    }
    g_sigint = 0;
    struct sigaction ours{};
    ours.sa_handler = on_sigint;
    sigemptyset(&ours.sa_mask);
    sigaction(SIGINT, &ours, &g_previous);
    t_depth = 1;
    active_ = true;
#endif
}

InterruptWatch::~InterruptWatch() {
    if (active_) {
        // an exception path that did not deliver: put Python's handler back at least
        active_ = false;
        if (--t_depth == 0) {
#ifndef _WIN32
            sigaction(SIGINT, &g_previous, nullptr);
#endif
            if (g_sigint) {
                g_sigint = 0;
                PyErr_SetInterruptEx(SIGINT);  // Python raises it at its next check
            }
        }
    }
}

void InterruptWatch::deliver() {
    if (!active_) {
        return;
    }
    active_ = false;
    if (--t_depth > 0) {
        return;  // the outer watch delivers
    }
#ifndef _WIN32
    sigaction(SIGINT, &g_previous, nullptr);
#endif
    if (g_sigint) {
        g_sigint = 0;
        PyErr_SetInterruptEx(SIGINT);
        if (PyErr_CheckSignals() != 0) {
            throw nb::python_error();
        }
    }
}

}  // namespace llama_mtp
