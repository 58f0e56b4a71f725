// The greedy pick over a vocabulary's logits.
#include "greedy.h"

#include <algorithm>
#include <cmath>

namespace llama_mtp {

namespace {

// Maximum of a block; independent lanes so that the compiler vectorizes it.
float block_max(const float * x, int32_t n) {
    constexpr int32_t kLanes = 16;
    float lane[kLanes];
    for (float & l : lane) l = -INFINITY;
    int32_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (int32_t j = 0; j < kLanes; ++j) {
            lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
        }
    }
    float m = -INFINITY;
    for (; i < n; ++i) m = x[i] > m ? x[i] : m;
    for (float l : lane) m = l > m ? l : m;
    return m;
}

}  // namespace

int32_t argmax(const float * x, int32_t n) {
    // Greedy picks run over the whole vocabulary for every verify row (262 144 logits on
    // Gemma): one vectorized pass of block maxima, then a scan of the first best block only.
    constexpr int32_t kBlock = 2048;
    float best = -INFINITY;
    int32_t best_block = -1;
    for (int32_t b = 0; b < n; b += kBlock) {
        const float m = block_max(x + b, std::min(kBlock, n - b));
        if (m > best) {
            best = m;
            best_block = b;
        }
    }
    if (best_block < 0) return 0;  // empty, or nothing above -inf
    const int32_t end = std::min(best_block + kBlock, n);
    for (int32_t t = best_block; t < end; ++t) {
        if (x[t] == best) return t;
    }
    return best_block;
}

int32_t argmax_biased(const float * x, int32_t n, const std::vector<llama_logit_bias> & bias) {
    const auto biased = [&](int32_t t) {
        const auto it = std::lower_bound(bias.begin(), bias.end(), t,
                                         [](const llama_logit_bias & b, int32_t v) { return b.token < v; });
        return it != bias.end() && it->token == t;
    };
    int32_t pick = argmax(x, n);
    if (n > 0 && biased(pick)) {  // the winner is biased: the best unbiased one by a scan (rare)
        pick = -1;
        for (int32_t t = 0; t < n; ++t) {
            if (std::isnan(x[t]) || biased(t)) continue;
            if (pick < 0 || x[t] > x[pick]) pick = t;
        }
    }
    float best = pick >= 0 && n > 0 ? x[pick] : -INFINITY;
    for (const llama_logit_bias & b : bias) {
        if (b.token < 0 || b.token >= n) continue;
        const float v = x[b.token] + b.bias;
        if (std::isnan(v) || v == -INFINITY) continue;
        if (pick < 0 || v > best || (v == best && b.token < pick)) {
            pick = b.token;
            best = v;
        }
    }
    return pick < 0 ? 0 : pick;
}

}  // namespace llama_mtp
