#include "sampler.h"

#include <algorithm>
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

std::vector<llama_logit_bias> merged_bias(const std::vector<llama_logit_bias> & bias,
                                          const std::vector<int32_t> & banned, int32_t n_vocab) {
    std::vector<llama_logit_bias> all;
    for (const llama_logit_bias & b : bias) {
        if (b.token < 0 || b.token >= n_vocab) {
            throw InvalidArgumentError("logit_bias: token " + std::to_string(b.token) + " is not in [0, " +
                                       std::to_string(n_vocab) + ")");
        }
        if (std::isnan(b.bias) || b.bias == INFINITY) {
            throw InvalidArgumentError("logit_bias: a bias must be a number or -inf, got " + std::to_string(b.bias));
        }
        all.push_back(b);
    }
    for (const int32_t t : banned) all.push_back({t, -INFINITY});
    std::stable_sort(all.begin(), all.end(),
                     [](const llama_logit_bias & a, const llama_logit_bias & b) { return a.token < b.token; });
    std::vector<llama_logit_bias> merged;
    for (const llama_logit_bias & b : all) {
        if (!merged.empty() && merged.back().token == b.token) {
            merged.back().bias += b.bias;  // -inf stays -inf: no +inf is admitted
        } else {
            merged.push_back(b);
        }
    }
    return merged;
}

SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed, int32_t n_vocab,
                             const std::vector<llama_logit_bias> & bias) {
    validate_sampler_params(p);
    llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    SamplerPtr chain(llama_sampler_chain_init(cp));
    if (!bias.empty()) {
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
