#pragma once
// GGUF metadata preflight: ggml's own gguf reader checks, before llama.cpp parses a model,
// every metadata value that upstream asserts on (GGML_ASSERT aborts the process) or that makes
// a graph spin forever, and rejects the file with a ModelLoadError naming the key instead.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace llama_mtp {

using GgufValue = std::variant<int64_t, double, std::vector<int64_t>>;

// What the preflight read and validated (inspect_gguf returns it as a dict).
struct GgufSummary {
    uint32_t version = 0;
    int64_t n_tensors = 0;
    int64_t n_kv = 0;
    std::string architecture;
    std::string tokenizer_model;
    int64_t n_vocab = 0;
    std::map<std::string, GgufValue> hparams;  // by key without the "{arch}." prefix
};

// Throws ModelLoadError (message: the key, its value and the valid range) on the first
// invalid value. vocab_only checks only what a vocab-only load reads.
GgufSummary check_gguf(const std::string & path, bool vocab_only);

inline void preflight_gguf(const std::string & path, bool vocab_only) {
    check_gguf(path, vocab_only);
}

}  // namespace llama_mtp
