#include "generate.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "context.h"
#include "errors.h"
#include "mtp.h"
#include "sampler.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct GenConfig {
    int32_t max_tokens = 128;
    int32_t n_draft_max = 3;
    int32_t n_min = 0;
    float p_min = 0.0f;
    SamplerParams sampling;  // temperature <= 0: greedy (the loop's own argmax)
    uint32_t seed = LLAMA_DEFAULT_SEED;
    bool ignore_eos = false;
};

struct SeqState {
    int32_t id_last = 0;
    int32_t n_past = 0;  // position at which id_last is decoded next
    int32_t n_prompt = 0;
    std::vector<int32_t> generated;
    std::string finish_reason;  // "" while active, then "stop" or "length"
    SamplerPtr sampler;  // null when greedy
    int32_t row = 0;  // first row of this sequence in the current verify batch
};

// Counts a user of a context for as long as it lives: close() refuses while any exist.
struct ContextUse {
    Context * ctx;
    explicit ContextUse(Context * c) : ctx(c) { ++ctx->sessions; }
    ~ContextUse() { --ctx->sessions; }
    ContextUse(const ContextUse &) = delete;
    ContextUse & operator=(const ContextUse &) = delete;
};

class Generator {
public:
    Generator(nb::object target, nb::object draft, const std::vector<std::vector<int32_t>> & prompts, const GenConfig & cfg)
        : target_obj_(std::move(target)), draft_obj_(std::move(draft)), cfg_(cfg) {
        tgt_ = &nb::cast<Context &>(target_obj_);
        const int32_t n_seq = (int32_t) prompts.size();
        if (n_seq < 1) {
            throw InvalidArgumentError("at least one prompt is needed");
        }
        if (cfg.max_tokens < 0) {
            throw InvalidArgumentError("max_tokens must be >= 0");
        }
        if (tgt_->params().ctx_type != ContextType::DEFAULT) {
            throw InvalidArgumentError("the target must be a DEFAULT context");
        }
        validate_sampler_params(cfg.sampling);
        if ((uint32_t) n_seq > tgt_->params().n_seq_max) {
            throw InvalidArgumentError(std::to_string(n_seq) + " prompts need a target context with n_seq_max >= " + std::to_string(n_seq));
        }
        const llama_model * model = tgt_->model().get();
        const int32_t n_ctx = (int32_t) llama_n_ctx(tgt_->get());
        const int32_t n_vocab = vocab_size(model);
        for (const auto & p : prompts) {
            if (p.empty()) {
                throw InvalidArgumentError("a prompt is empty (tokenize with add_special=True to get BOS)");
            }
            if ((int32_t) p.size() + 1 >= n_ctx) {
                throw InvalidArgumentError("a prompt of " + std::to_string(p.size()) + " tokens does not fit n_ctx " + std::to_string(n_ctx));
            }
            for (int32_t t : p) {
                check_token_id(n_vocab, t, "prompt token");
            }
        }
        if (!draft_obj_.is_none()) {
            MtpConfig mc{n_seq, cfg.n_draft_max, cfg.n_min, cfg.p_min};
            session_ = std::make_unique<MtpSession>(target_obj_, draft_obj_, mc);
        }
        seqs_.resize(n_seq);
        for (int32_t s = 0; s < n_seq; ++s) {
            SeqState & st = seqs_[s];
            st.n_prompt = (int32_t) prompts[s].size();
            st.id_last = prompts[s].back();
            st.n_past = st.n_prompt - 1;
            if (cfg.sampling.temperature > 0.0f) {
                st.sampler = new_sampler_chain(cfg.sampling, cfg.seed + (uint32_t) s);
            }
            if (cfg.max_tokens == 0) {
                st.finish_reason = "length";
            }
        }
        batch_ = std::make_unique<common_batch>(tgt_->get());
        use_ = std::make_unique<ContextUse>(tgt_);
        prefill(prompts);
    }

    bool done() const {
        for (const auto & st : seqs_) {
            if (st.finish_reason.empty()) return false;
        }
        return true;
    }

    // One speculative step for every active sequence; returns the new tokens per sequence.
    std::vector<std::vector<int32_t>> step() {
        std::vector<std::vector<int32_t>> out(seqs_.size());
        if (done()) {
            return out;
        }
        {
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(tgt_->mutex);
            const double t0 = now_s();
            step_locked(out);
            t_gen_ += now_s() - t0;
        }
        if (!error_.empty()) {
            std::string e = error_;
            error_.clear();
            throw DecodeError(error_code_, e);
        }
        return out;
    }

    std::vector<std::vector<int32_t>> tokens() const {
        std::vector<std::vector<int32_t>> r;
        for (const auto & st : seqs_) r.push_back(st.generated);
        return r;
    }
    std::vector<std::string> finish_reasons() const {
        std::vector<std::string> r;
        for (const auto & st : seqs_) r.push_back(st.finish_reason);
        return r;
    }
    std::vector<int32_t> n_past() const {
        std::vector<int32_t> r;
        for (const auto & st : seqs_) r.push_back(st.n_past);
        return r;
    }

