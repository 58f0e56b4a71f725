#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace llama_mtp {

// Index of the first maximum of x[0..n) (NaN never wins); 0 when n == 0: the loop's greedy
// pick and llama_mtp.argmax.
int32_t argmax(const float * x, int32_t n);
// The greedy pick after a logit bias (sorted by token, each token once; -inf bans it, as
// ignore_eos does): the first maximum of x[t] + bias(t), as argmax() over the biased logits
// would find it, without writing to x.
int32_t argmax_biased(const float * x, int32_t n, const std::vector<llama_logit_bias> & bias);

}  // namespace llama_mtp
