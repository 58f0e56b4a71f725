#include "draft_length.h"

#include <cmath>
#include <string>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "draft_control.h"
#include "errors.h"
#include "int_arg.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// Per-sequence counts: one int, or a sequence / integer array of them (one per sequence).
std::vector<int32_t> counts(nb::handle value, const char * name) {
    // an int or a numpy integer scalar (arrays have __index__ too, but are sequences)
    if (PyLong_Check(value.ptr()) || (PyIndex_Check(value.ptr()) && !PySequence_Check(value.ptr()))) {
        return {nb::cast<IntArg>(value).i32(name, 0, INT32_MAX)};
    }
    std::vector<int32_t> out = token_list(value, -1, name);
    if (out.empty() || out.size() > 65536) {
        throw with_attributes(InvalidArgumentError(std::string(name) + " must hold 1 to 65536 values"),
                              {{"parameter", std::string(name)}});
    }
    return out;
}

double seconds(double value, const char * name) {
    if (!std::isfinite(value) || value < 0) {
        throw with_attributes(InvalidArgumentError(std::string(name) + " must be a finite number of seconds >= 0"),
                              {{"parameter", std::string(name)}});
    }
    return value;
}

template <typename F>
OwnedArray<double> per_length(const DraftController & c, int32_t first, F && f) {
    std::vector<double> v;
    for (int32_t k = first; k <= c.n_max(); ++k) v.push_back(f(k));
    return owned_array(v.data(), v.size());
}

std::vector<double> numbers(nb::handle state, const char * key, size_t max_size) {
    nb::object value = nb::borrow<nb::dict>(state).get(key, nb::none());
    std::vector<double> out;
    if (!nb::try_cast(value, out) || out.size() > max_size) {
        throw with_attributes(InvalidArgumentError(std::string("state[\"") + key + "\"] must be a list of at most " +
                                                   std::to_string(max_size) + " numbers"),
                              {{"parameter", std::string(key)}});
    }
    for (double x : out) {
        if (!std::isfinite(x)) {
            throw with_attributes(InvalidArgumentError(std::string("state[\"") + key + "\"] holds a non-finite number"),
                                  {{"parameter", std::string(key)}});
        }
    }
    return out;
}

}  // namespace

nb::dict prior_to_dict(const DraftPrior & p) {
    nb::dict d;
    d["acceptance_hits"] = nb::cast(p.acc_hits);
    d["acceptance_trials"] = nb::cast(p.acc_trials);
    d["verify_seconds"] = nb::cast(p.verify);
    d["process_seconds"] = nb::cast(p.process);
    d["cost_samples"] = nb::cast(p.samples);
    d["draft_seconds_per_token"] = p.draft_per_token;
    d["probe_gap"] = p.probe_gap;
    return d;
}

DraftPrior prior_from_dict(nb::handle state) {
    if (!nb::isinstance<nb::dict>(state)) {
        throw nb::type_error("state must be a dict, as DraftController.state() returns");
    }
    DraftPrior p;
    p.acc_hits = numbers(state, "acceptance_hits", 64);
    p.acc_trials = numbers(state, "acceptance_trials", 64);
    p.verify = numbers(state, "verify_seconds", 65);
    p.process = numbers(state, "process_seconds", 65);
    const nb::dict d = nb::borrow<nb::dict>(state);
    if (d.contains("cost_samples")) {
        for (double n : numbers(state, "cost_samples", 65)) {
            if (n < 0 || n > 2 || n != std::floor(n)) {
                throw with_attributes(InvalidArgumentError("state[\"cost_samples\"] holds counts of 0, 1 or 2"),
                                      {{"parameter", std::string("cost_samples")}});
            }
            p.samples.push_back((int32_t) n);
        }
    }
    double draft = -1;
    if (d.contains("draft_seconds_per_token") && !nb::try_cast(d["draft_seconds_per_token"], draft)) {
        throw with_attributes(InvalidArgumentError("state[\"draft_seconds_per_token\"] must be a number"),
                              {{"parameter", std::string("draft_seconds_per_token")}});
    }
    p.draft_per_token = std::isfinite(draft) ? draft : -1;
    int64_t gap = 0;
    if (d.contains("probe_gap") && (!nb::try_cast(d["probe_gap"], gap) || gap < 0 || gap > INT32_MAX)) {
        throw with_attributes(InvalidArgumentError("state[\"probe_gap\"] must be an int >= 0"),
                              {{"parameter", std::string("probe_gap")}});
    }
    p.probe_gap = (int32_t) gap;
    return p;
}

