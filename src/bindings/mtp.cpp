#include "mtp.h"

#include <string>

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bind.h"
#include "common.h"
#include "int_arg.h"
#include "mtp_stats.h"
#include "python_errors.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

TokenArray to_array(const std::vector<int32_t> & v) {
    return owned_token_array(v.data(), v.size());
}

// A config field: an int32, or InvalidConfigError (the same class validate() raises).
int32_t config_int(const IntArg & v, const char * name) {
    try {
        return v.i32(name);
    } catch (const InvalidArgumentError & e) {
        InvalidConfigError config_error(e.what());
        config_error.attributes = e.attributes;
        throw config_error;
    }
}

int64_t seq_arg(const IntArg & v) {
    return v.in("seq_id", INT32_MIN, INT32_MAX);
}

void decode_target(MtpSession & s, const Batch & batch, bool exact) {
    try {
        s.target().decode(batch, exact);
    } catch (const DecodeError & e) {
        TargetDecodeError error(e.what());
        error.attributes = e.attributes;  // code included
        throw error;
    }
}

// memory_seq_rm of one of the session's contexts, through the Context's own checks
bool clear_seq(const std::shared_ptr<Context> & ctx, nb::handle seq_id, nb::handle p0, nb::handle p1) {
    auto open_end = [](nb::handle p) { return p.is_none() ? nb::int_(-1) : nb::borrow<nb::object>(p); };
    return nb::cast<bool>(nb::cast(ctx).attr("memory_seq_rm")(seq_id, open_end(p0), open_end(p1)));
}

// get_state/set_state (also as speculative_state/restore_speculative_state)
nb::bytes state_bytes(MtpSession & s, IntArg seq) {
    const std::vector<uint8_t> v = s.get_state(seq_arg(seq));
    return nb::bytes((const char *) v.data(), v.size());
}

void restore_state_bytes(MtpSession & s, IntArg seq, nb::bytes data) {
    const auto * p = (const uint8_t *) data.c_str();
    s.set_state(seq_arg(seq), std::vector<uint8_t>(p, p + data.size()));
}

}  // namespace

