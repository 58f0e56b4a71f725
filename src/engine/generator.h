#pragma once
// The speculative generation loop (draft -> verify batch -> decode -> process -> verify ->
// accept -> trim KV) in C++, one GIL-free step per call. Compiled for speed in the engine
// library; bindings/generate.cpp only binds it.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "context.h"
#include "draft_control.h"
#include "grammar.h"
#include "greedy.h"
#include "mtp.h"
#include "ngram_control.h"
#include "ngram_draft.h"
#include "sampler.h"
#include "text.h"
#include "thread_control.h"
#include "threads.h"
#include "token_probs.h"

struct common_batch;

namespace llama_mtp {

// What one sequence asks for. Sequences of one generator may differ in all of it.
struct SeqConfig {
    int32_t max_tokens = 128;
    SamplerParams sampling;  // temperature <= 0: greedy (the loop's own argmax, or the grammar's)
    uint32_t seed = LLAMA_DEFAULT_SEED;
    // as llama.cpp's --ignore-eos (a -inf logit bias): end-of-generation tokens are never
    // picked, so the sequence runs to max_tokens
    bool ignore_eos = false;
    std::vector<std::string> stop;           // the sequence ends where one of these appears in its text
    int32_t n_draft = -1;                    // -1: the generator's length (adaptive or n_draft_max); 0: none
    std::shared_ptr<const Grammar> grammar;  // sampling (and verification) through it; null: none
    // Exact mode: every decode with a row of this sequence is batch-invariant (BatchInvariant),
    // so its tokens are those of one-token-at-a-time decoding whatever shares the batch.
    bool exact = false;
    // May verify drafts taken from its own text, where the generator has an n-gram drafter
    // (GenConfig::ngram); n_draft governs the MTP drafts alone.
    bool ngram = true;
    // At temperature > 0 without a grammar: MTP drafts sampled from the head's distribution and
    // verified by rejection sampling (rejection.h); false (the default): the head's top token,
    // sample-and-match, whose text depends on the seed alone.
    bool sampled_drafts = false;
    // added to the target's logits before every pick (greedy, sampled, grammar); -inf bans a
    // token. Any order; a token given twice adds both.
    std::vector<llama_logit_bias> logit_bias;
    // > 0: each generated token's log-probability and the n_probs most probable candidates of
    // its row are kept (take_probs()); -1 the token's alone; 0 none.
    int32_t n_probs = 0;
};

struct GenConfig {
    int32_t n_draft_max = 3;  // with adaptive: the longest draft the controller may choose
    bool adaptive = false;    // a DraftController picks the length of each step
    int32_t n_min = 0;
    float p_min = 0.0f;
    SeqConfig seq;  // the prompts given to the constructor: sequence i is seeded seq.seed + i
    // Drafts from the text (any model): with adaptive, an NgramController decides per step and
    // sequence whether an n-gram draft (and how much of it) beats the MTP draft or plain
    // decoding; without, an n-gram draft is verified whole wherever the text offers one.
    bool ngram = false;
    NgramConfig ngram_cfg;
};

// What one drafter did (Generator::drafter_tally): steps that verified a draft of it, those
// drafts, their tokens, and how many were accepted (at[i]: drafts with more than i accepted).
struct DrafterTally {
    int64_t steps = 0, drafts = 0, draft_tokens = 0, accepted_tokens = 0;
    std::vector<int64_t> accepted_at;
};

enum class StepDrafter : int8_t { PLAIN = 0, MTP = 1, NGRAM = 2, BOTH = 3 };

class Generator {
public:
    // Keeps its contexts alive for its lifetime; draft null: plain decoding.
    Generator(std::shared_ptr<Context> target, std::shared_ptr<Context> draft,
              const std::vector<std::vector<int32_t>> & prompts, const GenConfig & cfg);
    // A generator with n_slots empty sequence slots, filled by add() (continuous batching).
    Generator(std::shared_ptr<Context> target, std::shared_ptr<Context> draft, int32_t n_slots, const GenConfig & cfg);
    ~Generator();
    Generator(const Generator &) = delete;
    Generator & operator=(const Generator &) = delete;