void bind_draft_length(nb::module_ & m) {
    nb::class_<DraftController>(
        m, "DraftController",
        "The adaptive draft length (n_draft_max=\"auto\"): picks k for each step, 0 meaning plain "
        "decoding, to maximise expected tokens per second. It learns P(draft token i accepted | "
        "the ones before were) and the seconds of drafting, verifying and processing for each k; "
        "it keeps probing the lengths beside its choice (and drafting, while plain decoding is "
        "best) so that it follows changes of load or text. Feed it every step with observe(), ask "
        "next() for the length of the next one.")
        .def(
            "__init__",
            [](DraftController * self, IntArg n_max, bool plain_skips_process) {
                new (self) DraftController(n_max.i32("n_max", 1, 64), plain_skips_process);
            },
            nb::arg("n_max") = 6, nb::kw_only(), nb::arg("plain_skips_process") = false,
            "n_max: the longest draft it may choose. plain_skips_process: True when a step with "
            "k = 0 costs the verify alone because the loop then skips process() (llama_mtp's own "
            "loop does, and restarts the draft context when drafting resumes).")
        .def("next", &DraftController::next, "The draft length for the next step (0..n_max).", nb::lock_self())
        .def_prop_ro("probe_follows", &DraftController::probe_follows,
                     "Whether the step after next() probes drafting from plain decoding: a loop that skips\n"
                     "the draft context while plain keeps the target's hidden state from next()'s step for it.",
                     nb::for_getter(nb::lock_self()))
        .def_prop_ro("exploring", &DraftController::exploring,
                     "Whether next() is a probe rather than the best estimate (a probe of k = 0 "
                     "should still call process(): drafting goes on after it).",
                     nb::for_getter(nb::lock_self()))
        .def(
            "observe",
            [](DraftController & c, IntArg k, nb::handle drafted_in, nb::handle accepted_in, double t_draft,
               double t_verify, double t_process) {
                DraftObservation o;
                o.k = k.i32("k", 0, c.n_max());
                o.drafted = counts(drafted_in, "drafted");
                o.accepted = counts(accepted_in, "accepted");
                if (o.drafted.size() != o.accepted.size()) {
                    throw InvalidArgumentError("drafted and accepted must have one value per sequence each (" +
                                               std::to_string(o.drafted.size()) + " and " +
                                               std::to_string(o.accepted.size()) + " given)");
                }
                for (size_t s = 0; s < o.drafted.size(); ++s) {
                    if (o.drafted[s] < 0 || o.accepted[s] < 0) {
                        throw InvalidArgumentError("drafted and accepted count tokens: they must be >= 0");
                    }
                    if (o.drafted[s] > o.k) {
                        throw with_attributes(InvalidArgumentError("drafted " + std::to_string(o.drafted[s]) +
                                                                   " tokens, more than k = " + std::to_string(o.k)),
                                              {{"parameter", std::string("drafted")}, {"maximum", (int64_t) o.k}});
                    }
                    if (o.accepted[s] > o.drafted[s]) {
                        throw with_attributes(
                            InvalidArgumentError("accepted " + std::to_string(o.accepted[s]) + " of " +
                                                 std::to_string(o.drafted[s]) + " drafted tokens"),
                            {{"parameter", std::string("accepted")}, {"maximum", (int64_t) o.drafted[s]}});
                    }
                }
                o.t_draft = seconds(t_draft, "t_draft");
                o.t_verify = seconds(t_verify, "t_verify");
                o.t_process = seconds(t_process, "t_process");
                c.observe(o);
            },
            nb::arg("k"), nb::arg("drafted"), nb::arg("accepted"), nb::kw_only(), nb::arg("t_draft"),
            nb::arg("t_verify"), nb::arg("t_process") = 0.0,
            nb::sig("def observe(self, k: int, drafted: int | collections.abc.Sequence[int] | numpy.ndarray, "
                    "accepted: int | collections.abc.Sequence[int] | numpy.ndarray, *, t_draft: float, "
                    "t_verify: float, t_process: float = 0.0) -> None"),
            "Record one step: the length asked for, the tokens drafted and accepted (an int, or "
            "one per sequence in the step), and the step's seconds spent drafting, in the target "
            "decode of the verify batch (with sampling), and in process().",
            nb::lock_self())
        .def(
            "state", [](const DraftController & c) { return prior_to_dict(c.prior()); },
            nb::sig("def state(self) -> dict[str, typing.Any]"),
            "What it has learned, as plain values (JSON-ready): acceptance counts per position, "
            "seconds per length, the probe gap. start_from() takes it back.",
            nb::lock_self())
        .def(
            "start_from", [](DraftController & c, nb::handle state) { c.start_from(prior_from_dict(state)); },
            nb::arg("state"), nb::sig("def start_from(self, state: dict[str, typing.Any]) -> None"),
            "Start from another controller's state(): its counts and costs with a small weight "
            "(new steps soon outweigh them), no warm-up; the next length is the best by them.",
            nb::lock_self())
        .def_prop_ro("n_max", &DraftController::n_max, "The longest draft it may choose.",
                     nb::for_getter(nb::lock_self()))
        .def_prop_ro("best", &DraftController::best,
                     "The measured length with the highest expected speed now (lengths never measured are\n"
                     "not chosen on a guess).",
                     nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "measured",
            [](const DraftController & c) {
                std::vector<uint8_t> v;
                for (int32_t k = 0; k <= c.n_max(); ++k) v.push_back(c.measured(k) ? 1 : 0);
                return owned_array(v.data(), v.size());
            },
            nb::rv_policy::move, nb::sig("def measured(self) -> numpy.ndarray[dtype=uint8]"),
            "[k]: 1 where length k's cost was measured (two steps, or one that agreed with the measured\n"
            "lengths on both sides).",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro("machine_level", &DraftController::machine_level,
                     "How much slower the machine is now than when the costs were first measured (1: the same);\n"
                     "the costs of the lengths not played lately are scaled by it.",
                     nb::for_getter(nb::lock_self()))
        .def_prop_ro("n_steps", &DraftController::n_steps, "Steps observed.", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "history", [](const DraftController & c) { return owned_array(c.history().data(), c.history().size()); },
            nb::rv_policy::move, nb::sig("def history(self) -> numpy.ndarray[dtype=int32]"),
            "The length asked for at each observed step (int32 array).", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "acceptance",
            [](const DraftController & c) { return per_length(c, 1, [&](int32_t i) { return c.acceptance(i); }); },
            nb::rv_policy::move, nb::sig("def acceptance(self) -> numpy.ndarray[dtype=float64]"),
            "[i-1]: estimated P(draft token i accepted | tokens before it were), i = 1..n_max.",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "expected_tokens",
            [](const DraftController & c) { return per_length(c, 0, [&](int32_t k) { return c.expected_tokens(k); }); },
            nb::rv_policy::move, nb::sig("def expected_tokens(self) -> numpy.ndarray[dtype=float64]"),
            "[k]: expected tokens per sequence and step when drafting k.", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "step_seconds",
            [](const DraftController & c) { return per_length(c, 0, [&](int32_t k) { return c.step_seconds(k); }); },
            nb::rv_policy::move, nb::sig("def step_seconds(self) -> numpy.ndarray[dtype=float64]"),
            "[k]: estimated seconds per sequence and step when drafting k (0 while unknown).",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "expected_speed",
            [](const DraftController & c) { return per_length(c, 0, [&](int32_t k) { return c.expected_speed(k); }); },
            nb::rv_policy::move, nb::sig("def expected_speed(self) -> numpy.ndarray[dtype=float64]"),
            "[k]: expected tokens per second and sequence when drafting k (0 while unknown).",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "optimistic_speed",
            [](const DraftController & c) {
                return per_length(c, 0, [&](int32_t k) { return c.optimistic_speed(k); });
            },
            nb::rv_policy::move, nb::sig("def optimistic_speed(self) -> numpy.ndarray[dtype=float64]"),
            "[k]: the speed drafting k may plausibly reach (acceptance one standard error up, cost down by\n"
            "the doubt of a length rarely or not lately timed); a probe plays a length only where this\n"
            "beats the best expected_speed.",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "plausible_speed",
            [](const DraftController & c) { return per_length(c, 0, [&](int32_t k) { return c.plausible_speed(k); }); },
            nb::rv_policy::move, nb::sig("def plausible_speed(self) -> numpy.ndarray[dtype=float64]"),
            "[k]: optimistic_speed with the acceptance optimism alone (the costs as estimated): whether a\n"
            "change of text may make k pay.",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "predicted_speed",
            [](const DraftController & c) {
                return c.expected_seconds_total > 0 ? c.expected_tokens_total / c.expected_seconds_total : 0.0;
            },
            "Tokens per second and sequence the model predicted for the lengths it chose.",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "measured_speed",
            [](const DraftController & c) { return c.seq_seconds > 0 ? c.tokens / c.seq_seconds : 0.0; },
            "Tokens per second and sequence measured over the observed steps.", nb::for_getter(nb::lock_self()))
        .def_ro("t_draft", &DraftController::t_draft, "Seconds spent drafting, all observed steps.",
                nb::for_getter(nb::lock_self()))
        .def_ro("t_verify", &DraftController::t_verify, "Seconds spent verifying, all observed steps.",
                nb::for_getter(nb::lock_self()))
        .def_ro("t_process", &DraftController::t_process, "Seconds spent in process(), all observed steps.",
                nb::for_getter(nb::lock_self()))
        .def(
            "__repr__",
            [](const DraftController & c) {
                return "DraftController(n_max=" + std::to_string(c.n_max()) + ", steps=" + std::to_string(c.n_steps()) +
                       ", next=" + std::to_string(c.next()) + ", best=" + std::to_string(c.best()) + ")";
            },
            nb::lock_self());
}

}  // namespace llama_mtp
