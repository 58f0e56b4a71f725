// The engine's own tests, without Python: plain checks, run by ctest (.ci/run) on the tiny
// models the Python suite writes (LLAMA_MTP_TEST_MODELS: "hybrid=PATH,dense=PATH").
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "checks.h"
#include "context.h"
#include "draft_control.h"
#include "errors.h"
#include "generator.h"
#include "greedy.h"
#include "llama.h"
#include "model.h"
#include "mtp.h"
#include "ngram_control.h"
#include "rejection.h"
#include "sampler.h"
#include "text.h"
#include "token_probs.h"

using namespace llama_mtp;
using namespace engine_tests;

namespace {

// --- the controller: simulated steps --------------------------------------------------------

std::vector<int32_t> simulate(DraftController & c, double accept, const std::function<double(int32_t)> & verify,
                              int steps, std::mt19937 & rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<int32_t> chosen;
    for (int i = 0; i < steps; ++i) {
        const int32_t k = c.next();
        int32_t accepted = 0;
        while (accepted < k && u(rng) < accept) ++accepted;
        DraftObservation o;
        o.k = k;
        o.drafted = {k};
        o.accepted = {accepted};
        o.t_draft = 0.0005 * k;
        o.t_verify = verify(k);
        o.t_process = k == 0 && !c.exploring() ? 0.0 : 0.001;
        c.observe(o);
        chosen.push_back(k);
    }
    return chosen;
}

void test_controller() {
    std::mt19937 rng(1234);
    {
        DraftController c(6, true);
        simulate(c, 1.0, [](int32_t k) { return 0.010 + 0.0002 * k; }, 300, rng);
        check(c.best() == 6, "right drafts and cheap verifies: the longest draft is best");
    }
    {
        DraftController c(6, true);
        const auto chosen = simulate(c, 0.0, [](int32_t k) { return 0.010 + 0.0002 * k; }, 500, rng);
        int plain = 0;
        for (size_t i = 20; i < chosen.size(); ++i) plain += chosen[i] == 0;
        check(c.best() == 0 && plain >= 0.97 * (chosen.size() - 20), "wrong drafts: plain decoding");
    }
    {
        // 4 rows cheaper than the line through the others: found, and kept
        DraftController c(6, true);
        simulate(c, 0.85, [](int32_t k) { return k == 3 ? 0.0115 : 0.010 + 0.004 * k; }, 600, rng);
        check(c.best() == 3, "a length cheaper than the line is found");
    }
    {
        DraftController a(4, true);
        simulate(a, 0.7, [](int32_t k) { return 0.010 + 0.001 * k; }, 200, rng);
        DraftController b(4, true);
        b.start_from(a.prior());
        check(b.n_steps() == 0 && !b.exploring() && b.next() == a.best(), "a controller starts from another's prior");
    }
}

// --- the text machine -------------------------------------------------------------------------

void test_ngram_controller() {
    const double plain = 0.010, per_row = 0.004;  // seconds per step: plain, and per verified row
    auto cost = [&](int32_t l) { return plain + per_row * l; };
    {
        NgramController c(16);
        int32_t l = 0;
        for (int32_t step = 0; step < 40; ++step) {
            c.observe_cost(l, cost(l));
            l = c.choose(16, 1.0 / plain);
            if (l > 0) c.observe_draft(l, l);  // the text repeats: every draft is right
        }
        check(l == 16, "n-gram drafts that are right grow to the longest");
    }
    {
        NgramController c(16);
        int32_t tried = 0, steps_without = 0;
        for (int32_t step = 0; step < 300; ++step) {
            const int32_t l = c.choose(16, 1.0 / plain);
            c.observe_cost(l, cost(l));
            if (l > 0) {
                c.observe_draft(l, 0);  // never right
                tried += step >= 100;
            } else {
                steps_without += step >= 100;
            }
        }
        check(tried > 0 && tried * 16 < steps_without, "wrong n-gram drafts: rarely tried, and only probed");
    }
}

void test_text(const Model & model) {
    const ModelPtr keep = model.shared();
    const llama_vocab * vocab = llama_model_get_vocab(keep.get());
    std::vector<llama_token> tokens(64);
    const std::string prompt = "Once upon a time";
    const int32_t n = llama_tokenize(vocab, prompt.data(), (int32_t) prompt.size(), tokens.data(), 64, false, false);
    check(n > 0, "the tiny model tokenizes");
    tokens.resize(n > 0 ? n : 0);
    SequenceText text;
    std::string handed;
    for (llama_token t : tokens) {
        text.append(vocab, t, {});
        handed += text.take({}, false);
    }
    handed += text.take({}, true);
    check(handed == text.bytes(), "the pieces handed out are the text");
    SequenceText stopped;
    bool stop = false;
    for (llama_token t : tokens) stop = stop || stopped.append(vocab, t, {"upon"});
    check(stop && stopped.bytes().find("upon") == std::string::npos, "a stop string cuts the text where it begins");
}

// --- contexts, the guard and the generation loop -----------------------------------------------

ContextParams context_params(ContextType type, uint32_t n_rs_seq) {
    ContextParams p;
    p.n_ctx = 512;
    p.n_batch = 64;
    p.n_ubatch = 64;
    p.n_threads = 1;
    p.ctx_type = type;
    p.n_rs_seq = n_rs_seq;
    return p;
}

const std::vector<int32_t> kPrompt = {1, 300, 301, 302};

std::vector<int32_t> generate(const std::shared_ptr<Model> & model, bool mtp, int32_t n_draft_max, bool adaptive,
                              const std::vector<int32_t> & prompt = kPrompt, bool ngram = false) {
    const ModelPtr weights = model->shared();
    const bool rollback = llama_model_is_recurrent(weights.get()) || llama_model_is_hybrid(weights.get());
    const uint32_t rs = rollback && (mtp || ngram) ? (uint32_t) std::max(n_draft_max, 8) : 0;
    auto target = std::make_shared<Context>(model, context_params(ContextType::DEFAULT, rs));
    std::shared_ptr<Context> draft =
        mtp ? std::make_shared<Context>(model, context_params(ContextType::MTP, 0)) : nullptr;
    GenConfig cfg;
    cfg.n_draft_max = n_draft_max;
    cfg.adaptive = adaptive;
    cfg.seq.max_tokens = 48;
    cfg.seq.ignore_eos = true;
    cfg.ngram = ngram;
    cfg.ngram_cfg.n_max = 8;
    cfg.ngram_cfg.size_n = 2;
    Generator g(target, draft, {prompt}, cfg);
    while (!g.done()) g.step();
    return g.tokens()[0];
}

void test_model(const std::string & kind, const std::string & path) {
    auto model = std::make_shared<Model>(path, Placement{}, true, true, false, true);
    check(model->n_layer_nextn() == 1, kind + ": the tiny model has its NextN block");
    test_text(*model);

    const auto plain = generate(model, false, 1, false);
    check(plain.size() == 48, kind + ": plain decoding generates max_tokens");
    for (int32_t n : {1, 3}) check(generate(model, true, n, false) == plain, kind + ": MTP greedy == plain greedy");
    check(generate(model, true, 6, true) == plain, kind + ": auto greedy == plain greedy");
    // n-gram drafts, alone and beside MTP, on a prompt that holds what the model writes next
    std::vector<int32_t> echo = kPrompt;
    echo.insert(echo.end(), plain.begin(), plain.begin() + 30);
    echo.insert(echo.end(), kPrompt.begin() + 1, kPrompt.end());
    const auto plain_echo = generate(model, false, 1, false, echo);
    check(std::equal(plain.begin(), plain.begin() + 30, plain_echo.begin()), kind + ": the echo prompt repeats");
    for (bool mtp : {false, true}) {
        for (bool adaptive : {false, true}) {
            check(generate(model, mtp, 3, adaptive, echo, true) == plain_echo,
                  kind + ": n-gram greedy == plain greedy (mtp " + std::to_string(mtp) + ", adaptive " +
                      std::to_string(adaptive) + ")");
        }
    }

    // the context guard: the same context twice, before any lock; the lock order
    auto target = std::make_shared<Context>(model, context_params(ContextType::DEFAULT, 3));
    auto draft = std::make_shared<Context>(model, context_params(ContextType::MTP, 0));
    check_throws<IncompatibleContextsError>([&] { MtpSession s(target, target, MtpConfig{}); },
                                            kind + ": the same context twice is refused");
    check_throws<ContextError>(
        [&] {
            const Context::Lock d(*draft);
            const Context::Lock t(*target);
        },
        kind + ": MTP before DEFAULT breaks the lock order");
    check_throws<ContextError>(
        [&] {
            const Context::Lock a(*target);
            const Context::Lock b(*target);
        },
        kind + ": a second lock of one context would wait for itself");
    {
        MtpSession s(target, draft, MtpConfig{1, 3, 0, 0.0f});
        check_throws<ContextError>([&] { target->close(); }, kind + ": a context in use is not closed");
    }
    target->close();
    check(target->closed(), kind + ": closed once unused");
    check_throws<ClosedError>([&] { const Context::Lock t(*target); }, kind + ": a closed context refuses work");
}

// --- rejection sampling: the output is distributed as p, the acceptance is sum(min(p, q)) -----

void test_rejection_sampling() {
    // p over tokens 1..4 (sorted by id), q over 2..5: they overlap on 2..4
    const std::vector<llama_token_data> p = {{1, 0, 0.1f}, {2, 0, 0.4f}, {3, 0, 0.3f}, {4, 0, 0.2f}};
    const std::vector<llama_token_data> q = by_id({{5, 0, 0.1f}, {3, 0, 0.5f}, {2, 0, 0.2f}, {4, 0, 0.2f}});
    // integrate over a grid of (u_accept, u_residual) and over d ~ q: the exact output distribution
    const int n = 400;
    std::map<int32_t, double> out;
    double accepted_mass = 0.0;
    for (const auto & d : q) {
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < n; ++j) {
                bool accepted = false;
                const int32_t t = rejection_step(p, q, d.id, (i + 0.5) / n, (j + 0.5) / n, &accepted);
                const double w = d.p / ((double) n * n);
                out[t] += w;
                accepted_mass += accepted ? w : 0.0;
            }
        }
    }
    for (const auto & c : p) {
        check(std::abs(out[c.id] - c.p) < 2e-3, "rejection sampling: token " + std::to_string(c.id) + " has p's mass");
    }
    check(out.count(5) == 0 || out[5] < 1e-9, "rejection sampling: a token p excludes never comes out");
    check(std::abs(accepted_mass - (0.2 + 0.3 + 0.2)) < 2e-3, "rejection sampling accepts sum(min(p, q))");
    // a point mass (a token q does not hold) is accepted with probability p(d), as sample-and-match
    double point_accept = 0.0;
    for (int i = 0; i < n; ++i) {
        bool accepted = false;
        const int32_t t = rejection_step(p, {}, 3, (i + 0.5) / n, 0.5, &accepted);
        point_accept += accepted ? 1.0 / n : 0.0;
        check(accepted || t != 3, "rejection sampling: a rejected point-mass draft is not the output");
    }
    check(std::abs(point_accept - 0.3) < 2e-3, "rejection sampling: a point mass is accepted with p(d)");
}