    // Put prompts into free slots and return the slots. Between steps: the other sequences keep
    // their state. A prompt is decoded as llama-completion decodes it (the same KV, the same
    // first token): in n_batch batches from its first uncached position, the last batch holding
    // its last token, whose logits give the first token. That last batch joins the next step
    // when the step has room for it, and the batches before it are decoded now (GIL released).
    // join_next_step: join beside other sequences' verify rows too (what a server wants: one
    // decode instead of two). Where the last batch cannot join, and always on a recurrent or
    // hybrid target (whose state before the last token is kept for a chat's next turn, see
    // add()), everything but the last token is decoded now and the last token goes into the
    // sequence's first verify batch (the layout of upstream's speculative-simple).
    std::vector<int32_t> add(const std::vector<std::vector<int32_t>> & prompts, const std::vector<SeqConfig> & cfgs,
                             bool join_next_step = false);
    // Stop sequence s now (finish reason "cancelled"); its slot stays taken until release().
    void cancel(int32_t s);
    // Free slot s (its sequence must have finished or been cancelled): its KV and draft state go.
    void release(int32_t s);
    int32_t n_slots() const { return (int32_t) seqs_.size(); }
    // Slots free for add(), and those whose sequence is still generating.
    std::vector<int32_t> free_slots() const;
    std::vector<int32_t> active_slots() const;
    // slots whose prompt the next step decodes (add(..., join_next_step) joined it to that batch)
    std::vector<int32_t> joining_slots() const;

    // True when no slot is generating (a slotted generator with nothing added is done too).
    bool done() const;
    // One speculative step for every active sequence; returns the new tokens per sequence.
    std::vector<std::vector<int32_t>> step();

    std::vector<std::vector<int32_t>> tokens() const;
    std::vector<std::string> finish_reasons() const;
    std::vector<int32_t> n_past() const;
    // Per slot: how many of its prompt's tokens came from the KV the slot kept (not decoded again).
    std::vector<int32_t> n_cached() const;
    // Why an earlier step or prefill failed ("" while healthy): a failed generator takes no more work.
    const std::string & failure() const { return failed_; }
    // Whether an interrupt (Ctrl-C) may stop a step or prefill midway, failing the generator:
    // its embedder turns it off while the generator holds other callers' sequences, so that one
    // caller's Ctrl-C does not end theirs (the interrupt then comes after the call).
    bool interruptible() const { return interruptible_; }
    void set_interruptible(bool on) { interruptible_ = on; }
    // Text of sequence s not handed out yet, as far as it is final (see SequenceText::take).
    std::string take_text(int32_t s);
    // The probabilities of sequence s's tokens generated since the last call (SeqConfig::n_probs).
    std::vector<TokenProbs> take_probs(int32_t s);
    // The whole text of sequence s so far (cut at a stop string).
    std::string text(int32_t s) const;
    MtpSession * session() const { return session_.get(); }
    Context & target() const { return *tgt_; }
    // Snapshots, taken under the target's lock (step() may run in another thread): the
    // controller (none without n_draft_max="auto"), and the draft length asked for at each step.
    std::optional<DraftController> controller() const;
    // With n_draft_max="auto", before the first step: the controller of one-sequence steps starts
    // from what an earlier one learned (DraftController::start_from).
    void start_controller_from(const DraftPrior & prior);
    // (from entry `first` on: what one request's steps asked for)
    std::vector<int32_t> draft_lengths(size_t first = 0) const;
    size_t n_draft_lengths() const;
    // How many steps asked for each draft length 0..n_draft_max (a server's running tally).
    std::vector<int64_t> draft_length_counts() const;
    // Per drafter: what was verified and accepted (MTP: the same as the session's statistics,
    // for the drafts the generator made).
    DrafterTally drafter_tally(StepDrafter which) const;
    // The drafts of the sequence in slot s alone (which: MTP or NGRAM): per-request metrics.
    DrafterTally sequence_tally(int32_t s, StepDrafter which) const;
    // Per step (n_steps of them; from step `first` on): whose drafts it verified, and the longest.
    std::vector<int8_t> step_drafters(size_t first = 0) const;
    std::vector<int32_t> step_draft_lengths(size_t first = 0) const;
    const NgramDrafter * ngram() const { return ngram_.get(); }
    // The auto thread count: each step runs with the count a ThreadController chooses, from 1 to
    // the contexts' count when it is turned on (the ceiling); off: the ceiling again.
    void adapt_threads(bool on);
    bool adapting_threads() const;
    // The thread count of the next step, and how many steps ran with each count (index: count).
    int32_t threads() const;
    std::vector<int64_t> thread_steps() const;

