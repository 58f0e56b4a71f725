// Rejection sampling of sampled drafts (see rejection.h).
#include "rejection.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

float prob_of(const std::vector<llama_token_data> & dist, int32_t token) {
    const auto it = std::lower_bound(dist.begin(), dist.end(), token,
                                     [](const llama_token_data & c, int32_t t) { return c.id < t; });
    return it != dist.end() && it->id == token ? it->p : 0.0f;
}

}  // namespace

std::vector<llama_token_data> by_id(std::vector<llama_token_data> q) {
    std::sort(q.begin(), q.end(), [](const llama_token_data & a, const llama_token_data & b) { return a.id < b.id; });
    return q;
}

std::vector<llama_token_data> chain_distribution(llama_sampler * chain, const float * logits, int32_t n_vocab) {
    std::vector<llama_token_data> cur((size_t) n_vocab);
    for (int32_t t = 0; t < n_vocab; ++t) cur[t] = {t, logits[t], 0.0f};
    llama_token_data_array arr = {cur.data(), cur.size(), -1, false};
    const int n = llama_sampler_chain_n(chain);
    for (int i = 0; i + 1 < n; ++i) llama_sampler_apply(llama_sampler_chain_get(chain, i), &arr);
    std::vector<llama_token_data> p(arr.data, arr.data + arr.size);
    float top = -INFINITY;
    for (const auto & c : p) top = std::max(top, c.logit);
    double sum = 0.0;
    for (auto & c : p) {
        c.p = std::isfinite(c.logit) ? std::exp(c.logit - top) : 0.0f;
        sum += c.p;
    }
    for (auto & c : p) c.p = (float) (c.p / sum);
    return by_id(std::move(p));
}

int32_t rejection_step(const std::vector<llama_token_data> & p, const std::vector<llama_token_data> & q, int32_t d,
                       double u_accept, double u_residual, bool * accepted) {
    // a token q does not hold was not sampled from it: taken as a point mass at d
    const bool point_mass = prob_of(q, d) <= 0.0f;
    const auto q_of = [&](int32_t t) -> double { return point_mass ? (t == d ? 1.0 : 0.0) : prob_of(q, t); };
    const double pd = prob_of(p, d);
    *accepted = u_accept * q_of(d) < pd;  // with probability min(1, p(d) / q(d))
    if (*accepted) return d;
    double total = 0.0;
    for (const auto & c : p) total += std::max(0.0, (double) c.p - q_of(c.id));
    const bool residual = total > 0.0;  // else p <= q everywhere and only rounding rejected: p itself
    const double target = u_residual * (residual ? total : 1.0);
    double below = 0.0;
    int32_t last = p.empty() ? d : p.back().id;
    for (const auto & c : p) {
        const double r = residual ? std::max(0.0, (double) c.p - q_of(c.id)) : (double) c.p;
        if (r <= 0.0) continue;
        below += r;
        last = c.id;
        if (target < below) return c.id;
    }
    return last;
}

}  // namespace llama_mtp
