#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace llama_mtp {

// Speculative sampling's verification of sampled drafts (Leviathan et al. 2023, Chen et al.
// 2023): a token d drafted from q is accepted with probability min(1, p(d) / q(d)); on a
// rejection the output is drawn from the normalized residual max(0, p - q). The output is then
// distributed as p whatever q is, and more drafts are accepted than by sample-and-match when q
// resembles p. For a point-mass draft (q(d) = 1) it accepts with probability p(d), as
// sample-and-match does, which is why llama-mtp uses it for MTP drafts sampled from the head only.

// The distribution a sampler chain draws from at these logits: every sampler of the chain but
// its last (upstream's dist) applied, then softmax. Sorted by id; tokens filtered out are absent.
std::vector<llama_token_data> chain_distribution(llama_sampler * chain, const float * logits, int32_t n_vocab);

// One verification: d drafted from q (both distributions sorted by id); u_accept, u_residual
// uniform in [0, 1). Returns d when accepted (*accepted = true), else the residual's token.
int32_t rejection_step(const std::vector<llama_token_data> & p, const std::vector<llama_token_data> & q, int32_t d,
                       double u_accept, double u_residual, bool * accepted);

// q as the draft head reports it (its top candidates with p, any order) sorted by id.
std::vector<llama_token_data> by_id(std::vector<llama_token_data> q);

}  // namespace llama_mtp
