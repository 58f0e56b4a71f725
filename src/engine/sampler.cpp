#include "sampler.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace llama_mtp {

void validate_sampler_params(const SamplerParams & p) {
    if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
        throw InvalidArgumentError("temperature must be finite and >= 0, got " + std::to_string(p.temperature));
    }
    if (p.top_k < 0) {
        throw InvalidArgumentError("top_k must be >= 0 (0 disables it), got " + std::to_string(p.top_k));
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        throw InvalidArgumentError("top_p must be in (0, 1], got " + std::to_string(p.top_p));
    }
    if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) {
        throw InvalidArgumentError("min_p must be in [0, 1), got " + std::to_string(p.min_p));
    }
}

std::vector<llama_logit_bias> ban(const std::vector<int32_t> & tokens) {
    std::vector<llama_logit_bias> bias;
    for (const int32_t t : tokens) bias.push_back({t, -INFINITY});
    return bias;
}

SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed, int32_t n_vocab,
                             const std::vector<int32_t> & banned) {
    validate_sampler_params(p);
    llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    SamplerPtr chain(llama_sampler_chain_init(cp));
    if (!banned.empty()) {
        const auto bias = ban(banned);
        llama_sampler_chain_add(chain.get(),
                                llama_sampler_init_logit_bias(n_vocab, (int32_t) bias.size(), bias.data()));
    }
    if (p.temperature <= 0.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
        return chain;
    }
    if (p.top_k > 0) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
    }
    if (p.top_p < 1.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
    }
    if (p.min_p > 0.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
    }
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
    return chain;
}

}  // namespace llama_mtp
