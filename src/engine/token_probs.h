#pragma once
#include <cstdint>
#include <vector>

namespace llama_mtp {

// A generated token's log-probability under the target's distribution (the softmax of its raw
// logits at the row that produced it, as llama-server's n_probs reports), and the n most
// probable tokens of that row, most probable first (ties: the lower id).
struct TokenProbs {
    int32_t token = 0;
    float logprob = 0.0f;
    std::vector<int32_t> top_ids;
    std::vector<float> top_logprobs;
};

// the most candidates a sequence may ask for (SeqConfig::n_probs)
constexpr int32_t kMaxProbs = 1024;

// n_vocab logits (NaN counts as -inf); n_top: how many candidates (at most n_vocab).
TokenProbs token_probs(const float * logits, int32_t n_vocab, int32_t token, int32_t n_top);

}  // namespace llama_mtp
