#include "generate.h"

#include <optional>
#include <string>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "draft_length.h"
#include "errors.h"
#include "generator.h"
#include "int_arg.h"
#include "model.h"
#include "py_strings.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// What a sequence asks for, from the keyword arguments __init__ and add() share.
SeqConfig seq_config(IntArg max_tokens, float temperature, IntArg top_k, float top_p, float min_p,
                     const std::optional<IntArg> & seed, bool ignore_eos, const std::vector<std::string> & stop,
                     IntArg n_draft, const Grammar * grammar, bool exact, bool ngram, bool sampled_drafts) {
    SeqConfig c;
    c.max_tokens = max_tokens.i32("max_tokens", 0);
    c.sampling = {temperature, top_k.i32("top_k", 0), top_p, min_p};
    validate_sampler_params(c.sampling);
    c.seed = seed ? seed_value(*seed) : LLAMA_DEFAULT_SEED;
    c.ignore_eos = ignore_eos;
    c.stop = stop;
    c.n_draft = n_draft.i32("n_draft", -1, 64);
    if (grammar) c.grammar = std::make_shared<const Grammar>(*grammar);
    c.exact = exact;
    c.ngram = ngram;
    c.sampled_drafts = sampled_drafts;
    return c;
}

// The generator-wide settings __init__ and with_slots share.
GenConfig gen_config(IntArg n_draft_max, bool adaptive, IntArg n_min, float p_min,
                     const std::optional<std::string> & ngram, IntArg ngram_n_max, IntArg ngram_size_n,
                     IntArg ngram_min_hits, IntArg ngram_n_min) {
    GenConfig c;
    c.n_draft_max = n_draft_max.i32("n_draft_max", 1, 64);
    c.adaptive = adaptive;
    c.n_min = n_min.i32("n_min", 0, c.n_draft_max);
    c.p_min = p_min;
    c.ngram = ngram.has_value();
    if (ngram) c.ngram_cfg.kind = ngram_kind_from_name(*ngram);
    c.ngram_cfg.n_max = ngram_n_max.i32("ngram_n_max", 1, 256);
    c.ngram_cfg.size_n = ngram_size_n.i32("ngram_size_n", 1, 64);
    c.ngram_cfg.min_hits = ngram_min_hits.i32("ngram_min_hits", 1, 1024);
    c.ngram_cfg.n_min = ngram_n_min.i32("ngram_n_min", 1, c.ngram_cfg.n_max);
    return c;
}

nb::dict tally_dict(const DrafterTally & t) {
    nb::dict d;
    d["steps"] = t.steps;
    d["drafts"] = t.drafts;
    d["draft_tokens"] = t.draft_tokens;
    d["accepted_tokens"] = t.accepted_tokens;
    d["acceptance_rate"] = t.draft_tokens > 0 ? (double) t.accepted_tokens / (double) t.draft_tokens : 0.0;
    d["accepted_at"] = t.accepted_at;
    return d;
}

constexpr const char * kStepDrafterNames[] = {"plain", "mtp", "ngram", "both"};

// The per-step logs from entry `start` on (a request reads its own steps: copying a long-lived
// server's whole history at every request's end would grow with its uptime).
size_t log_start(IntArg start) {
    return (size_t) start.in("start", 0, INT64_MAX);
}

OwnedArray<int32_t> draft_lengths_from(const Generator & g, size_t first) {
    const std::vector<int32_t> v = g.draft_lengths(first);
    return owned_array(v.data(), v.size());
}

std::vector<std::string> step_drafters_from(const Generator & g, size_t first) {
    std::vector<std::string> names;
    for (int8_t w : g.step_drafters(first)) names.emplace_back(kStepDrafterNames[w & 3]);
    return names;
}

OwnedArray<int32_t> step_draft_lengths_from(const Generator & g, size_t first) {
    const std::vector<int32_t> v = g.step_draft_lengths(first);
    return owned_array(v.data(), v.size());
}

std::vector<std::vector<int32_t>> prompt_lists(const Context & target, nb::handle prompts_in) {
    const int32_t n_vocab = vocab_size(target.model().get());
    std::vector<std::vector<int32_t>> prompts;
    for (nb::handle p : prompts_in) {
        prompts.push_back(token_list(p, n_vocab, "prompt token"));
    }
    return prompts;
}

