#pragma once
// The adaptive draft length: an online controller that picks k (0 = plain decoding) for each
// step from what it measured so far: conditional acceptance per draft position, and the cost
// of drafting, verifying and processing. Pure arithmetic, no llama.cpp: the Generator feeds it,
// and so can a user's own loop (Python: llama_mtp.DraftController).
#include <cstdint>
#include <vector>

namespace llama_mtp {

// One step as the controller sees it. Times are seconds for the whole step (all sequences);
// drafted/accepted hold one entry per sequence that took part.
struct DraftObservation {
    int32_t k = 0;  // the length asked for
    std::vector<int32_t> drafted;
    std::vector<int32_t> accepted;
    double t_draft = 0, t_verify = 0, t_process = 0;
    bool timed = true;  // false: the step also did other work (a prompt joined it); learn acceptance only
};

// What a controller has learned, to start another one from it: a later call, another process
// (llama_mtp keeps these on disk per model file, machine and thread count).
struct DraftPrior {
    std::vector<double> acc_hits, acc_trials;  // decayed counts per draft position (index i-1)
    std::vector<double> verify, process;       // seconds per sequence and step, by length; < 0: unknown
    double draft_per_token = -1;               // seconds per sequence and drafted token; < 0: unknown
    int32_t probe_gap = 0;                     // plain steps between probes when it ended (0: unknown)
};

class DraftController {
public:
    // n_max: the longest draft it may choose. plain_skips_process: whether a step with k = 0
    // costs the verify alone (the Generator skips process() then); a manual loop that still
    // calls process() after plain steps leaves it false.
    explicit DraftController(int32_t n_max, bool plain_skips_process = false);

    // The length to draft next (0..n_max); the same answer until the next observe().
    int32_t next() const { return next_; }
    // Whether next() is an exploration step rather than the best estimate.
    bool exploring() const { return exploring_; }
    // Whether the step after next() probes drafting from plain decoding (a loop that skips the
    // draft context while plain keeps the target's hidden state for it from next()'s step).
    bool probe_follows() const { return !drafting_ && (plain_run_ + 1 >= probe_gap_ || probe_soon_); }
    void observe(const DraftObservation & o);
    // What it has learned, and starting from another controller's: the counts and costs are
    // taken with a small weight (new steps soon outweigh them), and the warm-up is skipped:
    // the first step is the best length by the prior. Lengths beyond n_max are ignored.
    DraftPrior prior() const;
    void start_from(const DraftPrior & p);

    int32_t n_max() const { return n_max_; }
    // P(draft token i is accepted | tokens 1..i-1 were), i in 1..n_max (a prior of 1/2 where unseen).
    double acceptance(int32_t i) const;
    // Expected tokens per sequence and step when drafting k: 1 + sum_i prod_{j<=i} acceptance(j).
    double expected_tokens(int32_t k) const;
    // Estimated seconds of one step per sequence, and the split into draft, verify and
    // process. Verify and process costs come from a line (seconds = a + b * k) fitted to every
    // steady step of every length, pulled towards what length k itself measured where it was
    // played: an unplayed length is predicted from the others, and a length that is cheaper
    // than the line (a kernel that tiles 4 rows better than 3) keeps its measured cost.
    double step_seconds(int32_t k) const;
    double draft_seconds(int32_t k) const;
    double verify_seconds(int32_t k) const;
    double process_seconds(int32_t k) const;
    // expected_tokens(k) / step_seconds(k); 0 while nothing is measured.
    double expected_speed(int32_t k) const;
    // The speed length k may plausibly reach: acceptance one standard error above its estimate
    // (few observations, wide), cost below its estimate by the doubt of a length rarely or not
    // lately played. Exploration probes a length only where this beats the best estimate.
    double optimistic_speed(int32_t k) const;
    // The same with acceptance optimism only: whether a change of text may make k pay.
    double plausible_speed(int32_t k) const { return optimistic_speed(k, false); }
    int32_t best() const;

    // What was chosen, step by step, and the running totals.
    const std::vector<int32_t> & history() const { return history_; }
    int64_t n_steps() const { return (int64_t) history_.size(); }
    double t_draft = 0, t_verify = 0, t_process = 0;  // seconds, all steps
    double tokens = 0;                                // tokens per sequence, summed over steps
    double seq_seconds = 0;                           // step seconds per sequence, summed over steps
    double expected_tokens_total = 0;                 // the model's prediction for the steps played
    double expected_seconds_total = 0;

private:
    struct Ewma {
        double value = 0, weight = 0;
        void add(double x, double decay);
        bool known() const { return weight > 0; }
    };
    double fitted(const std::vector<Ewma> & table, int32_t k) const;
    // the weight of length k's own estimate in table, faded by the steps since it was played
    double faded_weight(const std::vector<Ewma> & table, int32_t k) const;
    int32_t best_drafting_length() const;
    double optimistic_speed(int32_t k, bool doubt_cost) const;
    double best_plausible_drafting_speed() const;
    int32_t probe_candidate(int32_t k_best) const;
    void decide();

    int32_t n_max_;
    bool plain_skips_process_;
    struct Estimate {
        double p, n;  // P(accepted | the ones before were), and the observations behind it
    };
    // position i's acceptance given the prior (the estimate of position i-1): the slow counts,
    // or the fast ones where they show a change
    Estimate position(int32_t i, double prior) const;
    std::vector<double> acc_hits_, acc_trials_;    // decayed counts per position (index i-1)
    std::vector<double> fast_hits_, fast_trials_;  // the same, fading fast
    std::vector<Ewma> verify_, process_;           // seconds per sequence, by drafted length
    Ewma draft_per_token_;                         // seconds per sequence and draft position
    std::vector<int32_t> last_played_;             // step at which each k was last played
    std::vector<int32_t> history_;
    int32_t last_k_eff_ = -1;  // the drafted length of the last step (-1: none yet)
    int32_t next_ = 1;
    int32_t warmup_steps_;  // steps of the fixed warm-up (none after start_from)
    bool exploring_ = true;
    bool drafting_ = true;        // the mode: drafting, or plain decoding with probes
    int32_t plain_run_ = 0;       // steps since the last drafting step while plain is best
    int32_t probe_gap_ = 32;      // steps of plain decoding between probes (doubles up to 256)
    bool probe_soon_ = false;     // the step after next probes before the gap is over (decided a step ahead)
    int32_t since_probe_ = 0;     // steps since the last probe check while drafting
    int32_t since_explored_ = 0;  // steps since the last probe while drafting
    int32_t neighbour_ = 0;       // the length of the probe under way
    int32_t neighbour_left_ = 0;
    int32_t retime_plain_ = 0;  // plain steps still to play after a prior with an implausible plain cost
};

}  // namespace llama_mtp