void bind_mtp(nb::module_ & m) {
    // MtpSessionError < LlamaError; InvalidConfigError and BadSeqIdError are also ValueErrors
    auto make = [&](const char * name, const char * doc, std::initializer_list<PyObject *> bases) {
        return add_error_type(m, name, doc, bases).ptr();
    };
    PyObject * base =
        make("MtpSessionError", "Base class of MtpSession errors.", {nb::object(m.attr("LlamaError")).ptr()});
    make("IncompatibleContextsError", "The target/draft contexts cannot run draft-mtp; the message names the fix.",
         {base});
    make("BadSeqIdError", "seq_id outside [0, n_seq) (.seq_id, .n_seq).", {base, PyExc_ValueError});
    make("ProposalPendingError", "A proposal is pending: accept() it first.", {base});
    make("NoPendingProposalError", "accept() without a pending proposal.", {base});
    make("AcceptedTooManyError", "accept(n) with n larger than the proposal (.n_accepted, .size).",
         {base, PyExc_ValueError});
    make("InvalidConfigError", "An MtpSessionConfig value is out of range (.parameter, .value, .minimum, .maximum).",
         {base, PyExc_ValueError});
    make("TargetDecodeError", "The target's decode failed inside a session call (.code: upstream's status).",
         {base, nb::object(m.attr("DecodeError")).ptr()});
    make("MtpStateError", "A speculative state could not be saved or restored.",
         {base, nb::object(m.attr("StateError")).ptr()});

    nb::class_<MtpConfig>(m, "MtpSessionConfig", "Draft-mtp settings, validated on creation.")
        .def(
            "__init__",
            [](MtpConfig * self, IntArg n_seq, IntArg n_draft_max, IntArg n_min, float p_min) {
                MtpConfig c{config_int(n_seq, "n_seq"), config_int(n_draft_max, "n_draft_max"),
                            config_int(n_min, "n_min"), p_min};
                c.validate();
                new (self) MtpConfig(c);
            },
            nb::arg("n_seq") = 1, nb::arg("n_draft_max") = 3, nb::arg("n_min") = 0, nb::arg("p_min") = 0.0f)
        .def_ro("n_seq", &MtpConfig::n_seq, "Sequences the session serves (seq ids 0..n_seq-1).")
        .def_ro("n_draft_max", &MtpConfig::n_draft_max, "Most tokens one draft() proposes.")
        .def_ro("n_min", &MtpConfig::n_min, "Drafts shorter than this are dropped.")
        .def_ro("p_min", &MtpConfig::p_min, "Drafting stops at a token whose probability is below this.")
        .def(
            "with_n_min",
            [](const MtpConfig & c, IntArg n) {
                MtpConfig r = c;
                r.n_min = config_int(n, "n_min");
                r.validate();
                return r;
            },
            nb::arg("n_min"), "A copy with another n_min.")
        .def(
            "with_p_min",
            [](const MtpConfig & c, float p) {
                MtpConfig r = c;
                r.p_min = p;
                r.validate();
                return r;
            },
            nb::arg("p_min"), "A copy with another p_min.")
        .def(
            "with_n_draft_max",
            [](const MtpConfig & c, IntArg n) {
                MtpConfig r = c;
                r.n_draft_max = config_int(n, "n_draft_max");
                r.validate();
                return r;
            },
            nb::arg("n_draft_max"), "A copy with another n_draft_max.")
        .def(
            "__eq__",
            [](const MtpConfig & a, const MtpConfig & b) {
                return a.n_seq == b.n_seq && a.n_draft_max == b.n_draft_max && a.n_min == b.n_min && a.p_min == b.p_min;
            },
            "Equal when every field is.")
        .def("__repr__", [](const MtpConfig & c) {
            return "MtpSessionConfig(n_seq=" + std::to_string(c.n_seq) +
                   ", n_draft_max=" + std::to_string(c.n_draft_max) + ", n_min=" + std::to_string(c.n_min) +
                   ", p_min=" + std::to_string(c.p_min) + ")";
        });

    nb::class_<MtpSession>(m, "MtpSession",
                           "Upstream's draft-mtp speculative decoder behind a guarded state machine: "
                           "begin -> (draft -> decode verify batch on target -> process -> accept)*.")
        .def(
            "__init__",
            [](MtpSession * self, std::shared_ptr<Context> target, std::shared_ptr<Context> draft,
               std::optional<MtpConfig> config) {
                new (self) MtpSession(std::move(target), std::move(draft), config.value_or(MtpConfig{}));
            },
            nb::arg("target"), nb::arg("draft"), nb::arg("config").none() = nb::none(),
            "Preflight-check the contexts (IncompatibleContextsError names the fix), then set up draft-mtp.")
        .def(
            "__init__",
            [](MtpSession * self, std::shared_ptr<Context> target, std::shared_ptr<Context> draft, IntArg n_seq,
               IntArg n_draft_max) {
                MtpConfig config{config_int(n_seq, "n_seq"), config_int(n_draft_max, "n_draft_max")};
                new (self) MtpSession(std::move(target), std::move(draft), config);
            },
            nb::arg("target"), nb::arg("draft"), nb::arg("n_seq"), nb::arg("n_draft_max"),
            "The same with MtpSessionConfig(n_seq=n_seq, n_draft_max=n_draft_max).")
        .def_static(
            "new_with_config",
            [](std::shared_ptr<Context> target, std::shared_ptr<Context> draft, const MtpConfig & config) {
                return new MtpSession(std::move(target), std::move(draft), config);
            },
            nb::arg("target"), nb::arg("draft"), nb::arg("config"), nb::rv_policy::take_ownership,
            "MtpSession(target, draft, config).")
        .def_prop_ro(
            "config", [](const MtpSession & s) { return s.config(); }, "The session's MtpSessionConfig.")
        .def_prop_ro(
            "n_draft_max", [](const MtpSession & s) { return s.config().n_draft_max; }, "config.n_draft_max.")
        .def_prop_ro(
            "n_min", [](const MtpSession & s) { return s.config().n_min; }, "config.n_min.")
        .def_prop_ro(
            "p_min", [](const MtpSession & s) { return s.config().p_min; }, "config.p_min.")
        .def_prop_ro(
            "n_seq", [](const MtpSession & s) { return s.config().n_seq; }, "config.n_seq.")
        .def_prop_ro(
            "need_embd", [](const MtpSession &) { return false; },
            "Whether the target must output final embeddings (draft-mtp: no).")
        .def_prop_ro(
            "need_embd_pre_norm", [](const MtpSession &) { return true; },
            "Whether the target must output pre-norm hidden states for every row (draft-mtp: yes; "
            "the session switched it on).")
        .def_prop_ro("target", &MtpSession::target_ptr, nb::sig("def target(self) -> Context"), "The target context.")
        .def_prop_ro("draft_context", &MtpSession::draft_ptr, nb::sig("def draft_context(self) -> Context"),
                     "The MTP draft context.")
        .def_prop_ro(
            "is_quiescent", [](const MtpSession & s) { return s.is_quiescent(); },
            "No sequence has a pending proposal.")
        .def(
            "has_pending_proposal",
            [](const MtpSession & s, IntArg seq) {
                const MtpSession::SessionLock lock(s);
                return s.has_pending(seq_arg(seq));
            },
            nb::arg("seq_id"), "Whether draft() proposed tokens that accept() has not settled yet.")
        .def(
            "pending_proposal",
            [](const MtpSession & s, IntArg seq) {
                const MtpSession::SessionLock lock(s);
                return to_array(s.pending_proposal(seq_arg(seq)));
            },
            nb::arg("seq_id"),
            nb::sig("def pending_proposal(self, seq_id: int) -> numpy.ndarray[dtype=int32, shape=(*)]"),
            "A copy of the tokens awaiting accept() (empty when none).")
        .def(
            "begin",
            [](MtpSession & s, IntArg seq, nb::handle prompt) {
                s.begin(seq_arg(seq), token_list(prompt, vocab_size(s.target().model().get()), "prompt token"));
            },
            nb::arg("seq_id"), nb::arg("prompt_tokens"),
            nb::sig(
                "def begin(self, seq_id: int, prompt_tokens: collections.abc.Sequence[int] | numpy.ndarray) -> None"),
            "Start a sequence: prompt_tokens are the tokens already decoded (and processed) on the target.")
        .def("process", &MtpSession::process, nb::arg("batch"),
             "Feed the batch just decoded on the target to the draft context (GIL released).")
        .def(
            "draft",
            [](MtpSession & s, IntArg seq, IntArg n_past, IntArg last, std::optional<IntArg> n_max) {
                return to_array(s.draft(seq_arg(seq), n_past.i32("n_past", 0), last.i32("last_token", 0),
                                        n_max ? n_max->i32("n_max", 0) : -1));
            },
            nb::arg("seq_id"), nb::arg("n_past"), nb::arg("last_token"), nb::arg("n_max").none() = nb::none(),
            nb::sig("def draft(self, seq_id: int, n_past: int, last_token: int, n_max: int | None = None) -> "
                    "numpy.ndarray[dtype=int32, shape=(*)]"),
            "Propose up to n_draft_max tokens to follow last_token (at position n_past); they become the pending "
            "proposal of seq_id. GIL released.")
        .def(
            "accept", [](MtpSession & s, IntArg seq, IntArg n) { s.accept(seq_arg(seq), n.i32("n_accepted", 0)); },
            nb::arg("seq_id"), nb::arg("n_accepted"),
            "Report how many tokens of the pending proposal the target verified.")
        .def("decode_target", &decode_target, nb::arg("batch"), nb::kw_only(), nb::arg("exact") = false,
             "target.decode(batch, exact=exact) (GIL released); a failure raises TargetDecodeError, an "
             "MtpSessionError and a DecodeError with .code.")
        .def(
            "decode_target_and_process",
            [](MtpSession & s, const Batch & batch, bool exact) {
                decode_target(s, batch, exact);
                s.process(batch);
            },
            nb::arg("batch"), nb::kw_only(), nb::arg("exact") = false,
            "decode_target(batch, exact=exact) then process(batch); GIL released for both.")
        .def(
            "clear_target_kv_cache_seq",
            [](MtpSession & s, nb::handle seq_id, nb::handle p0, nb::handle p1) {
                return clear_seq(s.target_ptr(), seq_id, p0, p1);
            },
            nb::arg("seq_id"), nb::arg("p0").none() = nb::none(), nb::arg("p1").none() = nb::none(),
            nb::sig("def clear_target_kv_cache_seq(self, seq_id: int, p0: int | None = None, p1: int | None = None) -> "
                    "bool"),
            "target.memory_seq_rm(seq_id, p0, p1), None for an open end: drop rejected positions.")
        .def(
            "clear_draft_kv_cache_seq",
            [](MtpSession & s, nb::handle seq_id, nb::handle p0, nb::handle p1) {
                return clear_seq(s.draft_ptr(), seq_id, p0, p1);
            },
            nb::arg("seq_id"), nb::arg("p0").none() = nb::none(), nb::arg("p1").none() = nb::none(),
            nb::sig("def clear_draft_kv_cache_seq(self, seq_id: int, p0: int | None = None, p1: int | None = None) -> "
                    "bool"),
            "draft_context.memory_seq_rm(seq_id, p0, p1), None for an open end.")
        .def_prop_ro(
            "stats",
            [](const MtpSession & s) {
                const MtpSession::SessionLock lock(s);
                return MtpStats{s.stats()};
            },
            "A snapshot of the statistics so far.")
        .def(
            "print_stats",
            [](const MtpSession & s) {
                nb::print(stats_line(s.stats()).c_str());
                s.print_stats();  // upstream's own line, at its trace log level
            },
            "Print the statistics in upstream's format (stdout).")
        .def("get_state", &state_bytes, nb::arg("seq_id"),
             "Serialize this sequence's speculative state (quiescent sessions only).")
        .def("set_state", &restore_state_bytes, nb::arg("seq_id"), nb::arg("data"),
             "Restore a state from get_state(); nothing changes on error.")
        .def("speculative_state", &state_bytes, nb::arg("seq_id"), "Another name of get_state().")
        .def("restore_speculative_state", &restore_state_bytes, nb::arg("seq_id"), nb::arg("data"),
             "Another name of set_state().");
}

}  // namespace llama_mtp
