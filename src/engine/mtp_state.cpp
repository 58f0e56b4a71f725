// MtpSession's saved state: our header (configuration, history) around upstream draft-mtp's
// per-sequence block, and its validation on restore (nothing changes unless all of it is valid).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "mtp.h"
#include "speculative.h"

namespace llama_mtp {

namespace {

constexpr uint32_t kStateMagic = 0x4d54504cu;  // "LPTM"
constexpr uint32_t kStateVersion = 1;

}  // namespace

std::vector<uint8_t> MtpSession::get_state(int64_t seq_id) {
    const SessionLock lock(*this);
    check_seq(seq_id);
    settle_empty_proposals();
    check_quiescent("get_state");
    std::vector<uint8_t> upstream;
    if (!common_speculative_get_state(spec_, (llama_seq_id) seq_id, upstream)) {
        throw MtpStateError("upstream draft-mtp returned no state for seq " + std::to_string(seq_id));
    }
    // header: magic, version, n_seq, n_draft_max, n_min, p_min bits, seq_id, begun,
    // history length, history, upstream length, upstream bytes
    std::vector<uint8_t> out;
    auto put32 = [&](uint32_t v) { out.insert(out.end(), (uint8_t *) &v, (uint8_t *) &v + 4); };
    uint32_t p_bits;
    std::memcpy(&p_bits, &config_.p_min, 4);
    put32(kStateMagic);
    put32(kStateVersion);
    put32((uint32_t) config_.n_seq);
    put32((uint32_t) config_.n_draft_max);
    put32((uint32_t) config_.n_min);
    put32(p_bits);
    put32((uint32_t) seq_id);
    put32(begun_[seq_id] ? 1u : 0u);
    put32((uint32_t) history_[seq_id].size());
    for (int32_t t : history_[seq_id]) {
        put32((uint32_t) t);
    }
    put32((uint32_t) upstream.size());
    out.insert(out.end(), upstream.begin(), upstream.end());
    return out;
}

void MtpSession::set_state(int64_t seq_id, const std::vector<uint8_t> & data) {
    const SessionLock lock(*this);
    check_seq(seq_id);
    settle_empty_proposals();
    check_quiescent("set_state");
    size_t off = 0;
    auto get32 = [&](const char * field) {
        if (off + 4 > data.size()) {
            throw MtpStateError(std::string("state is truncated (reading ") + field + ")");
        }
        uint32_t v;
        std::memcpy(&v, data.data() + off, 4);
        off += 4;
        return v;
    };
    if (get32("magic") != kStateMagic) {
        throw MtpStateError("not an MtpSession state (bad magic)");
    }
    const uint32_t version = get32("version");
    if (version != kStateVersion) {
        throw MtpStateError("state version " + std::to_string(version) + " is not supported (expected " +
                            std::to_string(kStateVersion) + ")");
    }
    uint32_t p_bits;
    std::memcpy(&p_bits, &config_.p_min, 4);
    const uint32_t cfg[4] = {get32("n_seq"), get32("n_draft_max"), get32("n_min"), get32("p_min")};
    if (cfg[1] != (uint32_t) config_.n_draft_max || cfg[2] != (uint32_t) config_.n_min || cfg[3] != p_bits) {
        throw MtpStateError("state was saved by a session with another configuration");
    }
    get32("seq_id");  // a state may be restored into another sequence
    const uint32_t begun = get32("begun");
    const uint32_t n_hist = get32("history length");
    if ((size_t) n_hist * 4 > data.size() - off) {
        throw MtpStateError("state is truncated (history)");
    }
    std::vector<int32_t> hist(n_hist);
    const int32_t n_vocab = vocab_size(tgt_->model().get());
    for (uint32_t i = 0; i < n_hist; ++i) {
        hist[i] = (int32_t) get32("history");
        if (hist[i] < 0 || hist[i] >= n_vocab) {
            throw MtpStateError("state's history holds token " + std::to_string(hist[i]) +
                                ", outside this model's vocabulary [0, " + std::to_string(n_vocab) + ")");
        }
    }
    const uint32_t n_up = get32("upstream length");
    if ((size_t) n_up != data.size() - off) {
        throw MtpStateError("state has a wrong length");
    }
    std::vector<uint8_t> upstream(data.begin() + off, data.end());
    // validate the upstream block as the patched draft-mtp reads it, so a bad block never
    // leaves a half-restored sequence behind
    const int32_t n_embd = llama_model_n_embd_out(tgt_->model().get());
    int32_t up_embd = 0, up_rows = 0;
    if (upstream.size() >= 8) {
        std::memcpy(&up_embd, upstream.data(), 4);
        std::memcpy(&up_rows, upstream.data() + 4, 4);
    }
    if (upstream.size() < 8 || up_embd != n_embd || up_rows < 0 || up_rows > 4096 ||
        upstream.size() != 8 + (size_t) n_embd * (1 + (size_t) up_rows) * 4) {
        throw MtpStateError("state's draft-mtp block does not match this model");
    }
    for (size_t off_f = 8; off_f < upstream.size(); off_f += 4) {
        float v;
        std::memcpy(&v, upstream.data() + off_f, 4);
        if (!std::isfinite(v)) {
            throw MtpStateError("state's draft-mtp block holds a non-finite hidden state value");
        }
    }
    common_speculative_set_state(spec_, (llama_seq_id) seq_id, upstream);
    history_[seq_id] = std::move(hist);
    begun_[seq_id] = begun != 0;
    proposal_[seq_id].clear();
}

void MtpSession::restart_draft_locked(int64_t seq_id, const float * hidden, llama_memory_t mem_dft) {
    // the draft context skipped positions, and its KV must stay contiguous: it starts over at
    // the next position, paired with the target's hidden state of the last one (as process()
    // would have left it; without it, the next process() pairs its first row with an older one)
    llama_memory_seq_rm(mem_dft, (llama_seq_id) seq_id, -1, -1);
    if (hidden != nullptr) restart_pending(seq_id, hidden);
}

std::vector<float> MtpSession::pending_hidden_locked(int64_t seq_id) const {
    const int32_t n_embd = llama_model_n_embd_out(tgt_->model().get());
    std::vector<uint8_t> block;
    int32_t block_embd = 0;
    if (!common_speculative_get_state(spec_, (llama_seq_id) seq_id, block) || block.size() < 8 + (size_t) n_embd * 4) {
        return {};
    }
    std::memcpy(&block_embd, block.data(), 4);
    if (block_embd != n_embd) return {};
    std::vector<float> hidden((size_t) n_embd);
    std::memcpy(hidden.data(), block.data() + 8, (size_t) n_embd * 4);
    return hidden;
}

void MtpSession::restart_pending(int64_t seq_id, const float * hidden) {
    // draft-mtp's per-sequence block with no rows of a verify batch: the next draft (or
    // process()) pairs its first token with `hidden`
    const int32_t n_embd = llama_model_n_embd_out(tgt_->model().get());
    std::vector<uint8_t> block(8 + (size_t) n_embd * 4);
    const int32_t n_rows = 0;
    std::memcpy(block.data(), &n_embd, 4);
    std::memcpy(block.data() + 4, &n_rows, 4);
    std::memcpy(block.data() + 8, hidden, (size_t) n_embd * 4);
    common_speculative_set_state(spec_, (llama_seq_id) seq_id, block);
}

bool MtpSession::catch_up_locked(int64_t seq_id, int32_t first_pos, const std::vector<int32_t> & tokens,
                                 const std::vector<float> & hidden, llama_memory_t mem_dft) {
    const int32_t n_embd = llama_model_n_embd_out(tgt_->model().get());
    const size_t m = tokens.size();
    const size_t row = (size_t) n_embd;
    if (m == 0 || hidden.size() != m * row) return m == 0;
    if (llama_memory_seq_pos_max(mem_dft, (llama_seq_id) seq_id) + 1 != first_pos) return false;
    std::vector<uint8_t> block;
    int32_t block_embd = 0;
    if (!common_speculative_get_state(spec_, (llama_seq_id) seq_id, block) || block.size() < 8 + row * 4) return false;
    std::memcpy(&block_embd, block.data(), 4);
    if (block_embd != n_embd) return false;
    // the rows each token is decoded with: the pending one (the position before first_pos), then
    // the target's row of each position but the last
    std::vector<float> paired(m * row);
    std::memcpy(paired.data(), block.data() + 8, row * 4);
    std::copy(hidden.begin(), hidden.end() - (std::ptrdiff_t) row, paired.begin() + (std::ptrdiff_t) row);
    common_batch batch(dft_raw_);
    for (size_t i = 0; i < m; ++i) {
        const int32_t idx = batch.add(tokens[i], first_pos + (int32_t) i, (llama_seq_id) seq_id, false);
        batch.set_embd(idx, {paired.data() + i * row, 1, row});
    }
    const int32_t n_batch = (int32_t) llama_n_batch(dft_raw_);
    for (int32_t off = 0; off < (int32_t) m; off += n_batch) {
        const int32_t n = std::min(n_batch, (int32_t) m - off);
        if (llama_process(dft_raw_, LLAMA_PROCESS_TYPE_DECODE, batch.get_sub_batch(off, n)) != 0) {
            llama_memory_seq_rm(mem_dft, (llama_seq_id) seq_id, first_pos, -1);
            dft_->note_external_decode();
            return false;
        }
    }
    dft_->note_external_decode();
    restart_pending(seq_id, hidden.data() + (m - 1) * row);
    return true;
}

void MtpSession::propose_external_locked(int64_t seq_id, const std::vector<int32_t> & tokens) {
    check_seq(seq_id);
    if (pending_[seq_id]) {
        throw ProposalPendingError("seq " + std::to_string(seq_id) +
                                   " already has a pending proposal: accept() it first");
    }
    proposal_[seq_id] = tokens;
    pending_[seq_id] = true;
    external_[seq_id] = true;
}

void MtpSession::accept_external_locked(int64_t seq_id, int32_t n_accepted) {
    // draft-mtp's per-sequence block: n_embd, n_rows, the pending hidden row, then the rows
    // process() kept of the last verify batch; the next draft starts from row n_accepted
    std::vector<uint8_t> block;
    if (common_speculative_get_state(spec_, (llama_seq_id) seq_id, block) && block.size() >= 8) {
        int32_t n_embd = 0, n_rows = 0;
        std::memcpy(&n_embd, block.data(), 4);
        std::memcpy(&n_rows, block.data() + 4, 4);
        const size_t row_bytes = (size_t) n_embd * 4;
        if (n_rows > 0 && block.size() == 8 + row_bytes * (1 + (size_t) n_rows)) {
            const int32_t row = std::min(n_accepted, n_rows - 1);
            std::memmove(block.data() + 8, block.data() + 8 + row_bytes * (1 + (size_t) row), row_bytes);
            common_speculative_set_state(spec_, (llama_seq_id) seq_id, block);
        }
    }
    const auto & prop = proposal_[seq_id];
    history_[seq_id].insert(history_[seq_id].end(), prop.begin(), prop.begin() + n_accepted);
    pending_[seq_id] = false;
    external_[seq_id] = false;
}

}  // namespace llama_mtp
