#include "ngram_draft.h"

#include <algorithm>

#include "common.h"
#include "speculative.h"

namespace llama_mtp {

namespace {

struct KindName {
    NgramKind kind;
    const char * name;
    common_speculative_type type;
};

constexpr KindName kKinds[] = {
    {NgramKind::SIMPLE, "ngram-simple", COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE},
    {NgramKind::MAP_K, "ngram-map-k", COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K},
    {NgramKind::MAP_K4V, "ngram-map-k4v", COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K4V},
    {NgramKind::MOD, "ngram-mod", COMMON_SPECULATIVE_TYPE_NGRAM_MOD},
};

const KindName & entry(NgramKind kind) {
    for (const auto & k : kKinds) {
        if (k.kind == kind) return k;
    }
    throw InvalidArgumentError("unknown n-gram drafter " + std::to_string((int32_t) kind));
}

}  // namespace

NgramKind ngram_kind_from_name(const std::string & name) {
    for (const auto & k : kKinds) {
        if (name == k.name) return k.kind;
    }
    throw InvalidArgumentError("unknown n-gram drafter '" + name +
                               "' (one of ngram-simple, ngram-map-k, ngram-map-k4v, ngram-mod)");
}

const char * ngram_kind_name(NgramKind kind) {
    return entry(kind).name;
}

void NgramConfig::validate() const {
    entry(kind);
    auto in_range = [](const char * name, int32_t v, int32_t lo, int32_t hi) {
        if (v < lo || v > hi) {
            throw InvalidArgumentError(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "], got " + std::to_string(v));
        }
    };
    in_range("ngram_n_max", n_max, 1, 256);
    // upstream's drafters index the history with these: they need at least one token
    in_range("ngram_size_n", size_n, 1, 64);
    in_range("ngram_min_hits", min_hits, 1, 1024);
    in_range("ngram_n_min", n_min, 1, n_max);
}

void NgramDrafter::SpecDeleter::operator()(common_speculative * s) const {
    common_speculative_free(s);
}

namespace {

common_speculative * new_spec(const NgramConfig & cfg) {
    common_params_speculative params;
    params.types = {entry(cfg.kind).type};
    // every kind drafts up to n_max tokens; the generator cuts each draft to the length it chose
    const common_params_speculative_ngram_map map{(uint16_t) cfg.size_n, (uint16_t) cfg.n_max, (uint16_t) cfg.min_hits};
    params.ngram_simple = map;
    params.ngram_map_k = map;
    params.ngram_map_k4v = map;
    params.ngram_mod.n_match = cfg.size_n;
    params.ngram_mod.n_max = cfg.n_max;
    params.ngram_mod.n_min = cfg.n_min;
    common_speculative * spec = common_speculative_init(params, 1);
    if (!spec) throw Error("upstream could not initialize the n-gram drafter");
    return spec;
}

}  // namespace

NgramDrafter::NgramDrafter(const NgramConfig & cfg, int32_t n_seq) : cfg_(cfg) {
    cfg_.validate();
    if (n_seq < 1) throw InvalidArgumentError("an n-gram drafter needs at least one sequence");
    spec_.resize(n_seq);
    history_.resize(n_seq);
    drafted_.assign(n_seq, false);
    drafted_len_.assign(n_seq, 0);
}

NgramDrafter::~NgramDrafter() = default;

void NgramDrafter::begin(int32_t s, const std::vector<int32_t> & history) {
    spec_[s].reset(new_spec(cfg_));
    history_[s] = history;
    drafted_[s] = false;
    common_speculative_begin(spec_[s].get(), 0, history_[s]);
}

void NgramDrafter::draft(const std::vector<int32_t> & seqs, const std::vector<int32_t> & last,
                         const std::vector<int32_t> & n_max, std::vector<std::vector<int32_t>> & out) {
    out.resize(seqs.size());
    for (size_t k = 0; k < seqs.size(); ++k) {
        const int32_t s = seqs[k];
        out[k].clear();
        if (!spec_[s] || n_max[k] <= 0) continue;
        auto & dp = common_speculative_get_draft_params(spec_[s].get(), 0);
        dp.drafting = true;
        dp.n_max = n_max[k];
        dp.pos0 = (int32_t) history_[s].size();
        dp.id_last = last[k];
        dp.prompt = &history_[s];
        dp.result = &out[k];
        common_speculative_draft(spec_[s].get());
        if ((int32_t) out[k].size() > n_max[k]) out[k].resize(n_max[k]);
        if (!out[k].empty()) drafted_[s] = true;
        drafted_len_[s] = (int32_t) out[k].size();
    }
}

void NgramDrafter::accept(int32_t s, int32_t n_verified, int32_t n_accepted) {
    if (!drafted_[s] || !spec_[s]) return;
    const int32_t n = n_accepted == n_verified ? std::max(n_accepted, drafted_len_[s]) : n_accepted;
    common_speculative_accept(spec_[s].get(), 0, (uint16_t) n);
}

}  // namespace llama_mtp
