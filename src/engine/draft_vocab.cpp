// DraftVocabulary: the draft head restricted to a set of tokens that grows with the text.
#include "draft_vocab.h"

#include <algorithm>
#include <string>

#include "common.h"
#include "context.h"
#include "errors.h"
#include "llama-ext.h"

namespace llama_mtp {

DraftVocabulary::DraftVocabulary(const std::vector<int32_t> & ids, int32_t n_vocab, int32_t spare)
    : in_set_((size_t) std::max(n_vocab, 0), false), spare_(spare) {
    if (spare < 0) {
        throw InvalidArgumentError("a draft vocabulary's spare room must be >= 0, got " + std::to_string(spare));
    }
    if (ids.empty()) {
        throw InvalidArgumentError("a draft vocabulary needs at least one token");
    }
    for (const int32_t id : ids) {
        if (id < 0 || id >= n_vocab) {
            throw InvalidArgumentError("draft vocabulary token " + std::to_string(id) + " out of range [0, " +
                                       std::to_string(n_vocab) + ")");
        }
        if (in_set_[id]) {
            throw InvalidArgumentError("draft vocabulary token " + std::to_string(id) + " listed twice");
        }
        in_set_[id] = true;
    }
    ids_ = ids;
}

int32_t DraftVocabulary::install(llama_context * ctx, const std::string & path) {
    const auto n_vocab = (int64_t) in_set_.size();
    const auto n_slots = (int32_t) std::min<int64_t>(n_vocab, (int64_t) ids_.size() + spare_);
    const int32_t rc = llama_set_mtp_draft_vocab(ctx, ids_.data(), (int32_t) ids_.size(), n_slots, path.c_str());
    if (rc == -2) {
        throw ModelLoadError("the draft vocabulary needs the LM head's rows, which could not be read from " + path +
                             " (a split model file is not supported)");
    }
    if (rc == -3) {
        throw ContextError("no memory for the draft vocabulary's head rows");
    }
    if (rc < 0) {
        throw InvalidArgumentError("llama.cpp refused the draft vocabulary (an MTP context is needed) [code " +
                                   std::to_string(rc) + "]");
    }
    n_slots_ = rc > 0 ? n_slots : 0;
    path_ = path;
    return rc;
}

void DraftVocabulary::admit(llama_context * ctx, const llama_token * tokens, size_t n) {
    if (n_slots_ == 0) {
        return;  // installed on no head: the draft has the whole vocabulary
    }
    std::vector<llama_token> fresh;
    for (size_t i = 0; i < n; ++i) {
        const llama_token t = tokens[i];
        if (t >= 0 && (size_t) t < in_set_.size() && !in_set_[t]) {
            in_set_[t] = true;
            fresh.push_back(t);
        }
    }
    if (fresh.empty()) {
        return;
    }
    ids_.insert(ids_.end(), fresh.begin(), fresh.end());
    const int32_t rc = llama_add_mtp_draft_vocab(ctx, fresh.data(), (int32_t) fresh.size());
    if (rc == -4) {
        spare_ = std::max(2 * spare_, (int32_t) fresh.size());  // full: rebuilt with more room
        install(ctx, path_);
    } else if (rc < 0) {
        for (const llama_token t : fresh) in_set_[t] = false;
        ids_.resize(ids_.size() - fresh.size());
        throw ModelLoadError(
            "could not add tokens to the draft vocabulary: the LM head's rows could not be read from " + path_ +
            " [code " + std::to_string(rc) + "]");
    }
}

void DraftVocabulary::admit(llama_context * ctx, const common_batch & batch) {
    std::vector<llama_token> tokens(batch.tokens.size());
    std::transform(batch.tokens.begin(), batch.tokens.end(), tokens.begin(), [](const auto & t) { return t.id; });
    admit(ctx, tokens.data(), tokens.size());
}

int32_t Context::set_draft_vocabulary(const std::vector<int32_t> & ids, int32_t spare) {
    if (params_.ctx_type != ContextType::MTP) {
        throw InvalidArgumentError("a draft vocabulary restricts an MTP draft context's head; this context is not one");
    }
    Lock lock(*this);  // a session is made with this lock held: the check below cannot race it
    if (sessions.load() > 0) {
        throw InvalidArgumentError("set a draft vocabulary before an MtpSession or Generator uses this context");
    }
    if (ids.empty()) {
        llama_set_mtp_draft_vocab(lock.get(), nullptr, 0, 0, nullptr);
        draft_vocab_.reset();
        return 0;
    }
    auto vocab = std::make_unique<DraftVocabulary>(ids, vocab_size(model_.get()), spare);
    const int32_t n_heads = vocab->install(lock.get(), model_handle_->path);
    draft_vocab_ = n_heads > 0 ? std::move(vocab) : nullptr;
    return n_heads;
}

}  // namespace llama_mtp
