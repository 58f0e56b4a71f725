// Log-probabilities of generated tokens and their most probable alternatives.
#include "token_probs.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace llama_mtp {

namespace {

float finite_or_min(float x) {
    return std::isnan(x) ? -INFINITY : x;
}

}  // namespace

TokenProbs token_probs(const float * logits, int32_t n_vocab, int32_t token, int32_t n_top) {
    TokenProbs out;
    out.token = token;
    if (n_vocab <= 0) return out;
    float max = -INFINITY;
    for (int32_t t = 0; t < n_vocab; ++t) max = std::max(max, finite_or_min(logits[t]));
    double sum = 0.0;
    if (max != -INFINITY) {
        for (int32_t t = 0; t < n_vocab; ++t) sum += std::exp((double) finite_or_min(logits[t]) - max);
    }
    // log softmax: x - max - log(sum); everything at -inf has no distribution (-inf each)
    const double log_norm = max == -INFINITY ? INFINITY : (double) max + std::log(sum);
    const auto logprob = [&](int32_t t) { return (float) ((double) finite_or_min(logits[t]) - log_norm); };
    out.logprob = token >= 0 && token < n_vocab ? logprob(token) : -INFINITY;
    n_top = std::clamp(n_top, 0, n_vocab);
    if (n_top == 0) return out;
    // the n_top largest by a bounded min-heap: one pass, no vocabulary-sized buffer
    using Entry = std::pair<float, int32_t>;  // (logit, -id): a larger id ranks lower on ties
    const auto worse = [](const Entry & a, const Entry & b) { return a > b; };
    std::vector<Entry> heap;
    heap.reserve((size_t) n_top + 1);
    for (int32_t t = 0; t < n_vocab; ++t) {
        const Entry e{finite_or_min(logits[t]), -t};
        if ((int32_t) heap.size() < n_top) {
            heap.push_back(e);
            std::push_heap(heap.begin(), heap.end(), worse);
        } else if (e > heap.front()) {
            std::pop_heap(heap.begin(), heap.end(), worse);
            heap.back() = e;
            std::push_heap(heap.begin(), heap.end(), worse);
        }
    }
    std::sort(heap.begin(), heap.end(), [](const Entry & a, const Entry & b) { return a > b; });
    for (const Entry & e : heap) {
        out.top_ids.push_back(-e.second);
        out.top_logprobs.push_back(logprob(-e.second));
    }
    return out;
}

}  // namespace llama_mtp