    nb::object target_obj_, draft_obj_;
    std::unique_ptr<MtpSession> session_;
    double t_prompt_ = 0, t_gen_ = 0;
    int64_t n_prompt_tokens_ = 0, n_steps_ = 0;

private:
    void check_rc(int32_t rc, const char * what) {
        if (rc != 0) {
            error_code_ = rc;
            error_ = std::string(what) + " failed with code " + std::to_string(rc) +
                     (rc == 1 ? " (no KV slot: raise n_ctx)" : "");
        }
    }

    void prefill(const std::vector<std::vector<int32_t>> & prompts) {
        const double t0 = now_s();
        {
            nb::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(tgt_->mutex);
            const int32_t n_batch = (int32_t) tgt_->params().n_batch;
            batch_->clear();
            auto flush = [&]() {
                if (batch_->size() == 0 || !error_.empty()) return;
                check_rc(llama_process(tgt_->get(), LLAMA_PROCESS_TYPE_DECODE, batch_->get()), "prompt decode");
                tgt_->note_external_decode(batch_->size(), {});
                if (error_.empty() && session_) {
                    session_->process_common(*batch_);
                }
                batch_->clear();
            };
            for (size_t s = 0; s < prompts.size(); ++s) {
                // everything but the last token: the loop decodes that one with the first draft
                for (size_t i = 0; i + 1 < prompts[s].size(); ++i) {
                    if (batch_->size() == n_batch) flush();
                    batch_->add(prompts[s][i], (llama_pos) i, (llama_seq_id) s, false);
                    n_prompt_tokens_++;
                }
            }
            flush();
        }
        if (!error_.empty()) {
            std::string e = error_;
            error_.clear();
            throw DecodeError(error_code_, e);
        }
        if (session_) {
            for (size_t s = 0; s < prompts.size(); ++s) {
                session_->begin((int64_t) s, std::vector<int32_t>(prompts[s].begin(), prompts[s].end() - 1));
            }
        }
        t_prompt_ = now_s() - t0;
    }

    int32_t pick(SeqState & st, int32_t row) {
        if (st.sampler) {
            return llama_sampler_sample(st.sampler.get(), tgt_->get(), row);
        }
        const float * logits = llama_get_logits_ith(tgt_->get(), row);
        const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(tgt_->model().get()));
        int32_t best = 0;
        for (int32_t t = 1; t < n_vocab; ++t) {
            if (logits[t] > logits[best]) best = t;
        }
        return best;
    }

    void step_locked(std::vector<std::vector<int32_t>> & out) {
        const int32_t n_ctx = (int32_t) llama_n_ctx(tgt_->get());
        std::vector<int32_t> active;
        for (int32_t s = 0; s < (int32_t) seqs_.size(); ++s) {
            if (seqs_[s].finish_reason.empty()) active.push_back(s);
        }
        static const std::vector<int32_t> kNoDraft;
        std::vector<const std::vector<int32_t> *> drafts(seqs_.size(), &kNoDraft);
        if (session_) {
            std::vector<int32_t> seqs, past, last, nmax;
            for (int32_t s : active) {
                const SeqState & st = seqs_[s];
                int32_t n_max = std::min({cfg_.n_draft_max, cfg_.max_tokens - (int32_t) st.generated.size() - 1, n_ctx - st.n_past - 2});
                if (n_max > 0) {
                    seqs.push_back(s);
                    past.push_back(st.n_past);
                    last.push_back(st.id_last);
                    nmax.push_back(n_max);
                } else {
                    session_->propose_nothing(s);  // keeps the state machine in step
                }
            }
            if (!seqs.empty()) {
                std::lock_guard<std::mutex> lock(session_->draft_ctx().mutex);
                session_->draft_many(seqs, past, last, nmax);
            }
            for (int32_t s : active) drafts[s] = &session_->pending_proposal(s);
        }
        // one verify batch for all sequences: [id_last, drafts...], every row with logits
        batch_->clear();
        for (int32_t s : active) {
            SeqState & st = seqs_[s];
            st.row = batch_->size();
            batch_->add(st.id_last, st.n_past, s, true);
            const auto & d = *drafts[s];
            for (size_t i = 0; i < d.size(); ++i) {
                batch_->add(d[i], st.n_past + 1 + (int32_t) i, s, true);
            }
        }
        check_rc(llama_process(tgt_->get(), LLAMA_PROCESS_TYPE_DECODE, batch_->get()), "verify decode");
        {
            std::vector<int32_t> rows(batch_->size());
            for (int32_t i = 0; i < batch_->size(); ++i) rows[i] = i;
            tgt_->note_external_decode(batch_->size(), rows);
        }
        if (!error_.empty()) return;
        if (session_) {
            std::lock_guard<std::mutex> lock(session_->draft_ctx().mutex);
            session_->process_common(*batch_);
        }
        n_steps_++;
        const llama_vocab * vocab = llama_model_get_vocab(tgt_->model().get());
        llama_memory_t mem_tgt = llama_get_memory(tgt_->get());
        llama_memory_t mem_dft = session_ ? llama_get_memory(session_->draft_ctx().get()) : nullptr;
        for (int32_t s : active) {
            SeqState & st = seqs_[s];
            const auto & d = *drafts[s];
            // greedy: the longest draft prefix on which the target's argmax agrees, plus the
            // target's own next token; sampling: upstream's sample-and-match
            std::vector<int32_t> ids;
            for (size_t i = 0; i <= d.size(); ++i) {
                const int32_t tok = pick(st, st.row + (int32_t) i);
                ids.push_back(tok);
                if (i == d.size() || tok != d[i]) break;
            }
            const int32_t n_acc = (int32_t) ids.size() - 1;
            if (session_) {
                session_->accept(s, n_acc);
            }
            int32_t keep = 0;
            for (int32_t tok : ids) {
                keep++;
                if (!cfg_.ignore_eos && llama_vocab_is_eog(vocab, tok)) {
                    st.finish_reason = "stop";
                    break;
                }
                st.generated.push_back(tok);
                out[s].push_back(tok);
                if ((int32_t) st.generated.size() >= cfg_.max_tokens) {
                    st.finish_reason = "length";
                    break;
                }
            }
            const int32_t n_rows = (int32_t) d.size() + 1;  // rows of this seq in the verify batch
            st.n_past += keep;
            st.id_last = ids[keep - 1];
            if (st.n_past + 2 >= n_ctx && st.finish_reason.empty()) {
                st.finish_reason = "length";  // context full
            }
            // drop the rejected (or truncated) rows: KV cells, or recurrent snapshots. Only when
            // there are any: touching the memory needlessly costs llama.cpp its graph reuse.
            if (keep < n_rows) {
                llama_memory_seq_rm(mem_tgt, s, st.n_past, -1);
                if (mem_dft) llama_memory_seq_rm(mem_dft, s, st.n_past, -1);
            }
        }
    }

    Context * tgt_;
    GenConfig cfg_;
    std::vector<SeqState> seqs_;
    std::unique_ptr<common_batch> batch_;
    std::unique_ptr<ContextUse> use_;  // released with the generator, also when prefill throws
    std::string error_;
    int32_t error_code_ = 0;
};

}  // namespace

