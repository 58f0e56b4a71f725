#pragma once
// Typed access to GGUF metadata for the preflight (gguf_preflight.cpp, gguf_vocab.cpp): each
// getter checks the type upstream's loader reads the key with and a valid range, and throws a
// ModelLoadError naming the key otherwise.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "gguf.h"  // ggml's reader (our headers are not named gguf.h: llama.h includes that name)
#include "gguf_preflight.h"

namespace llama_mtp {

// Offset of the first byte that is not part of well-formed UTF-8 (the strict rules Python's
// decoder applies: no overlong forms, no surrogates, at most U+10FFFF), or npos.
inline size_t utf8_invalid_at(const std::string & s) {
    const auto * b = reinterpret_cast<const unsigned char *>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        const unsigned c = b[i];
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c < 0x80) {
            len = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i;
        }
        if (i + len > n) {
            return i;
        }
        for (size_t k = 1; k < len; ++k) {
            const unsigned x = b[i + k];
            if (x < (k == 1 ? lo : 0x80) || x > (k == 1 ? hi : 0xBF)) {
                return i;
            }
        }
        i += len;
    }
    return std::string::npos;
}

// Messages quote strings from the file: Python needs them as valid UTF-8.
inline std::string printable(const std::string & s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const size_t bad = utf8_invalid_at(s.substr(i));
        if (bad == std::string::npos) {
            return out + s.substr(i);
        }
        char hex[8];
        snprintf(hex, sizeof hex, "\\x%02X", (unsigned char) s[i + bad]);
        out += s.substr(i, bad) + hex;
        i += bad + 1;
    }
    return out;
}

// gguf_type_name() is null for values outside the enum
inline std::string type_name(gguf_type t) {
    const char * name = gguf_type_name(t);
    return name ? name : "type " + std::to_string((int) t);
}

struct Reader {
    const gguf_context * ctx;
    std::string arch;

    [[noreturn]] void fail(const std::string & key, const std::string & what) const {
        throw ModelLoadError(printable("invalid GGUF metadata: " + key + " " + what));
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
            fail(key, "has type " + type_name(type(id)) + ", expected u32");
        }
        const uint32_t v = gguf_get_val_u32(ctx, id);
        if (v < lo || v > hi) {
            fail(key, "= " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "]");
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
            fail(key, "has type " + type_name(type(id)) + ", expected f32");
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
            fail(key, "is an array of " + type_name(at) + ", expected u32 or i32");
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
