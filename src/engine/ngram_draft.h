#pragma once
// Drafts from the text itself: upstream's n-gram drafters (common/speculative.cpp: ngram-simple,
// ngram-map-k, ngram-map-k4v, ngram-mod) over each sequence's own tokens. They need no weights,
// so every model can speculate with them, with or without NextN layers. Each sequence drafts
// from its own tokens only: a slot's drafter starts over with every new sequence (upstream's
// ngram-mod would otherwise share one table between all sequences and requests, so that one
// request's text speeds up, and so reveals itself to, another's).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"

struct common_speculative;

namespace llama_mtp {

enum class NgramKind : int32_t { SIMPLE = 0, MAP_K = 1, MAP_K4V = 2, MOD = 3 };

// "ngram-simple", ... (upstream's --spec-type names); InvalidArgumentError for anything else.
NgramKind ngram_kind_from_name(const std::string & name);
const char * ngram_kind_name(NgramKind kind);

struct NgramConfig {
    NgramKind kind = NgramKind::SIMPLE;
    int32_t n_max = 16;    // the longest n-gram draft (the verify batch is sized for it)
    int32_t size_n = 3;    // tokens matched: simple/map-k's size_n, ngram-mod's n_match
    int32_t min_hits = 1;  // map-k/map-k4v: how often a continuation must have been seen
    int32_t n_min = 1;     // ngram-mod: the shortest draft it proposes
    void validate() const;
};

class NgramDrafter {
public:
    NgramDrafter(const NgramConfig & cfg, int32_t n_seq);
    ~NgramDrafter();
    NgramDrafter(const NgramDrafter &) = delete;
    NgramDrafter & operator=(const NgramDrafter &) = delete;

    // A new sequence in slot s (its drafter starts over): its tokens before the one decoded next.
    void begin(int32_t s, const std::vector<int32_t> & history);
    // Bring slot s's history up to n_past tokens, token(i) giving position i.
    template <typename TokenAt>
    void sync(int32_t s, int32_t n_past, TokenAt && token_at) {
        auto & h = history_[s];
        if ((int32_t) h.size() > n_past) h.resize(n_past);
        for (int32_t i = (int32_t) h.size(); i < n_past; ++i) h.push_back(token_at(i));
    }
    // Drafts for the slots in seqs (each continuing from last[k], at most n_max[k] tokens):
    // out[k] empty where the text offers none.
    void draft(const std::vector<int32_t> & seqs, const std::vector<int32_t> & last, const std::vector<int32_t> & n_max,
               std::vector<std::vector<int32_t>> & out);
    // After a verify of slot s's last draft, cut to n_verified tokens: how many the target took.
    // A cut draft accepted whole counts as accepted whole: upstream's drafters judge their
    // drafts by the fraction accepted (ngram-mod forgets its table after a run of low ones).
    void accept(int32_t s, int32_t n_verified, int32_t n_accepted);

    const NgramConfig & config() const { return cfg_; }

private:
    NgramConfig cfg_;
    struct SpecDeleter {
        void operator()(common_speculative * s) const;
    };
    std::vector<std::unique_ptr<common_speculative, SpecDeleter>> spec_;  // per slot, one sequence each
    std::vector<std::vector<int32_t>> history_;
    std::vector<bool> drafted_;         // upstream's impl has drafted for the slot (accept() would assert otherwise)
    std::vector<int32_t> drafted_len_;  // the length of its last draft, before the generator cut it
};

}  // namespace llama_mtp