void bind_generate(nb::module_ & m) {
    nb::class_<Generator>(m, "Generator",
                          "Low-level generation loop: prefill on construction, then step() until done. "
                          "Use llama_mtp.generate()/stream() instead.")
        .def(
            "__init__",
            [](Generator * self, Context & target_ref, Context * draft_ptr, const std::vector<std::vector<int32_t>> & prompts,
               int32_t max_tokens, int32_t n_draft_max, int32_t n_min, float p_min, float temperature, int32_t top_k,
               float top_p, float min_p, std::optional<uint32_t> seed, bool ignore_eos) {
                nb::object target = nb::find(&target_ref);
                nb::object draft = draft_ptr ? nb::find(draft_ptr) : nb::none();
                GenConfig c;
                c.max_tokens = max_tokens;
                c.n_draft_max = n_draft_max;
                c.n_min = n_min;
                c.p_min = p_min;
                c.sampling = {temperature, top_k, top_p, min_p};
                c.seed = seed.value_or(LLAMA_DEFAULT_SEED);
                c.ignore_eos = ignore_eos;
                new (self) Generator(target, draft, prompts, c);
            },
            nb::arg("target"), nb::arg("draft").none(), nb::arg("prompts"), nb::kw_only(), nb::arg("max_tokens"),
            nb::arg("n_draft_max") = 3, nb::arg("n_min") = 0, nb::arg("p_min") = 0.0f, nb::arg("temperature") = 0.0f,
            nb::arg("top_k") = 0, nb::arg("top_p") = 1.0f, nb::arg("min_p") = 0.0f, nb::arg("seed").none() = nb::none(),
            nb::arg("ignore_eos") = false,
            "Prefill the prompts (GIL released); generation happens in step().")
        .def("step", &Generator::step, "Run one step (GIL released); returns the new tokens of each sequence.")
        .def_prop_ro("done", &Generator::done, "True when every sequence has finished.")
        .def_prop_ro("tokens", &Generator::tokens, "Per sequence: the tokens generated so far.")
        .def_prop_ro("finish_reasons", &Generator::finish_reasons, "Per sequence: \"\" while running, then \"stop\" (EOS) or \"length\".")
        .def_prop_ro("n_past", &Generator::n_past, "Per sequence: positions held in the target's memory.")
        .def_prop_ro("session", [](Generator & g) -> MtpSession * { return g.session_.get(); }, nb::rv_policy::reference_internal,
                     nb::sig("def session(self) -> MtpSession | None"),
                     "The MtpSession driving the drafts (None without a draft context).")
        .def_ro("t_prompt", &Generator::t_prompt_, "Seconds spent on the prompt.")
        .def_ro("t_gen", &Generator::t_gen_, "Seconds spent in step().")
        .def_ro("n_prompt_tokens", &Generator::n_prompt_tokens_, "Prompt tokens prefilled, all sequences together.")
        .def_ro("n_steps", &Generator::n_steps_, "Target decodes (verify batches) so far.");
}

}  // namespace llama_mtp