void test_bias_and_probs() {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    const int32_t n = 5000;
    std::vector<float> x((size_t) n);
    for (int round = 0; round < 50; ++round) {
        for (float & v : x) v = normal(rng);
        // a bias on a few tokens (the best among them, some banned): argmax over a biased copy
        std::vector<llama_logit_bias> given;
        std::vector<int32_t> banned;
        const int32_t best = argmax(x.data(), n);
        given.push_back({best, round % 2 ? -INFINITY : -2.5f});
        for (int k = 0; k < 6; ++k) given.push_back({(int32_t) (rng() % n), normal(rng)});
        banned.push_back((int32_t) (rng() % n));
        const auto bias = merged_bias(given, banned, n);
        std::vector<float> y = x;
        for (const auto & b : given) y[(size_t) b.token] += b.bias;
        for (int32_t t : banned) y[(size_t) t] = -INFINITY;
        check(argmax_biased(x.data(), n, bias) == argmax(y.data(), n), "argmax_biased is argmax of the biased logits");
        check(std::is_sorted(bias.begin(), bias.end(),
                             [](const llama_logit_bias & a, const llama_logit_bias & b) { return a.token < b.token; }),
              "merged_bias is sorted by token");
        const TokenProbs p = token_probs(x.data(), n, best, 8);
        double mass = 0.0, top_mass = 0.0;
        for (int32_t t = 0; t < n; ++t) mass += std::exp((double) token_probs(x.data(), n, t, 0).logprob);
        for (float lp : p.top_logprobs) top_mass += std::exp((double) lp);
        check(std::abs(mass - 1.0) < 1e-3, "token_probs: the logprobs of all tokens sum to one");
        check(p.top_ids.size() == 8 && p.top_ids[0] == best && p.logprob == p.top_logprobs[0],
              "token_probs: the argmax first, its own logprob");
        check(std::is_sorted(p.top_logprobs.rbegin(), p.top_logprobs.rend()) && top_mass <= 1.0 + 1e-6,
              "token_probs: candidates most probable first");
    }
    check_throws<InvalidArgumentError>([] { merged_bias({{5, 1.0f}}, {}, 5); },
                                       "a biased token outside the vocabulary");
    check_throws<InvalidArgumentError>([] { merged_bias({{1, NAN}}, {}, 5); }, "a NaN bias");
    check_throws<InvalidArgumentError>([] { merged_bias({{1, INFINITY}}, {}, 5); }, "a +inf bias");
    const auto twice = merged_bias({{2, 1.0f}, {2, 0.5f}}, {3}, 5);
    check(twice.size() == 2 && twice[0].bias == 1.5f && twice[1].bias == -INFINITY,
          "merged_bias adds a token given twice and bans the banned");
}

}  // namespace

int main() {
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    test_controller();
    test_ngram_controller();
    test_rejection_sampling();
    test_bias_and_probs();
    const auto models = model_paths();
    check(models.count("hybrid") && models.count("dense"),
          "LLAMA_MTP_TEST_MODELS names the tiny hybrid and dense models (hybrid=PATH,dense=PATH)");
    for (const auto & [kind, path] : models) test_model(kind, path);
    llama_backend_free();
    return report();
}
