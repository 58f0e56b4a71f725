// What the engine asks of its embedder (engine/hooks.h), for Python: the GIL released around
// long native work, and Ctrl-C during one long native call (a big prefill): while a call is
// watched, SIGINT sets a flag that llama.cpp's abort callback reads, so the decode stops
// within one graph node; the signal is then handed back to Python, whose handler raises
// KeyboardInterrupt as usual. Only the main thread receives SIGINT in Python, so only calls
// made there are watched.
#include "python_hooks.h"

#include <csignal>

#include <nanobind/nanobind.h>

#ifndef _WIN32
#include <signal.h>
#endif

#include "hooks.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

unsigned long g_main_thread = 0;
volatile std::sig_atomic_t g_sigint = 0;
thread_local int t_depth = 0;  // nested watches on this thread (only the outermost installs)
#ifndef _WIN32
struct sigaction g_previous;
#endif
void * const kWatching = reinterpret_cast<void *>(1);

extern "C" void on_sigint(int) {
    g_sigint = 1;
}

void * release_gil() {
    // a call may arrive without the GIL (a lock taken on a thread that released it already)
    return PyGILState_Check() ? PyEval_SaveThread() : nullptr;
}

void reacquire_gil(void * token) {
    PyEval_RestoreThread(static_cast<PyThreadState *>(token));
}

// With the GIL held.
void * begin_watch() {
#ifndef _WIN32
    if (PyThread_get_thread_ident() != g_main_thread) {
        return nullptr;
    }
    if (t_depth > 0) {  // nested: the outer watch installed the handler
        ++t_depth;
        return kWatching;
    }
    struct sigaction current;
    sigaction(SIGINT, nullptr, &current);
    // Python's handler is installed unless the program chose SIG_IGN or SIG_DFL: keep those
    if (current.sa_handler == SIG_IGN || current.sa_handler == SIG_DFL) {
        return nullptr;
    }
    g_sigint = 0;
    struct sigaction ours{};
    ours.sa_handler = on_sigint;
    sigemptyset(&ours.sa_mask);
    sigaction(SIGINT, &ours, &g_previous);
    t_depth = 1;
    // A Ctrl-C that came just before (it tripped Python's handler, not ours: without a GIL
    // nothing holds it back until the decode runs) stops the call before it starts.
    if (PyErr_CheckSignals() != 0) {
        sigaction(SIGINT, &g_previous, nullptr);
        t_depth = 0;
        throw nb::python_error();
    }
    return kWatching;
#else
    return nullptr;
#endif
}

// Only the watching (main) thread ever sees the flag: a decode in another thread runs on.
bool interrupted() {
    return t_depth > 0 && g_sigint != 0;
}

// With the GIL held. deliver: raise KeyboardInterrupt here when Python's handler does;
// otherwise (an exception is on its way) Python raises it at its next check.
void end_watch(void * token, bool deliver) {
    if (token != kWatching || --t_depth > 0) {
        return;  // not watching, or the outer watch delivers
    }
#ifndef _WIN32
    sigaction(SIGINT, &g_previous, nullptr);
#endif
    if (g_sigint) {
        g_sigint = 0;
        PyErr_SetInterruptEx(SIGINT);
        if (deliver && PyErr_CheckSignals() != 0) {
            throw nb::python_error();
        }
    }
}

}  // namespace

void install_python_hooks() {
    g_main_thread = PyThread_get_thread_ident();
    EmbedderHooks hooks;
    hooks.release = release_gil;
    hooks.reacquire = reacquire_gil;
    hooks.begin_watch = begin_watch;
    hooks.interrupted = interrupted;
    hooks.end_watch = end_watch;
    set_embedder_hooks(hooks);
}

}  // namespace llama_mtp
