#pragma once
// Small numpy results the binding allocates itself (token lists, proposals): a copy the
// array owns, freed by a capsule. Zero-copy views of llama.cpp memory are made elsewhere.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <vector>

#include <nanobind/ndarray.h>

namespace llama_mtp {

template <typename T>
using OwnedArray = nanobind::ndarray<nanobind::numpy, T, nanobind::ndim<1>>;
using TokenArray = OwnedArray<int32_t>;

template <typename T>
OwnedArray<T> owned_array(const T * values, size_t n) {
    auto * data = new T[n > 0 ? n : 1];
    std::copy(values, values + n, data);
    nanobind::capsule owner(data, [](void * p) noexcept { delete[] (T *) p; });
    return OwnedArray<T>(data, {n}, owner);
}

inline TokenArray owned_token_array(const int32_t * tokens, size_t n) {
    return owned_array(tokens, n);
}

// Token ids from Python, the one conversion every API taking tokens uses: a sequence of ints or
// a 1-D integer numpy array. Non-integral values (floats, float arrays) raise
// InvalidArgumentError instead of being truncated; so do ids outside [0, n_vocab) (n_vocab < 0:
// only the int32 range is checked, the model checks at decode). A str raises TypeError.
std::vector<int32_t> token_list(nanobind::handle tokens, int32_t n_vocab, const char * what);

}  // namespace llama_mtp