#define LLAMA_MTP_SEQ_ARGS                                                                                            \
    nb::arg("temperature") = 0.0f, nb::arg("top_k") = 0, nb::arg("top_p") = 1.0f, nb::arg("min_p") = 0.0f,            \
    nb::arg("seed").none() = nb::none(), nb::arg("ignore_eos") = false, nb::arg("stop") = std::vector<std::string>{}, \
    nb::arg("n_draft") = -1, nb::arg("grammar").none() = nb::none(), nb::arg("exact") = false,                        \
    nb::arg("ngram") = true, nb::arg("sampled_drafts") = false
#define LLAMA_MTP_SEQ_SIG                                                                                         \
    "temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, " \
    "ignore_eos: bool = False, stop: collections.abc.Sequence[str] = [], n_draft: int = -1, "                     \
    "grammar: Grammar | None = None, exact: bool = False, ngram: bool = True, sampled_drafts: bool = False"
#define LLAMA_MTP_GEN_ARGS                                                                                  \
    nb::arg("n_draft_max") = 3, nb::arg("adaptive") = false, nb::arg("n_min") = 0, nb::arg("p_min") = 0.0f, \
    nb::arg("ngram").none() = nb::none(), nb::arg("ngram_n_max") = 16, nb::arg("ngram_size_n") = 3,         \
    nb::arg("ngram_min_hits") = 1, nb::arg("ngram_n_min") = 1
#define LLAMA_MTP_GEN_SIG                                                                                          \
    "n_draft_max: int = 3, adaptive: bool = False, n_min: int = 0, p_min: float = 0.0, ngram: str | None = None, " \
    "ngram_n_max: int = 16, ngram_size_n: int = 3, ngram_min_hits: int = 1, ngram_n_min: int = 1"

}  // namespace

