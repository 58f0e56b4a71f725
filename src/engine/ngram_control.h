#pragma once
// How long an n-gram draft to verify, if at all: pure arithmetic, as DraftController. It learns
// the n-gram drafts' acceptance per position and what a step costs per verified row, and
// takes a draft where its expected tokens per second beat the alternative's (plain decoding,
// or the MTP length the DraftController chose).
#include <cstdint>
#include <vector>

namespace llama_mtp {

class NgramController {
public:
    explicit NgramController(int32_t n_max);

    // P(n-gram draft token i is accepted | tokens 1..i-1 were), i in 1..n_max. Starts
    // optimistic (a text that repeats itself is right for long stretches) and follows the
    // recent drafts.
    double acceptance(int32_t i) const;
    double expected_tokens(int32_t l) const;
    // Seconds per sequence of a step verifying l draft tokens (l + 1 rows); < 0 while unknown.
    double step_seconds(int32_t l) const;
    // The length to verify of an available draft of `available` tokens: the one with the most
    // expected tokens per second, where that beats alternative_speed; 0: none pays. Now and
    // then a short probe where none pays, so that a text that starts repeating is noticed.
    int32_t choose(int32_t available, double alternative_speed);
    // Every step: rows per sequence (1 + mean draft length) and its seconds per sequence.
    void observe_cost(double draft_length, double seconds);
    // A verified n-gram draft of `drafted` tokens of which `accepted` were taken.
    void observe_draft(int32_t drafted, int32_t accepted);

    int32_t n_max() const { return n_max_; }

private:
    int32_t n_max_;
    std::vector<double> hits_, trials_;  // decayed, per position
    // verify seconds per sequence by draft length (EWMA, with its weight)
    std::vector<double> cost_, cost_weight_;
    int32_t since_probe_ = 0;  // steps with a draft on offer that none paid for
    int32_t probe_gap_ = 16;
};

}  // namespace llama_mtp
