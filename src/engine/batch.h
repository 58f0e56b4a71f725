#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace llama_mtp {

// Most rows a Batch may have: llama.cpp's largest n_ctx (a decode never takes more).
constexpr int32_t kMaxBatchRows = 1 << 24;

// Structure-of-arrays token batch with fixed capacity. The arrays never move, so the
// numpy views handed out stay valid for the batch's lifetime; llama_decode reads
// these same arrays (no copy), so what the views show is exactly what is decoded.
class Batch {
public:
    Batch(int32_t capacity, int32_t n_seq_max);

    int32_t size() const { return n_tokens_; }
    int32_t capacity() const { return capacity_; }
    int32_t n_seq_max() const { return n_seq_max_; }

    void clear() { n_tokens_ = 0; }
    int32_t add(int32_t token, int32_t pos, const std::vector<int32_t> & seq_ids, bool logits);
    void set_size(int32_t n);

    // A llama_batch over the first size() rows, pointing at our arrays.
    llama_batch view() const;

    int32_t * token() { return token_.data(); }
    int32_t * pos() { return pos_.data(); }
    int8_t * logits() { return logits_.data(); }
    int32_t * n_seq_id() { return n_seq_id_.data(); }
    int32_t * seq_id_storage() { return seq_storage_.data(); }
    const int32_t * token() const { return token_.data(); }
    const int32_t * pos() const { return pos_.data(); }
    const int8_t * logits() const { return logits_.data(); }
    const int32_t * n_seq_id() const { return n_seq_id_.data(); }
    int32_t seq_id(int32_t i, int32_t k = 0) const { return seq_storage_[(size_t) i * n_seq_max_ + k]; }

    int32_t n_outputs() const;

private:
    int32_t capacity_;
    int32_t n_seq_max_;
    int32_t n_tokens_ = 0;
    std::vector<int32_t> token_;
    std::vector<int32_t> pos_;
    std::vector<int32_t> n_seq_id_;
    std::vector<int32_t> seq_storage_;      // capacity x n_seq_max, row-major
    std::vector<llama_seq_id *> seq_rows_;  // row pointers for llama_batch.seq_id
    std::vector<int8_t> logits_;
};

}  // namespace llama_mtp