void bind_generate(nb::module_ & m) {
    m.def(
        "argmax",
        [](nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> logits) {
            if (logits.shape(0) > (size_t) INT32_MAX) {
                throw InvalidArgumentError("argmax: more than 2**31 - 1 values");
            }
            const float * data = logits.data();
            const int32_t n = (int32_t) logits.shape(0);
            nb::gil_scoped_release release;
            return argmax(data, n);
        },
        nb::arg("logits"),
        "The greedy pick of generate(): index of the first maximum of a float32 vector (NaN "
        "never wins; 0 for an empty vector or one without a value above -inf).");
    nb::class_<SeqConfig>(m, "SequenceOptions", "What one sequence of a Generator asks for (add_sequences()).")
        .def(
            "__init__",
            [](SeqConfig * self, IntArg max_tokens, float temperature, IntArg top_k, float top_p, float min_p,
               std::optional<IntArg> seed, bool ignore_eos, const std::vector<std::string> & stop, IntArg n_draft,
               const Grammar * grammar, bool exact, bool ngram, bool sampled_drafts,
               const std::vector<std::pair<IntArg, float>> & logit_bias, IntArg n_probs) {
                SeqConfig c = seq_config(max_tokens, temperature, top_k, top_p, min_p, seed, ignore_eos, stop, n_draft,
                                         grammar, exact, ngram, sampled_drafts);
                for (const auto & [token, bias] : logit_bias) c.logit_bias.push_back({token.i32("token", 0), bias});
                c.n_probs = n_probs.i32("n_probs", -1, kMaxProbs);
                new (self) SeqConfig(std::move(c));
            },
            nb::kw_only(), nb::arg("max_tokens"), LLAMA_MTP_SEQ_ARGS,
            nb::arg("logit_bias") = std::vector<std::pair<IntArg, float>>{}, nb::arg("n_probs") = 0,
            nb::sig("def __init__(self, *, max_tokens: int, " LLAMA_MTP_SEQ_SIG
                    ", logit_bias: collections.abc.Sequence[tuple[int, float]] = [], n_probs: int = 0) -> None"),
            "Validated sequence options, as add() takes them (seed: exactly this sequence's). logit_bias: "
            "(token, bias) pairs added to the target's logits before every pick (-inf bans a token). n_probs: "
            "keep each generated token's log-probability and its row's n_probs most probable candidates "
            "(Generator.take_probs(); -1: the token's alone).")
        .def_ro("max_tokens", &SeqConfig::max_tokens, "Most tokens the sequence generates.")
        .def_ro("n_draft", &SeqConfig::n_draft, "-1: the generator's draft length; 0: none; n: at most n.")
        .def_ro("stop", &SeqConfig::stop, "Strings that end the sequence.")
        .def_ro("ngram", &SeqConfig::ngram,
                "Whether the sequence may verify drafts taken from its own text (where the generator has an "
                "n-gram drafter).")
        .def_ro("exact", &SeqConfig::exact,
                "Exact mode: every decode with a row of this sequence is batch-invariant, so its tokens are "
                "those of one-token-at-a-time decoding.")
        .def_ro("sampled_drafts", &SeqConfig::sampled_drafts,
                "At temperature > 0 without a grammar: MTP drafts sampled from the head's distribution and "
                "verified by rejection sampling (False: the head's top token and sample-and-match).");
    nb::class_<TokenProbs>(m, "TokenProbs",
                           "A generated token's log-probability under the target's distribution (the softmax of "
                           "its raw logits) and the most probable tokens of the same row, most probable first.")
        .def_ro("token", &TokenProbs::token, "The generated token.")
        .def_ro("logprob", &TokenProbs::logprob, "Its natural log-probability (<= 0).")
        .def_ro("top_ids", &TokenProbs::top_ids, "The most probable tokens of its row.")
        .def_ro("top_logprobs", &TokenProbs::top_logprobs, "Their log-probabilities.");
    nb::class_<Generator>(m, "Generator",
                          "Low-level generation loop: prefill on construction, then step() until done. "
                          "Use llama_mtp.generate()/stream() instead.")
        .def(
            "__init__",
            [](Generator * self, std::shared_ptr<Context> target, std::shared_ptr<Context> draft, nb::handle prompts_in,
               IntArg max_tokens, IntArg n_draft_max, bool adaptive, IntArg n_min, float p_min,
               std::optional<std::string> ngram, IntArg ngram_n_max, IntArg ngram_size_n, IntArg ngram_min_hits,
               IntArg ngram_n_min, float temperature, IntArg top_k, float top_p, float min_p,
               std::optional<IntArg> seed, bool ignore_eos, const std::vector<std::string> & stop, IntArg n_draft,
               const Grammar * grammar, bool exact, bool seq_ngram, bool sampled_drafts) {
                if (!target) throw nb::type_error("target must be a Context, not None");
                const auto prompts = prompt_lists(*target, prompts_in);
                GenConfig c = gen_config(n_draft_max, adaptive, n_min, p_min, ngram, ngram_n_max, ngram_size_n,
                                         ngram_min_hits, ngram_n_min);
                c.seq = seq_config(max_tokens, temperature, top_k, top_p, min_p, seed, ignore_eos, stop, n_draft,
                                   grammar, exact, seq_ngram, sampled_drafts);
                new (self) Generator(std::move(target), std::move(draft), prompts, c);
            },
            nb::arg("target"), nb::arg("draft").none(), nb::arg("prompts"), nb::kw_only(), nb::arg("max_tokens"),
            LLAMA_MTP_GEN_ARGS, nb::arg("temperature") = 0.0f, nb::arg("top_k") = 0, nb::arg("top_p") = 1.0f,
            nb::arg("min_p") = 0.0f, nb::arg("seed").none() = nb::none(), nb::arg("ignore_eos") = false,
            nb::arg("stop") = std::vector<std::string>{}, nb::arg("n_draft") = -1,
            nb::arg("grammar").none() = nb::none(), nb::arg("exact") = false, nb::arg("seq_ngram") = true,
            nb::arg("sampled_drafts") = false,
            nb::sig("def __init__(self, target: Context, draft: Context | None, prompts: "
                    "collections.abc.Sequence[collections.abc.Sequence[int] | numpy.ndarray], *, max_tokens: "
                    "int, " LLAMA_MTP_GEN_SIG ", temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, "
                    "min_p: float = 0.0, seed: int | None = None, ignore_eos: bool = False, "
                    "stop: collections.abc.Sequence[str] = [], n_draft: int = -1, grammar: Grammar | None = None, "
                    "exact: bool = False, seq_ngram: bool = True, sampled_drafts: bool = False) -> None"),
            "Prefill the prompts (GIL released); generation happens in step(). adaptive: a "
            "DraftController picks each step's draft length, up to n_draft_max. Sequence i is seeded "
            "seed + i. n_draft: -1 follows the generator, 0 turns drafting off, n drafts at most n. "
            "grammar: a Grammar that sampling and verification go through (upstream's grammar sampler). "
            "ngram: an n-gram drafter of upstream's (\"ngram-simple\", \"ngram-map-k\", \"ngram-map-k4v\", "
            "\"ngram-mod\"; None: none) drafting from each sequence's own text, up to ngram_n_max tokens, "
            "matching ngram_size_n tokens; with adaptive, an NgramController decides per step whether it pays. "
            "seq_ngram: whether these sequences may use it.")
        .def_static(
            "with_slots",
            [](std::shared_ptr<Context> target, std::shared_ptr<Context> draft, IntArg n_slots, IntArg n_draft_max,
               bool adaptive, IntArg n_min, float p_min, std::optional<std::string> ngram, IntArg ngram_n_max,
               IntArg ngram_size_n, IntArg ngram_min_hits, IntArg ngram_n_min) {
                if (!target) throw nb::type_error("target must be a Context, not None");
                const GenConfig c = gen_config(n_draft_max, adaptive, n_min, p_min, ngram, ngram_n_max, ngram_size_n,
                                               ngram_min_hits, ngram_n_min);
                return std::make_unique<Generator>(std::move(target), std::move(draft), n_slots.i32("n_slots", 1), c);
            },
            nb::arg("target"), nb::arg("draft").none(), nb::kw_only(), nb::arg("n_slots"), LLAMA_MTP_GEN_ARGS,
            "A generator with n_slots empty sequence slots for continuous batching: add() prompts between "
            "steps, cancel() and release() finished ones.")
        .def(
            "add",
            [](Generator & g, nb::handle prompts_in, IntArg max_tokens, float temperature, IntArg top_k, float top_p,
               float min_p, std::optional<IntArg> seed, bool ignore_eos, const std::vector<std::string> & stop,
               IntArg n_draft, const Grammar * grammar, bool exact, bool ngram, bool sampled_drafts) {
                const auto prompts = prompt_lists(g.target(), prompts_in);
                SeqConfig c = seq_config(max_tokens, temperature, top_k, top_p, min_p, seed, ignore_eos, stop, n_draft,
                                         grammar, exact, ngram, sampled_drafts);
                std::vector<SeqConfig> cfgs(prompts.size(), c);
                for (size_t i = 0; i < cfgs.size(); ++i) cfgs[i].seed = c.seed + (uint32_t) i;
                return g.add(prompts, cfgs);
            },
            nb::arg("prompts"), nb::kw_only(), nb::arg("max_tokens"), LLAMA_MTP_SEQ_ARGS,
            nb::sig("def add(self, prompts: collections.abc.Sequence[collections.abc.Sequence[int] | numpy.ndarray], "
                    "*, max_tokens: int, " LLAMA_MTP_SEQ_SIG ") -> list[int]"),
            "Prefill prompts into free slots between steps (GIL released) and return their slots; the "
            "other sequences go on where they were. Raises GeneratorFullError without enough free slots.")
        .def(
            "add_sequences",
            [](Generator & g, nb::handle prompts_in, const std::vector<const SeqConfig *> & options,
               bool join_next_step) {
                const auto prompts = prompt_lists(g.target(), prompts_in);
                std::vector<SeqConfig> cfgs;
                for (const SeqConfig * o : options) {
                    if (o == nullptr) throw InvalidArgumentError("add_sequences: an option set is None");
                    cfgs.push_back(*o);
                }
                return g.add(prompts, cfgs, join_next_step);
            },
            nb::arg("prompts"), nb::arg("options"), nb::kw_only(), nb::arg("join_next_step") = false,
            nb::sig("def add_sequences(self, prompts: collections.abc.Sequence[collections.abc.Sequence[int] | "
                    "numpy.ndarray], options: collections.abc.Sequence[SequenceOptions], *, "
                    "join_next_step: bool = False) -> list[int]"),
            "Like add(), with SequenceOptions of its own for each prompt (requests that differ in "
            "their options). join_next_step: the prompts are decoded in the next step's batch, beside "
            "the other sequences' verify rows (one decode instead of two: what a server wants), where "
            "the target allows it (not recurrent or hybrid, room in n_batch); else they are "
            "prefilled now.")
        .def("cancel", &Generator::cancel, nb::arg("seq"),
             "Stop sequence seq now (finish reason \"cancelled\"); its slot stays taken until release().")
        .def("release", &Generator::release, nb::arg("seq"),
             "Free the slot of a finished or cancelled sequence. Its memory stays: a later prompt that begins "
             "with the same tokens decodes only the rest (see n_cached).")
        .def_prop_ro("n_slots", &Generator::n_slots, "Sequence slots (the prompts given, or with_slots()' n_slots).")
        .def_prop_ro("free_slots", &Generator::free_slots, "Slots add() can fill.")
        .def_prop_ro("active_slots", &Generator::active_slots, "Slots whose sequence is still generating.")
        .def_prop_ro("joining_slots", &Generator::joining_slots,
                     "Slots whose prompt the next step decodes (added with join_next_step=True where it fit "
                     "that step's batch); that decode gives their first token.")
        .def("step", &Generator::step, "Run one step (GIL released); returns the new tokens of each sequence.")
        .def_prop_ro("done", &Generator::done, "True when every sequence has finished.")
        .def_prop_ro("tokens", &Generator::tokens, "Per sequence: the tokens generated so far.")
        .def_prop_ro("finish_reasons", &Generator::finish_reasons,
                     "Per sequence: \"\" while running (or a free slot), then \"stop\" (EOS or a stop string), "
                     "\"length\" or \"cancelled\".")
        .def(
            "take_text", [](Generator & g, int32_t s) { return utf8_lenient(g.take_text(s)); }, nb::arg("seq"),
            "Text of sequence seq not handed out yet, as far as it is final: never an incomplete "
            "character, never the start of a possible stop string (all of it once the sequence ended).")
        .def("take_probs", &Generator::take_probs, nb::arg("seq"),
             "The log-probabilities of sequence seq's tokens generated since the last call (its "
             "SequenceOptions' n_probs; empty without).")
        .def(
            "text", [](const Generator & g, int32_t s) { return utf8_lenient(g.text(s)); }, nb::arg("seq"),
            "The whole text of sequence seq so far, cut where a stop string begins.")
        .def_prop_ro("n_past", &Generator::n_past, "Per sequence: positions held in the target's memory.")
        .def_prop_ro("failure", &Generator::failure,
                     "Why an earlier step or prefill failed (\"\" while healthy); a failed generator takes no more "
                     "work.")
        .def_prop_ro("interruptible", &Generator::interruptible,
                     "Whether Ctrl-C on the main thread may stop a step or prefill midway (failing the generator; "
                     "default True); see set_interruptible().")
        .def("adapt_threads", &Generator::adapt_threads, nb::arg("on"),
             "The auto thread count on or off: each step then decodes with the count a "
             "ThreadController chooses, from 1 to the contexts' count now (off: that count again).")
        .def_prop_ro("adapting_threads", &Generator::adapting_threads, "Whether adapt_threads(True) is on.")
        .def_prop_ro("threads", &Generator::threads, "The thread count of the next step.")
        .def_prop_ro("thread_steps", &Generator::thread_steps,
                     "How many steps ran with each thread count (index: the count) since adapt_threads(True).")
        .def("set_interruptible", &Generator::set_interruptible, nb::arg("on"),
             "On: Ctrl-C on the main thread may stop a step or prefill midway (the generator then fails). Off: "
             "the call runs to its end and Python raises KeyboardInterrupt after it (the LLM's scheduler turns it "
             "off while the generator holds other callers' sequences).")
        .def_prop_ro("n_cached", &Generator::n_cached,
                     "Per sequence: prompt tokens taken from the KV its slot kept (not decoded again).")
        .def_prop_ro(
            "session", [](Generator & g) -> MtpSession * { return g.session(); }, nb::rv_policy::reference_internal,
            nb::sig("def session(self) -> MtpSession | None"),
            "The MtpSession driving the drafts (None without a draft context).")
        .def_prop_ro(
            "draft_lengths", [](const Generator & g) { return draft_lengths_from(g, 0); }, nb::rv_policy::move,
            nb::sig("def draft_lengths(self) -> numpy.ndarray[dtype=int32]"),
            "The draft length asked for at each step (int32 array; 0: plain decoding; empty without "
            "a draft context).")
        .def(
            "draft_lengths_from",
            [](const Generator & g, IntArg start) { return draft_lengths_from(g, log_start(start)); }, nb::arg("start"),
            nb::rv_policy::move, nb::sig("def draft_lengths_from(self, start: int) -> numpy.ndarray[dtype=int32]"),
            "draft_lengths[start:], without copying the entries before it.")
        .def_prop_ro(
            "n_draft_lengths", [](const Generator & g) { return (int64_t) g.n_draft_lengths(); },
            "len(draft_lengths), without copying it.")
        .def_prop_ro("draft_length_counts", &Generator::draft_length_counts,
                     "Steps that asked for each draft length, 0..n_draft_max (of the sequences that follow "
                     "the generator's length).")
        .def(
            "start_controller_from",
            [](Generator & g, nb::handle state) {
                const DraftPrior p = prior_from_dict(state);
                nb::gil_scoped_release release;
                g.start_controller_from(p);
            },
            nb::arg("state"), nb::sig("def start_controller_from(self, state: dict[str, typing.Any]) -> None"),
            "With n_draft_max=\"auto\", before the first step: the controller of one-sequence steps "
            "starts from an earlier DraftController.state() (DraftController.start_from).")
        .def_prop_ro("controller", &Generator::controller, nb::sig("def controller(self) -> DraftController | None"),
                     "A snapshot of the adaptive draft length's state (None unless adaptive).")
        .def_prop_ro(
            "ngram",
            [](const Generator & g) -> std::optional<std::string> {
                if (!g.ngram()) return std::nullopt;
                return std::string(ngram_kind_name(g.ngram()->config().kind));
            },
            "The n-gram drafter's name (upstream's --spec-type name), None without one.")
        .def_prop_ro(
            "drafter_stats",
            [](const Generator & g) {
                nb::dict d;
                d["mtp"] = tally_dict(g.drafter_tally(StepDrafter::MTP));
                d["ngram"] = tally_dict(g.drafter_tally(StepDrafter::NGRAM));
                return d;
            },
            nb::sig("def drafter_stats(self) -> dict[str, dict[str, typing.Any]]"),
            "Per drafter (\"mtp\", \"ngram\"): steps that verified its drafts, drafts, draft_tokens, "
            "accepted_tokens, acceptance_rate, accepted_at (accepted_at[i]: drafts with more than i accepted).")
        .def(
            "sequence_drafter_stats",
            [](const Generator & g, IntArg slot) {
                const int32_t s = slot.i32("slot", 0);
                nb::dict d;
                d["mtp"] = tally_dict(g.sequence_tally(s, StepDrafter::MTP));
                d["ngram"] = tally_dict(g.sequence_tally(s, StepDrafter::NGRAM));
                return d;
            },
            nb::arg("slot"), nb::sig("def sequence_drafter_stats(self, slot: int) -> dict[str, dict[str, typing.Any]]"),
            "drafter_stats of the sequence in slot alone (its steps is 0): what its own drafts did, "
            "whatever else shared the batches.")
        .def_prop_ro(
            "step_drafters", [](const Generator & g) { return step_drafters_from(g, 0); },
            "Per step (n_steps of them): whose drafts it verified (\"plain\", \"mtp\", \"ngram\", "
            "or \"both\" where sequences of one step differed).")
        .def(
            "step_drafters_from",
            [](const Generator & g, IntArg start) { return step_drafters_from(g, log_start(start)); }, nb::arg("start"),
            "step_drafters[start:], without converting the entries before it.")
        .def_prop_ro(
            "step_draft_lengths", [](const Generator & g) { return step_draft_lengths_from(g, 0); },
            nb::rv_policy::move, nb::sig("def step_draft_lengths(self) -> numpy.ndarray[dtype=int32]"),
            "Per step (n_steps of them): the longest draft it verified (0: plain).")
        .def(
            "step_draft_lengths_from",
            [](const Generator & g, IntArg start) { return step_draft_lengths_from(g, log_start(start)); },
            nb::arg("start"), nb::rv_policy::move,
            nb::sig("def step_draft_lengths_from(self, start: int) -> numpy.ndarray[dtype=int32]"),
            "step_draft_lengths[start:], without copying the entries before it.")
        .def_ro("t_draft", &Generator::t_draft, "Seconds of step() spent drafting.")
        .def_ro("t_verify", &Generator::t_verify,
                "Seconds of step() spent on the verify batch: target decode, sampling, trimming.")
        .def_ro("t_process", &Generator::t_process, "Seconds of step() spent in process().")
        .def_ro("t_prompt", &Generator::t_prompt, "Seconds spent on the prompt.")
        .def_ro("t_gen", &Generator::t_gen, "Seconds spent in step().")
        .def_ro("n_prompt_tokens", &Generator::n_prompt_tokens, "Prompt tokens prefilled, all sequences together.")
        .def_ro("n_steps", &Generator::n_steps, "Target decodes (verify batches) so far.");
}

}  // namespace llama_mtp
