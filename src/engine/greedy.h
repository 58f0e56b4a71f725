#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace llama_mtp {

// Index of the first maximum of x[0..n) (NaN never wins); 0 when n == 0: the loop's greedy
// pick and llama_mtp.argmax.
int32_t argmax(const float * x, int32_t n);
// The same over the indices not in `excluded` (sorted): greedy decoding with a -inf logit bias
// on them, without writing to x.
int32_t argmax_except(const float * x, int32_t n, const std::vector<int32_t> & excluded);
// The greedy pick after a logit bias (sorted by token, each token once; -inf bans it): the
// first maximum of x[t] + bias(t), as argmax() over the biased logits would find it.
int32_t argmax_biased(const float * x, int32_t n, const std::vector<llama_logit_bias> & bias);

}  // namespace llama_mtp
