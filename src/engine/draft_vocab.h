#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "llama.h"

struct common_batch;

namespace llama_mtp {

// A draft vocabulary installed on an MTP context (patch 0008, FR-Spec): the draft head computes
// the logits of these tokens only, so a drafted token costs a fraction of the head's whole output
// layer. The target verifies every token, so the text does not depend on the set; the set only
// decides which tokens can be drafted. It grows with the text: a token the text uses (prompt or
// generated) is admitted before the draft context processes it, so it is never out of reach.
class DraftVocabulary {
public:
    // ids: the starting set (checked: in range, distinct); spare: room for admitted tokens.
    DraftVocabulary(const std::vector<int32_t> & ids, int32_t n_vocab, int32_t spare);

    // Puts the set on `ctx` (an MTP context whose model was loaded from `path`), its lock held.
    // Returns the number of LM heads restricted (0: the model has none to restrict). Throws
    // InvalidArgumentError / ModelLoadError (the head's rows cannot be read from `path`).
    int32_t install(llama_context * ctx, const std::string & path);
    // Admits the tokens not in the set yet (lock held); a full set is put on again with twice
    // the spare room.
    void admit(llama_context * ctx, const llama_token * tokens, size_t n);
    // Admits a target batch's tokens: every token of the text (prompt, generated) stays in reach.
    void admit(llama_context * ctx, const common_batch & batch);

    size_t size() const { return ids_.size(); }
    bool contains(int32_t token) const { return token >= 0 && (size_t) token < in_set_.size() && in_set_[token]; }
    int32_t n_slots() const { return n_slots_; }

private:
    std::vector<bool> in_set_;
    std::vector<int32_t> ids_;
    int32_t spare_;
    int32_t n_slots_ = 0;
    std::string path_;
};

}  // namespace llama_mtp
