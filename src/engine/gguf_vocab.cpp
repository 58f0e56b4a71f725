// The vocabulary checks of the GGUF preflight (src/llama-vocab.cpp load and tokenize).
#include <initializer_list>
#include <string>
#include <tuple>
#include <unordered_set>

#include "gguf_reader.h"

namespace llama_mtp {

void check_vocab(const Reader & r, GgufSummary & out) {
    const gguf_context * ctx = r.ctx;
    const std::string model_key = "tokenizer.ggml.model";
    const int64_t model_id = r.find(model_key);
    if (model_id < 0) {
        r.fail(model_key, "is missing");
    }
    if (r.type(model_id) != GGUF_TYPE_STRING) {
        r.fail(model_key, "has type " + type_name(r.type(model_id)) + ", expected str");
    }
    out.tokenizer_model = gguf_get_val_str(ctx, model_id);
    if (out.tokenizer_model == "none" || out.tokenizer_model == "no_vocab") {
        // upstream loads these without tokens, then tokenize/detokenize assert
        r.fail(model_key, "= '" + out.tokenizer_model + "': the model has no vocabulary");
    }

    const std::string tokens_key = "tokenizer.ggml.tokens";
    const int64_t tokens_id = r.find(tokens_key);
    if (tokens_id < 0) {
        r.fail(tokens_key, "is missing");
    }
    if (r.type(tokens_id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx, tokens_id) != GGUF_TYPE_STRING) {
        r.fail(tokens_key, "must be an array of strings");
    }
    const size_t n = gguf_get_arr_n(ctx, tokens_id);
    if (n == 0 || n > (size_t) INT32_MAX) {
        r.fail(tokens_key, "has " + std::to_string(n) + " tokens, expected [1, 2147483647]");
    }
    // upstream asserts every token string is distinct (it renames empty ones first); GGUF
    // strings are UTF-8, and generated text is decoded from the token strings
    std::unordered_set<std::string> seen;
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        std::string word = gguf_get_arr_str(ctx, tokens_id, i);
        if (const size_t bad = utf8_invalid_at(word); bad != std::string::npos) {
            r.fail(tokens_key, "[" + std::to_string(i) + "] is not valid UTF-8 (byte " + std::to_string(bad) + ")");
        }
        if (word.empty()) {
            word = "[EMPTY_" + std::to_string(i) + "]";
        }
        if (!seen.insert(word).second) {
            r.fail(tokens_key, "[" + std::to_string(i) + "] = '" + word.substr(0, 64) + "' is a duplicate token");
        }
    }
    out.n_vocab = (int64_t) n;

    auto check_parallel = [&](const char * key, std::initializer_list<gguf_type> types) {
        const int64_t id = r.find(key);
        if (id < 0) {
            return;
        }
        bool type_ok = false;
        if (r.type(id) == GGUF_TYPE_ARRAY) {
            for (gguf_type t : types) {
                type_ok = type_ok || gguf_get_arr_type(ctx, id) == t;
            }
        }
        if (!type_ok) {
            r.fail(key, "has the wrong type (expected an array of " + type_name(*types.begin()) + ")");
        }
        if (gguf_get_arr_n(ctx, id) != n) {
            r.fail(key,
                   "has " + std::to_string(gguf_get_arr_n(ctx, id)) + " values for " + std::to_string(n) + " tokens");
        }
    };
    check_parallel("tokenizer.ggml.scores", {GGUF_TYPE_FLOAT32, GGUF_TYPE_INT32});
    check_parallel("tokenizer.ggml.token_type", {GGUF_TYPE_INT32});

    // byte tokens are decoded from their "<0xXX>" text by the byte-fallback tokenizers only
    // (SPM, UGM, BPE); the others abort in token_to_byte
    static const std::unordered_set<std::string> byte_fallback = {"llama",  "t5",        "gpt2",
                                                                  "gemma4", "hybriddna", "whitespace"};
    constexpr int32_t kByteToken = 6;  // LLAMA_TOKEN_TYPE_BYTE
    if (const int64_t id = r.find("tokenizer.ggml.token_type"); id >= 0 && !byte_fallback.count(out.tokenizer_model)) {
        const auto * types = static_cast<const int32_t *>(gguf_get_arr_data(ctx, id));
        for (size_t i = 0; i < n; ++i) {
            if (types[i] == kByteToken) {
                r.fail("tokenizer.ggml.token_type", "[" + std::to_string(i) + "] is a byte token, which tokenizer '" +
                                                        out.tokenizer_model + "' cannot decode");
            }
        }
    }

    // every special token id upstream reads (bos, eos, eot, unk, pad, sep, mask, fim_*, ...)
    const std::string prefix = "tokenizer.ggml.";
    const std::string suffix = "_token_id";
    for (int64_t i = 0; i < gguf_get_n_kv(ctx); ++i) {
        const std::string key = gguf_get_key(ctx, i);
        if (key.size() > prefix.size() + suffix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
            key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
            r.u32(key, 0, (uint32_t) n - 1);
        }
    }

    // tokenize() asserts a BOS (EOS) token exists when the vocabulary adds one; upstream
    // drops a default id (below) that is past the vocabulary, so it must be given explicitly
    struct Defaults {
        const char * model;
        bool add_bos, add_eos;
        int64_t bos, eos;
    };
    constexpr Defaults kDefaults[] = {{"llama", true, false, 1, 2},
                                      {"bert", true, false, 101, -1},
                                      {"gpt2", false, false, 11, 11},
                                      {"t5", false, true, -1, 1},
                                      {"plamo2", false, false, 1, 2}};
    Defaults d{"", false, false, -1, -1};
    for (const auto & x : kDefaults) {
        if (out.tokenizer_model == x.model) {
            d = x;
        }
    }
    for (const auto & [which, add_default, default_id] :
         {std::tuple<const char *, bool, int64_t>{"bos", d.add_bos, d.bos}, {"eos", d.add_eos, d.eos}}) {
        const std::string add_key = prefix + "add_" + which + "_token";
        const std::string id_key = prefix + which + "_token_id";
        bool add = add_default;
        if (const int64_t id = r.find(add_key); id >= 0) {
            if (r.type(id) != GGUF_TYPE_BOOL) {
                r.fail(add_key, "has type " + type_name(r.type(id)) + ", expected bool");
            }
            add = gguf_get_val_bool(ctx, id);
        }
        if (add && r.find(id_key) < 0 && (default_id < 0 || default_id >= (int64_t) n)) {
            r.fail(id_key, "is missing, and " + add_key + " is true with no default " + which + " token in " +
                               std::to_string(n) + " tokens");
        }
    }
}

}  // namespace llama_mtp