    double t_prompt = 0, t_gen = 0;
    double t_draft = 0, t_verify = 0, t_process = 0;  // the steps' split (verify: decode, picks, trims)
    int64_t n_prompt_tokens = 0, n_steps = 0;
    double t_prompt_last_ = 0;  // the last add()'s prefill
    double last_step_end_ = 0;  // when the last step() ended (0: none yet, or an add() since)
    double between_steps_ = 0;  // the caller's time between the last two steps

private:
    struct SeqState {
        bool used = false;                    // the slot holds a sequence (generating or finished, not released)
        bool stale = false;                   // its draft context skipped steps and must start over
        std::vector<int32_t> pending_prompt;  // prompt rows the next step decodes, the last with logits
        int32_t prefill_pos = 0;              // position of the first prompt row still to decode
        std::vector<int32_t> prompt;
        bool no_row = false;  // stale, and no verify row of it holds the hidden state to restart from
        // what the draft context skipped while stale (plain steps): the tokens of positions
        // lag_pos.. and the target's NextN row of each, decoded in one batch when drafting
        // resumes (or every kLagFlush positions) so that the draft context keeps its whole
        // history; lag_pos -1: no complete record (the draft context starts over instead)
        int32_t lag_pos = -1;
        std::vector<int32_t> lag_tokens;
        std::vector<float> lag_hidden;
        bool lag_complete() const { return lag_pos >= 0 && lag_pos + (int32_t) lag_tokens.size() == n_past; }
        bool waiting() const { return !pending_prompt.empty(); }
        SeqConfig cfg;
        int32_t id_last = 0;
        int32_t n_past = 0;  // position at which id_last is decoded next
        int32_t n_prompt = 0;
        int32_t n_cached = 0;  // prompt tokens reused from the slot's kept KV
        // recurrent/hybrid targets: the recurrent state after the prompt (all but its last token),
        // kept for a next prompt that begins with the prompt but not with the reply
        std::vector<uint8_t> checkpoint;
        std::vector<float> checkpoint_hidden;  // the draft context's pending row there (draft-mtp's)
        std::vector<int32_t> generated;
        std::string finish_reason;  // "" while active, then "stop" (EOS or a stop string) or "length"
        SequenceText text;
        SamplerPtr sampler;                  // null when greedy
        std::mt19937 draft_rng;              // sampled drafts' and their verification's draws (seeded)
        CommonSamplerPtr grammar_sampler;    // sequences with a grammar (then sampler is null)
        int32_t row = 0;                     // first row of this sequence in the current verify batch
        bool kv_exact = false;               // exact, and so is every KV row it holds (reused ones too)
        bool ngram_begun = false;            // the n-gram drafter has its history
        std::vector<int32_t> ngram_draft;    // this step's n-gram draft (empty: none)
        DrafterTally tally[2];               // its own drafts: [0] MTP, [1] n-gram (steps left 0)
        std::vector<llama_logit_bias> bias;  // cfg.logit_bias and ignore_eos's bans, by token, once each
        std::vector<TokenProbs> probs;       // not taken yet (cfg.n_probs)
    };

    // Runs f with the GIL released, both contexts locked and Ctrl-C watched; a failure marks
    // the generator failed (its sequences' state is unknown after it).
    template <typename F>
    void locked(F && f);
    void check_sequence(int32_t s) const;
    void init(int32_t n_slots);
    void restart_clean(int32_t s, llama_memory_t mem_dft);
    // A stale sequence's draft context back in step: the skipped positions decoded from its lag
    // record, or (without a complete one) started over at the current position.
    void bring_in_step(int32_t s, const float * hidden, llama_memory_t mem_dft);
    // A step that skipped the draft context kept `keep` rows of sequence s (its batch rows from
    // st.row on): their tokens and NextN rows join its lag record.
    void note_lag(int32_t s, int32_t keep, const std::vector<int32_t> & draft, llama_context * target,
                  llama_memory_t mem_dft);
    static void drop_lag(SeqState & st);
    // Keep the first n_kept positions of slot s's KV for its new sequence, drop the rest.
    // n_kept: from the slot's kept memory; a recurrent state rolled back to its checkpoint first
    void reuse_prefix(int32_t s, int32_t n_kept, bool from_checkpoint, const Context::Lock & target,
                      llama_memory_t mem_dft);
    void take_checkpoint(int32_t s, const Context::Lock & target);
    // A prefix kept in part: the draft context's pending row is the one of the last position the
    // slot's sequence decoded; the target decodes the prefix's last position again for its row.
    void pend_prefix_row(int32_t s, int32_t n_kept, int32_t token, const Context::Lock & target);
    // A joining sequence's prompt was decoded (processed: by the draft context too).
    void finish_prefill(int32_t s, bool processed);
    void check_prompt(const std::vector<int32_t> & p) const;
    // Decodes prompt i from its slot's prefill_pos up to ends[i]; the sequences whose last batch
    // does not join the next step (joins[i] false) are ready to draft afterwards.
    // Returns how many tokens it decoded.
    int64_t prefill(const std::vector<int32_t> & slots, const std::vector<std::vector<int32_t>> & prompts,
                    const std::vector<size_t> & ends, const std::vector<bool> & joins, const Context::Lock & target);
    // The most rows one active sequence adds to a step's batch (its last token and a draft).
    int64_t step_rows_per_sequence() const;
    int32_t pick(SeqState & st, int32_t row, llama_context * ctx);
    // The tokens a step keeps for st (rows from st.row): the draft d's accepted prefix and one
    // token of the target's own (generator_verify.cpp). q: the distribution each token of d was
    // sampled from (empty: d is a point mass).
    void verify(SeqState & st, const std::vector<int32_t> & d, const std::vector<std::vector<llama_token_data>> & q,
                llama_context * ctx, std::vector<int32_t> & ids);
    // Before drafting for s: a sampled draft of up to n_max tokens when its options ask for one.
    void arm_sampled_draft(int32_t s, int32_t n_max);
    void step_locked(std::vector<std::vector<int32_t>> & out, const Context::Lock & target, llama_memory_t mem_dft);
    // This step's n-gram drafts (SeqState::ngram_draft) of the active sequences; k: the MTP
    // length the controller chose. Returns how many sequences verify one.
    int32_t plan_ngram(const std::vector<int32_t> & active, int32_t k);
    // After the verify: sequence s verified `drafted` tokens of `who`, `accepted` of them taken.
    void tally(StepDrafter who, int32_t drafted, int32_t accepted, SeqState & st);
    void log_step(const std::vector<int32_t> & active, const std::vector<const std::vector<int32_t> *> & drafts);
    // Whether the next step's batch has a row of an exact sequence (active, or joining with its prompt).
    bool step_is_exact() const;
    // Steps with the auto thread count (generator_threads.cpp): the count before a step, what it
    // cost after it.
    void use_threads();
    void observe_threads(int64_t shape, double wall, double cpu);
    void set_threads(int32_t n);  // both contexts' count (threads_mu_ held)

