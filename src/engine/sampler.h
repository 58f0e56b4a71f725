#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "llama.h"

namespace llama_mtp {

struct SamplerParams {
    float temperature = 0.0f;  // <= 0: greedy
    int32_t top_k = 0;         // 0: off
    float top_p = 1.0f;        // 1: off
    float min_p = 0.0f;        // 0: off
};

struct SamplerDeleter {
    void operator()(llama_sampler * s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// A -inf logit bias for each of tokens.
std::vector<llama_logit_bias> ban(const std::vector<int32_t> & tokens);

// Throws InvalidArgumentError for out-of-range values.
void validate_sampler_params(const SamplerParams & p);

// Upstream's sampler chain, validated: [logit bias] [top-k] [top-p] [min-p] temperature
// dist(seed), or greedy when temperature <= 0. banned: tokens of an n_vocab vocabulary that get
// a -inf logit first (ignore_eos: the end-of-generation ones, as llama.cpp's --ignore-eos).
// Used by Sampler and by the generation loop.
SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed, int32_t n_vocab = 0,
                             const std::vector<int32_t> & banned = {});

}  // namespace llama_mtp
