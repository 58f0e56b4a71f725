#pragma once
#include <cstdint>

namespace llama_mtp {

// Index of the first maximum of x[0..n) (NaN never wins); 0 when n == 0: the loop's greedy
// pick and llama_mtp.argmax.
int32_t argmax(const float * x, int32_t n);

}  // namespace llama_mtp
