#pragma once
#include <cstdint>
#include <memory>

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

// Throws InvalidArgumentError for out-of-range values.
void validate_sampler_params(const SamplerParams & p);

// Upstream's sampler chain, validated: [top-k] [top-p] [min-p] temperature dist(seed), or
// greedy when temperature <= 0. Used by Sampler and by the generation loop.
SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed);

}  // namespace llama_mtp