    std::shared_ptr<Context> target_, draft_;
    std::unique_ptr<MtpSession> session_;
    // With n_draft_max="auto": one controller per band of batch sizes (1, 2, 3-4, 5-8, ...). What
    // a length costs per sequence depends on how many sequences share the verify batch, so a
    // server whose load changes keeps what it learned for each load; controller_ is the band of
    // the current step (null without adaptive, or before the first step).
    std::vector<std::unique_ptr<DraftController>> controllers_;
    DraftController * controller_ = nullptr;
    std::optional<DraftPrior> prior_;  // for the one-sequence band's controller, when it is made
    bool adaptive_ = false;
    // What a released slot's memory still holds: a new prompt with the same beginning (the next
    // turn of a chat) decodes only the rest. Attention-only targets reuse any common prefix;
    // recurrent and hybrid ones hold the state of the last position only, so they reuse it when
    // the new prompt extends the kept tokens exactly (extend_only_).
    struct SlotCache {
        std::vector<int32_t> tokens;
        bool draft_ok = false;  // the draft context holds those positions too
        bool exact = false;     // every one of them was decoded batch-invariant
        // extend_only_: the recurrent state after tokens[0, n_checkpoint) (SeqState::checkpoint)
        std::vector<uint8_t> checkpoint;
        int32_t n_checkpoint = 0;
        std::vector<float> checkpoint_hidden;
    };
    std::vector<SlotCache> cache_;
    bool extend_only_ = false;
    std::vector<int32_t> draft_lengths_;
    std::vector<int64_t> draft_length_counts_;
    std::unique_ptr<NgramDrafter> ngram_;
    std::unique_ptr<NgramController> ngram_ctl_;  // adaptive n-gram drafting
    DrafterTally mtp_tally_, ngram_tally_;
    std::vector<int8_t> step_drafters_;
    std::vector<int32_t> step_draft_lengths_;
    bool hidden_on_ = true;    // the target outputs NextN hidden states (off in plain stretches)
    bool last_hidden_ = true;  // ... and did in the last decode
    Context * tgt_;
    GenConfig cfg_;
    int32_t n_vocab_ = 0;
    std::vector<int32_t> eog_tokens_;  // the vocabulary's end-of-generation tokens (ignore_eos)
    std::vector<SeqState> seqs_;
    std::unique_ptr<common_batch> batch_;
    std::unique_ptr<ContextUse> use_;  // released with the generator, also when prefill throws
    std::string failed_;               // why an earlier step failed ("" while healthy)
    bool interruptible_ = true;
    mutable std::mutex threads_mu_;  // threads_ctl_: adapt_threads() may come from another thread than step()
    std::unique_ptr<ThreadController> threads_ctl_;
    IdleCpuMeter idle_meter_;
    int32_t threads_now_ = 0;            // the contexts' count now (0: not set by the controller)
    std::vector<int64_t> thread_steps_;  // [n]: steps run with n threads
    // the last step's verify rows and sequences (what the thread count compares steps by), or:
    static constexpr int64_t kShapePrefill = -1;  // prompts only: add()'s decodes, or a step of new prompts alone
    static constexpr int64_t kShapeNone = -2;     // comparable with no other step
    int64_t step_shape_ = kShapeNone;
    bool threads_trial_ = false;  // the step runs with a count the controller only tries
    // before the first decode: the CPUs that were free to this process lately (guess_threads)
    bool guessed_ = false;
    void guess_threads();
};

}  // namespace llama_mtp
