#pragma once
// Typed access to GGUF metadata for the preflight (gguf_preflight.cpp, gguf_vocab.cpp): each
// getter checks the type upstream's loader reads the key with and a valid range, and throws a
// ModelLoadError naming the key otherwise.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "gguf.h"  // ggml's reader (our headers are not named gguf.h: llama.h includes that name)
#include "gguf_preflight.h"

namespace llama_mtp {

struct Reader {
    const gguf_context * ctx;
    std::string arch;

    [[noreturn]] void fail(const std::string & key, const std::string & what) const {
        throw ModelLoadError("invalid GGUF metadata: " + key + " " + what);
    }

    int64_t find(const std::string & key) const { return gguf_find_key(ctx, key.c_str()); }

    gguf_type type(int64_t id) const { return gguf_get_kv_type(ctx, id); }

    // A uint32 scalar (upstream's get_key<uint32_t> accepts no other type).
    std::optional<uint32_t> u32(const std::string & key, uint32_t lo, uint32_t hi) const {
        const int64_t id = find(key);
        if (id < 0) {
            return std::nullopt;
        }
        if (type(id) != GGUF_TYPE_UINT32) {
            fail(key, std::string("has type ") + gguf_type_name(type(id)) + ", expected uint32");
        }
        const uint32_t v = gguf_get_val_u32(ctx, id);
        if (v < lo || v > hi) {
            fail(key, "= " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
        }
        return v;
    }

    uint32_t required_u32(const std::string & key, uint32_t lo, uint32_t hi) const {
        auto v = u32(key, lo, hi);
        if (!v) {
            fail(key, "is missing");
        }
        return *v;
    }

    std::optional<float> f32(const std::string & key, float lo, bool lo_inclusive) const {
        const int64_t id = find(key);
        if (id < 0) {
            return std::nullopt;
        }
        if (type(id) != GGUF_TYPE_FLOAT32) {
            fail(key, std::string("has type ") + gguf_type_name(type(id)) + ", expected float32");
        }
        const float v = gguf_get_val_f32(ctx, id);
        if (!std::isfinite(v) || v < lo || (!lo_inclusive && v == lo)) {
            fail(key, "= " + std::to_string(v) + " must be finite and " + (lo_inclusive ? ">= " : "> ") +
                          std::to_string(lo));
        }
        return v;
    }

    // A uint32 scalar, or (get_key_or_arr) an int array of exactly n values: one per layer.
    std::optional<std::vector<uint32_t>> per_layer(const std::string & key, uint32_t n, uint32_t hi) const {
        const int64_t id = find(key);
        if (id < 0) {
            return std::nullopt;
        }
        std::vector<uint32_t> out(n);
        if (type(id) != GGUF_TYPE_ARRAY) {
            const uint32_t v = *u32(key, 0, hi);
            std::fill(out.begin(), out.end(), v);
            return out;
        }
        const gguf_type at = gguf_get_arr_type(ctx, id);
        if (at != GGUF_TYPE_UINT32 && at != GGUF_TYPE_INT32) {
            fail(key, std::string("is an array of ") + gguf_type_name(at) + ", expected uint32 or int32");
        }
        if (gguf_get_arr_n(ctx, id) != n) {
            fail(key, "has " + std::to_string(gguf_get_arr_n(ctx, id)) + " values, expected " + std::to_string(n) +
                          " (one per layer)");
        }
        const auto * data = static_cast<const int32_t *>(gguf_get_arr_data(ctx, id));
        for (uint32_t i = 0; i < n; ++i) {
            if (data[i] < 0 || (uint32_t) data[i] > hi) {
                fail(key, "[" + std::to_string(i) + "] = " + std::to_string(data[i]) + " is out of range [0, " +
                              std::to_string(hi) + "]");
            }
            out[i] = (uint32_t) data[i];
        }
        return out;
    }
};

// tokenizer.ggml.*: what llama-vocab.cpp load() asserts on or tokenize() aborts on
void check_vocab(const Reader & r, GgufSummary & out);

}  // namespace llama_mtp
