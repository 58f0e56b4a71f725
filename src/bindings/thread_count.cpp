#include "thread_count.h"

#include <cmath>
#include <string>

#include "errors.h"
#include "int_arg.h"
#include "thread_control.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

double finite(double value, const char * name) {
    if (!std::isfinite(value)) {
        throw with_attributes(InvalidArgumentError(std::string(name) + " must be a finite number"),
                              {{"parameter", std::string(name)}});
    }
    return value;
}

}  // namespace

void bind_thread_count(nb::module_ & m) {
    nb::class_<ThreadController>(
        m, "ThreadController",
        "The auto thread count (n_threads=None): how many threads each step decodes with, from 1 to "
        "n_max. Where steps' process CPU time stays well under threads x wall time (another process "
        "keeps cores busy), it tries one thread fewer and keeps it where steps of the same shape cost "
        "clearly less; below n_max it tries one more where CPUs sat idle. Feed it every step with "
        "observe(), ask next() for the count of the next one.")
        .def(
            "__init__",
            [](ThreadController * self, IntArg n_max) { new (self) ThreadController(n_max.i32("n_max", 1, 512)); },
            nb::arg("n_max"), "n_max: the most threads it may choose (the count it starts with).")
        .def("next", &ThreadController::next, "The thread count of the next step.", nb::lock_self())
        .def_prop_ro("current", &ThreadController::current,
                     "The count it settled on (next() differs while it tries another).", nb::lock_self())
        .def_prop_ro("probing", &ThreadController::probing, "Whether the next step tries another count.",
                     nb::lock_self())
        .def_prop_ro("switches", &ThreadController::switches, "How many times it moved to another count.",
                     nb::lock_self())
        .def(
            "start_at", [](ThreadController & c, IntArg n) { c.start_at(n.i32("n", 1, 512)); }, nb::arg("n"),
            nb::lock_self(),
            "Start from n threads (clamped to 1..n_max) instead of n_max, trying more after 8 steps where CPUs "
            "then sit idle.")
        .def(
            "observe",
            [](ThreadController & c, IntArg threads, int64_t shape, double wall, double cpu, double idle_cpus) {
                ThreadObservation o;
                o.threads = threads.i32("threads", 1, 512);
                o.shape = shape;
                o.wall = finite(wall, "wall");
                o.cpu = finite(cpu, "cpu");
                o.idle_cpus = finite(idle_cpus, "idle_cpus");
                c.observe(o);
            },
            nb::arg("threads"), nb::arg("shape"), nb::arg("wall"), nb::arg("cpu"), nb::kw_only(),
            nb::arg("idle_cpus") = -1.0, nb::lock_self(),
            "One step: the thread count it ran with, its shape (steps of one shape cost the same at one "
            "count), its wall seconds, the process's CPU seconds over it, and the CPUs that sat idle "
            "(negative: unknown).");
}

}  // namespace llama_mtp
