#include "batch.h"

#include <string>

#include "errors.h"

namespace llama_mtp {

Batch::Batch(int32_t capacity, int32_t n_seq_max) : capacity_(capacity), n_seq_max_(n_seq_max) {
    if (capacity < 1) {
        throw InvalidArgumentError("batch capacity must be >= 1, got " + std::to_string(capacity));
    }
    if (n_seq_max < 1) {
        throw InvalidArgumentError("batch n_seq_max must be >= 1, got " + std::to_string(n_seq_max));
    }
    if ((int64_t) capacity * n_seq_max > (int64_t) kMaxBatchRows * 4) {
        throw InvalidArgumentError("capacity * n_seq_max must be at most " +
                                   std::to_string((int64_t) kMaxBatchRows * 4) + " seq id slots, got " +
                                   std::to_string((int64_t) capacity * n_seq_max));
    }
    token_.assign(capacity, 0);
    pos_.assign(capacity, 0);
    n_seq_id_.assign(capacity, 1);
    seq_storage_.assign((size_t) capacity * n_seq_max, 0);
    seq_rows_.resize(capacity);
    for (int32_t i = 0; i < capacity; ++i) {
        seq_rows_[i] = seq_storage_.data() + (size_t) i * n_seq_max;
    }
    logits_.assign(capacity, 0);
}

int32_t Batch::add(int32_t token, int32_t pos, const std::vector<int32_t> & seq_ids, bool logits) {
    if (n_tokens_ >= capacity_) {
        throw InvalidArgumentError("batch is full (capacity " + std::to_string(capacity_) + ")");
    }
    if (seq_ids.empty() || (int32_t) seq_ids.size() > n_seq_max_) {
        throw InvalidArgumentError("a row needs 1 to " + std::to_string(n_seq_max_) +
                                   " seq ids (the batch's n_seq_max), got " + std::to_string(seq_ids.size()));
    }
    const int32_t i = n_tokens_;
    token_[i] = token;
    pos_[i] = pos;
    n_seq_id_[i] = (int32_t) seq_ids.size();
    for (size_t k = 0; k < seq_ids.size(); ++k) {
        seq_rows_[i][k] = seq_ids[k];
    }
    logits_[i] = logits ? 1 : 0;
    n_tokens_ = i + 1;
    return i;
}

void Batch::set_size(int32_t n) {
    if (n < 0 || n > capacity_) {
        throw InvalidArgumentError("batch length " + std::to_string(n) + " outside [0, " + std::to_string(capacity_) +
                                   "]");
    }
    n_tokens_ = n;
}

llama_batch Batch::view() const {
    llama_batch b{};
    b.n_tokens = n_tokens_;
    b.token = const_cast<int32_t *>(token_.data());
    b.embd = nullptr;
    b.pos = const_cast<int32_t *>(pos_.data());
    b.n_seq_id = const_cast<int32_t *>(n_seq_id_.data());
    b.seq_id = const_cast<llama_seq_id **>(seq_rows_.data());
    b.logits = const_cast<int8_t *>(logits_.data());
    return b;
}

int32_t Batch::n_outputs() const {
    int32_t n = 0;
    for (int32_t i = 0; i < n_tokens_; ++i) {
        n += logits_[i] != 0;
    }
    return n;
}

}  // namespace llama_mtp
