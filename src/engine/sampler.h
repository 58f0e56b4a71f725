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

// One logit bias per token, by token: the biases given (those of a token given twice added),
// and -inf for each banned token. Throws InvalidArgumentError for a token outside an n_vocab
// vocabulary or a bias that is NaN or +inf.
std::vector<llama_logit_bias> merged_bias(const std::vector<llama_logit_bias> & bias,
                                          const std::vector<int32_t> & banned, int32_t n_vocab);

// Throws InvalidArgumentError for out-of-range values.
void validate_sampler_params(const SamplerParams & p);

// Upstream's sampler chain, validated: [logit bias] [top-k] [top-p] [min-p] temperature
// dist(seed), or greedy when temperature <= 0. bias: added to the logits of an n_vocab
// vocabulary first (-inf bans a token: ignore_eos bans the end-of-generation ones, as
// llama.cpp's --ignore-eos). Used by Sampler and by the generation loop.
SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed, int32_t n_vocab = 0,
                             const std::vector<llama_logit_bias> & bias = {});

}  // namespace llama_mtp
