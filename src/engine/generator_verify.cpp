// Generator: verifying a step's drafts (greedy agreement, sample-and-match, rejection sampling).
#include <random>

#include "generator.h"
#include "rejection.h"

namespace llama_mtp {

void Generator::arm_sampled_draft(int32_t s, int32_t n_max) {
    SeqState & st = seqs_[s];
    if (!st.sampler || !st.cfg.sampled_drafts) return;
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> u((size_t) n_max);
    for (float & x : u) x = uniform(st.draft_rng);
    session_->sample_next_draft(s, st.cfg.sampling.temperature, std::move(u));
}

void Generator::verify(SeqState & st, const std::vector<int32_t> & d,
                       const std::vector<std::vector<llama_token_data>> & q, llama_context * ctx,
                       std::vector<int32_t> & ids) {
    // greedy: the longest draft prefix on which the target's argmax agrees, plus the target's own
    // next token. Sampling: a token drafted from a distribution q is accepted with probability
    // min(1, p/q), else the residual's token ends the step; a point-mass draft (n-gram, the
    // head's top token) is accepted where the target's own sample equals it (sample-and-match:
    // the same acceptance as rejection sampling for a point mass, and the text then depends on
    // the seed alone)
    ids.clear();
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (size_t i = 0; i <= d.size(); ++i) {
        const int32_t row = st.row + (int32_t) i;
        if (i < d.size() && i < q.size() && st.sampler) {
            const auto p = chain_distribution(st.sampler.get(), llama_get_logits_ith(ctx, row), n_vocab_);
            bool accepted = false;
            const double u_accept = uniform(st.draft_rng), u_residual = uniform(st.draft_rng);
            const int32_t tok = rejection_step(p, by_id(q[i]), d[i], u_accept, u_residual, &accepted);
            llama_sampler_accept(st.sampler.get(), tok);
            ids.push_back(tok);
            if (!accepted) return;
            continue;
        }
        const int32_t tok = pick(st, row, ctx);
        ids.push_back(tok);
        if (i == d.size() || tok != d[i]) return;
    }
}

}  // namespace llama_mtp
