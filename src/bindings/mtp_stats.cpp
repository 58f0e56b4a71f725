#include "mtp_stats.h"

#include <cstdio>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

namespace llama_mtp {

std::string stats_line(const MtpStatsData & d) {
    const MtpStats st{d};
    std::string per_pos;
    for (double r : st.per_position()) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%s%.3f", per_pos.empty() ? "" : ", ", r);
        per_pos += buf;
    }
    char line[512];
    std::snprintf(line, sizeof(line),
                  "draft-mtp: #drafts = %llu, #draft tokens = %llu, #accepted drafts = %llu, "
                  "#accepted tokens = %llu, mean acc len = %.2f, acc rate/pos = (%s), "
                  "dur(b,p,g,a) = %.3f, %.3f, %.3f, %.3f ms",
                  (unsigned long long) st.d.n_drafts, (unsigned long long) st.d.draft_tokens,
                  (unsigned long long) st.d.accepted_drafts, (unsigned long long) st.d.accepted_tokens,
                  st.mean_acceptance_length(), per_pos.c_str(), st.d.t_begin * 1e3, st.d.t_process * 1e3,
                  st.d.t_draft * 1e3, st.d.t_accept * 1e3);
    return line;
}

void bind_mtp_stats(nb::module_ & m) {
    nb::class_<MtpStats>(m, "MtpStats", "Speculative decoding statistics (vLLM-style metrics).")
        .def_prop_ro(
            "n_drafts", [](const MtpStats & s) { return s.d.n_drafts; }, "Proposals with at least one token.")
        .def_prop_ro(
            "draft_tokens", [](const MtpStats & s) { return s.d.draft_tokens; }, "Tokens proposed.")
        .def_prop_ro(
            "n_verified", [](const MtpStats & s) { return s.d.n_verified; }, "Proposals accepted/rejected so far.")
        .def_prop_ro(
            "verified_tokens", [](const MtpStats & s) { return s.d.verified_tokens; },
            "Proposed tokens the target has verified (accepted or not).")
        .def_prop_ro(
            "accepted_drafts", [](const MtpStats & s) { return s.d.accepted_drafts; },
            "Proposals with >= 1 token accepted.")
        .def_prop_ro(
            "accepted_tokens", [](const MtpStats & s) { return s.d.accepted_tokens; },
            "Proposed tokens the target accepted.")
        .def_prop_ro("acceptance_per_position", &MtpStats::per_position,
                     "[i]: fraction of verified proposals whose token i was accepted (non-increasing).")
        .def_prop_ro("acceptance_rate", &MtpStats::acceptance_rate, "accepted_tokens / verified_tokens.")
        .def_prop_ro("mean_acceptance_length", &MtpStats::mean_acceptance_length,
                     "1 + accepted tokens per verified proposal: tokens gained per target step.")
        .def_prop_ro(
            "t_begin", [](const MtpStats & s) { return s.d.t_begin; }, "Seconds in begin().")
        .def_prop_ro(
            "t_process", [](const MtpStats & s) { return s.d.t_process; }, "Seconds in process().")
        .def_prop_ro(
            "t_draft", [](const MtpStats & s) { return s.d.t_draft; }, "Seconds in draft().")
        .def_prop_ro(
            "t_accept", [](const MtpStats & s) { return s.d.t_accept; }, "Seconds in accept().")
        .def(
            "as_dict",
            [](const MtpStats & s) -> nb::dict {
                nb::dict d;
                d["n_drafts"] = s.d.n_drafts;
                d["draft_tokens"] = s.d.draft_tokens;
                d["n_verified"] = s.d.n_verified;
                d["verified_tokens"] = s.d.verified_tokens;
                d["accepted_drafts"] = s.d.accepted_drafts;
                d["accepted_tokens"] = s.d.accepted_tokens;
                d["acceptance_per_position"] = s.per_position();
                d["acceptance_rate"] = s.acceptance_rate();
                d["mean_acceptance_length"] = s.mean_acceptance_length();
                d["t_begin"] = s.d.t_begin;
                d["t_process"] = s.d.t_process;
                d["t_draft"] = s.d.t_draft;
                d["t_accept"] = s.d.t_accept;
                return d;
            },
            nb::sig("def as_dict(self) -> dict[str, typing.Any]"), "All counters and rates as a dict.")
        .def("__repr__", [](const MtpStats & s) {
            return "MtpStats(n_drafts=" + std::to_string(s.d.n_drafts) +
                   ", accepted_tokens=" + std::to_string(s.d.accepted_tokens) + "/" +
                   std::to_string(s.d.verified_tokens) +
                   ", mean_acceptance_length=" + std::to_string(s.mean_acceptance_length()) + ")";
        });
}

}  // namespace llama_mtp
