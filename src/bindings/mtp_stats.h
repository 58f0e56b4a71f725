#pragma once
// MtpSession's statistics for Python: the MtpStats snapshot and its rates, and the one-line
// summary print_stats() writes in upstream's format.
#include <string>
#include <vector>

#include <nanobind/nanobind.h>

#include "mtp.h"

namespace llama_mtp {

// A snapshot of the counters, with the rates derived from them.
struct MtpStats {
    MtpStatsData d;
    double acceptance_rate() const { return d.verified_tokens ? (double) d.accepted_tokens / d.verified_tokens : 0.0; }
    double mean_acceptance_length() const {
        return d.n_verified ? 1.0 + (double) d.accepted_tokens / d.n_verified : 0.0;
    }
    std::vector<double> per_position() const {
        std::vector<double> r;
        for (uint64_t a : d.accepted_at) {
            r.push_back(d.n_verified ? (double) a / d.n_verified : 0.0);
        }
        return r;
    }
};

// upstream's draft-mtp statistics line
std::string stats_line(const MtpStatsData & d);

void bind_mtp_stats(nanobind::module_ & m);

}  // namespace llama_mtp
