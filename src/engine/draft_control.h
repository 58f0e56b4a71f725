#pragma once
// The adaptive draft length: an online controller that picks k (0 = plain decoding) for each
// step from what it measured so far: conditional acceptance per draft position, and the cost
// of a step at each length. Pure arithmetic, no llama.cpp and no clock: the Generator feeds it
// the seconds it timed, tests feed it simulated ones, and so can a user's own loop (Python:
// llama_mtp.DraftController).
//
// Costs are measured per length (draft_costs.h): only a measured length is chosen as best.
#include <cstdint>
#include <vector>

#include "draft_costs.h"

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
    std::vector<double> verify, process;       // seconds per sequence and step by length; < 0: unknown
    std::vector<int32_t> samples;              // steps behind each (2: measured; 1: a probe's); empty: 2 each
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
    // Whether next() measures or probes rather than plays the best estimate.
    bool exploring() const { return exploring_; }
    // Whether the step after next() may draft after plain decoding (a loop that skips the draft
    // context while plain keeps the target's hidden state for it from next()'s step).
    bool probe_follows() const;
    void observe(const DraftObservation & o);
    // What it has learned, and starting from another controller's: the acceptance counts with
    // a small weight (a new text soon outweighs them), the costs as measurements that the
    // machine level rescales from the first steps; no warm-up.
    DraftPrior prior() const;
    void start_from(const DraftPrior & p);

    int32_t n_max() const { return n_max_; }
    // P(draft token i is accepted | tokens 1..i-1 were), i in 1..n_max (a prior of 1/2 where unseen).
    double acceptance(int32_t i) const;
    // Expected tokens per sequence and step when drafting k: 1 + sum_i prod_{j<=i} acceptance(j).
    double expected_tokens(int32_t k) const;
    // Whether length k's cost was measured (two steps or more); only those are chosen as best.
    bool measured(int32_t k) const;
    // Estimated seconds of one step per sequence, and its parts: a measured length's own cost
    // (rescaled by the machine level since it was played), others the chord between the
    // nearest lengths with a cost (flat beyond the longest; drafting grows by the drafted token).
    double step_seconds(int32_t k) const;
    double draft_seconds(int32_t k) const;
    double verify_seconds(int32_t k) const;
    double process_seconds(int32_t k) const;
    // expected_tokens(k) / step_seconds(k); 0 while nothing is known of the cost.
    double expected_speed(int32_t k) const;
    // The speed length k may plausibly reach: acceptance one standard error above its estimate
    // (few observations, wide), cost below its estimate by the doubt of a length not lately
    // played. Measuring and exploration play a length only where this beats the best estimate.
    double optimistic_speed(int32_t k) const;
    // The same with acceptance optimism on the first position only, costs as estimated: whether
    // a change of text may make k pay (what plain decoding's probes ask).
    double plausible_speed(int32_t k) const { return optimistic_speed(k, false); }
    // The measured length with the highest expected speed (next() before anything is measured).
    int32_t best() const;
    // How much slower the machine is now than when the costs were first measured (1: the same).
    double machine_level() const { return costs_.level(); }

    // What was chosen, step by step, and the running totals.
    const std::vector<int32_t> & history() const { return history_; }
    int64_t n_steps() const { return (int64_t) history_.size(); }
    double t_draft = 0, t_verify = 0, t_process = 0;  // seconds, all steps
    double tokens = 0;                                // tokens per sequence, summed over steps
    double seq_seconds = 0;                           // step seconds per sequence, summed over steps
    double expected_tokens_total = 0;                 // the model's prediction for the steps played
    double expected_seconds_total = 0;

private:
    // plain steps before the first probe of drafting, and the most between two (doubling)
    static constexpr int32_t kProbeFirst = 48;
    static constexpr int32_t kProbeLast = 256;
    // plain decoding's cost is doubted where it exceeds a measured verify of more rows by this
    static constexpr double kPlainAboveVerify = 1.1;
    double optimistic_speed(int32_t k, bool doubt_cost) const;
    int32_t best_drafting_length() const;            // the measured drafting length with the highest speed (-1: none)
    int32_t best_plausible_drafting_length() const;  // by plausible_speed, any drafting length
    int32_t exploration_candidate(double s_best, bool measured_too) const;
    void measure(int32_t k, int32_t steps);
    bool realized_falls_short() const;
    void decide();

    struct Estimate {
        double p, n;  // P(accepted | the ones before were), and the observations behind it
    };
    // position i's acceptance given the prior (the estimate of position i-1): the slow counts,
    // or the fast ones where they show a change
    Estimate position(int32_t i, double prior) const;

    int32_t n_max_;
    bool plain_skips_process_;
    std::vector<double> acc_hits_, acc_trials_;    // decayed counts per position (index i-1)
    std::vector<double> fast_hits_, fast_trials_;  // the same, fading fast
    DraftCosts costs_;                             // by drafted length 0..n_max
    std::vector<int32_t> history_;
    int32_t last_k_eff_ = -1;  // the drafted length of the last step (-1: none yet)
    int32_t next_ = 1;
    int32_t warmup_steps_;  // steps of the fixed warm-up (none after start_from)
    bool exploring_ = true;
    bool chosen_ = false;     // next() is the best estimate (not a warm-up step, measurement or probe)
    bool drafting_ = false;   // the mode: drafting at the best measured length, or plain with probes
    int32_t measure_k_ = -1;  // the length being measured, and the steps still to play of it
    int32_t measure_left_ = 0;
    int32_t chord_check_ = -1;       // the length whose one step next() measures against its chord
    bool warmup_hit_ = false;        // a draft of the warm-up was accepted
    bool probing_ = false;           // next() is a probe of drafting from plain decoding
    bool probe_next_ = false;        // the step after next() is one (decided a step ahead)
    int32_t plain_run_ = 0;          // plain steps since the last probe
    int32_t probe_gap_;              // plain steps between probes (doubles up to kProbeLast)
    int32_t soon_gap_ = 4;           // the same while drafting may plausibly pay (doubles while probes find nothing)
    int32_t since_neighbour_ = 0;    // drafting steps since the last look at the other lengths
    int32_t since_explored_ = 0;     // drafting steps since another length was last played
    int32_t since_plain_check_ = 0;  // steps since plain's cost was last questioned
    // the last steps that played the best estimate: tokens and seconds realized and predicted
    struct Realized {
        double tokens, seconds, expected_tokens, expected_seconds;
    };
    std::vector<Realized> realized_;
    Realized pending_prediction_{};  // what next() was predicted to yield
};

}  // namespace llama_mtp
