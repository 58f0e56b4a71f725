// Plain greedy decoding through the Generator, set up as llama_mtp.generate() sets it up, gives
// bit for bit the logits of a plain llama.cpp context set up as llama-completion sets it up
// (common_params' defaults through common_context_params_to_llama: n_ctx from the model,
// n_batch 2048, n_ubatch 512, swa_full off, flash attention auto) and fed as llama-completion
// feeds it (the prompt in n_batch batches with logits on its last token, then one token per
// decode). Run by ctest on the tiny models the Python suite writes (LLAMA_MTP_TEST_MODELS).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "checks.h"
#include "common.h"
#include "context.h"
#include "generator.h"
#include "llama.h"
#include "model.h"

using namespace llama_mtp;
using namespace engine_tests;

namespace {

struct Decoded {
    std::vector<int32_t> tokens;
    std::vector<std::vector<float>> logits;  // the logits each token was picked from
};

int32_t argmax(const float * x, int32_t n) {
    return (int32_t) (std::max_element(x, x + n) - x);
}

// llama-completion: common_init_from_params' model and context, common_prompt_batch_decode's
// batches, one token per decode after the prompt. A recurrent/hybrid model is compared with
// llama-completion --prompt-cache (common_prompt_batch_decode's save_state: all but the last
// token, then the last alone, so that the state before it can be kept), which is what ours
// does there for the same reason (a chat's next turn reuses that state).
Decoded upstream(const std::string & path, const std::vector<int32_t> & prompt, int32_t n_tokens, int32_t threads) {
    common_params params;
    params.cpuparams.n_threads = threads;
    params.cpuparams_batch.n_threads = threads;
    llama_model * model = llama_model_load_from_file(path.c_str(), common_model_params_to_llama(params));
    llama_context * ctx = llama_init_from_model(model, common_context_params_to_llama(params));
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const bool save_state = llama_model_is_recurrent(model) || llama_model_is_hybrid(model);
    Decoded out;
    std::vector<int32_t> feed;
    auto decode = [&](size_t from, size_t to) {
        feed.assign(prompt.begin() + (std::ptrdiff_t) from, prompt.begin() + (std::ptrdiff_t) to);
        common_batch batch = common_batch_get_one(ctx, feed);
        check(llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch.get()) == 0, "upstream decodes the prompt");
    };
    if (save_state) {
        decode(0, prompt.size() - 1);
        decode(prompt.size() - 1, prompt.size());
    } else {
        for (size_t i = 0; i < prompt.size(); i += (size_t) params.n_batch) {
            decode(i, std::min(prompt.size(), i + (size_t) params.n_batch));
        }
    }
    for (int32_t i = 0; i < n_tokens; ++i) {
        const float * l = llama_get_logits_ith(ctx, -1);
        out.logits.emplace_back(l, l + n_vocab);
        out.tokens.push_back(argmax(l, n_vocab));
        if (i + 1 == n_tokens) break;
        feed.assign(1, out.tokens.back());
        common_batch batch = common_batch_get_one(ctx, feed);
        check(llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch.get()) == 0, "upstream decodes a token");
    }
    llama_free(ctx);
    llama_model_free(model);
    return out;
}

// llama_mtp.generate(model, prompt, max_tokens=n, draft=None): one slot, the context sized by
// functions._llm_for and sizing.context_sizes
Decoded ours(const std::string & path, const std::vector<int32_t> & prompt, int32_t n_tokens, int32_t threads) {
    auto model = std::make_shared<Model>(path, Placement{}, true, true, false, true);
    ContextParams p;
    p.n_ctx = (uint32_t) ((prompt.size() + (size_t) n_tokens + 1 + 8 + 255) / 256 * 256);
    p.n_batch = (uint32_t) std::max<size_t>(32, std::min<size_t>(512, prompt.size()));
    p.n_ubatch = std::min<uint32_t>(p.n_batch, 512);
    p.n_threads = threads;
    auto target = std::make_shared<Context>(model, p);
    GenConfig cfg;
    cfg.n_draft_max = 1;
    cfg.seq.max_tokens = n_tokens;
    cfg.seq.ignore_eos = true;
    Generator g(target, nullptr, 1, cfg);
    g.add({prompt}, {cfg.seq});
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model->shared().get()));
    Decoded out;
    while (!g.done()) {
        const auto step = g.step();
        const Context::Lock lock(*target);
        const float * l = llama_get_logits_ith(lock.get(), -1);
        out.logits.emplace_back(l, l + n_vocab);
        out.tokens.insert(out.tokens.end(), step[0].begin(), step[0].end());
    }
    return out;
}

std::vector<int32_t> prompt_of(size_t n) {
    std::vector<int32_t> p = {1};
    for (size_t i = 1; i < n; ++i) p.push_back((int32_t) (300 + (i * 37) % 500));
    return p;
}

void test_model(const std::string & kind, const std::string & path) {
    // one ubatch; several (ours: n_batch 512 batches; upstream: one 2048 batch in 512 ubatches)
    for (size_t n_prompt : {size_t(9), size_t(700)}) {
        for (int32_t threads : {1, 2}) {
            const std::string what =
                kind + ", prompt " + std::to_string(n_prompt) + ", " + std::to_string(threads) + " thread(s)";
            const auto prompt = prompt_of(n_prompt);
            const Decoded a = upstream(path, prompt, 24, threads);
            const Decoded b = ours(path, prompt, 24, threads);
            check(a.tokens == b.tokens, what + ": the same tokens as llama-completion");
            size_t same = 0;
            while (same < std::min(a.logits.size(), b.logits.size()) && a.logits[same] == b.logits[same]) ++same;
            check(a.logits.size() == b.logits.size() && same == a.logits.size(),
                  what + ": bit-identical logits (first difference at token " + std::to_string(same) + ")");
        }
    }
}

}  // namespace

int main() {
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    const auto models = model_paths();
    check(models.count("hybrid") && models.count("dense"),
          "LLAMA_MTP_TEST_MODELS names the tiny hybrid and dense models (hybrid=PATH,dense=PATH)");
    for (const auto & [kind, path] : models) test_model(kind, path);
    llama_backend_free();
    return report();
}
