// The Generator's draft context across plain stretches: while "auto" decodes plainly the draft
// context skips its process() (a one-token decode per step, ~1/(layers + 1) of a step), but a
// real NextN head attends over the draft context's history, so the skipped positions are kept
// (token, the target's NextN row) and decoded in one batch later: when drafting resumes, every
// kLagFlush positions (bounded memory; one batch of many rows costs far less than as many
// one-row decodes), and when the sequence is released (its KV then serves the next prompt).
#include <algorithm>
#include <vector>

#include "generator.h"
#include "llama-ext.h"
#include "mtp.h"

namespace llama_mtp {

namespace {
constexpr size_t kLagFlush = 32;
}

void Generator::drop_lag(SeqState & st) {
    st.lag_pos = -1;
    st.lag_tokens.clear();
    st.lag_hidden.clear();
}

void Generator::bring_in_step(int32_t s, const float * hidden, llama_memory_t mem_dft) {
    SeqState & st = seqs_[s];
    const bool caught_up =
        st.lag_complete() && session_->catch_up_locked(s, st.lag_pos, st.lag_tokens, st.lag_hidden, mem_dft);
    if (!caught_up) session_->restart_draft_locked(s, hidden, mem_dft);
    drop_lag(st);
    st.stale = false;
    st.no_row = false;
}

void Generator::note_lag(int32_t s, int32_t keep, const std::vector<int32_t> & draft, llama_context * target,
                         llama_memory_t mem_dft) {
    SeqState & st = seqs_[s];
    if (!st.lag_complete() || !hidden_on_) {
        drop_lag(st);
        return;
    }
    const size_t row = (size_t) llama_model_n_embd_out(tgt_->model().get());
    for (int32_t i = 0; i < keep; ++i) {
        const float * h = llama_get_embeddings_nextn_ith(target, st.row + i);
        if (h == nullptr) {
            drop_lag(st);
            return;
        }
        st.lag_tokens.push_back(i == 0 ? st.id_last : draft[(size_t) i - 1]);
        st.lag_hidden.insert(st.lag_hidden.end(), h, h + row);
    }
    if (st.lag_tokens.size() >= kLagFlush) {
        if (session_->catch_up_locked(s, st.lag_pos, st.lag_tokens, st.lag_hidden, mem_dft)) st.stale = false;
        drop_lag(st);  // in step again, or no record to complete: it starts over when drafting resumes
    }
}

}  // namespace llama_mtp
