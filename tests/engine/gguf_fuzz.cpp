// A fuzz target for the engine's model loading (GGUF preflight, then llama.cpp's loader), built
// against the same library as the engine tests. One input = one GGUF file: it is loaded
// vocab-only and tokenized, then loaded in full and generates 4 tokens (MTP where the file
// has NextN blocks), as the Python fuzzer's exercise() does. A typed llama_mtp::Error is
// a correct rejection; any other exception, an abort (GGML_ASSERT) or a hang is a finding.
//
// With LLAMA_MTP_LIBFUZZER (clang -fsanitize=fuzzer) libFuzzer drives it; otherwise main()
// is a plain driver that runs every file named on the command line (files or directories),
// in the same process, and prints how many loaded and how many were rejected.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "context.h"
#include "errors.h"
#include "generator.h"
#include "llama.h"
#include "model.h"

using namespace llama_mtp;

namespace {

std::vector<int32_t> tokenize(const Model & model, const std::string & text) {
    const ModelPtr weights = model.shared();
    const llama_vocab * vocab = llama_model_get_vocab(weights.get());
    std::vector<llama_token> tokens(text.size() + 8);
    int32_t n =
        llama_tokenize(vocab, text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(), true, false);
    if (n < 0) throw InvalidArgumentError("tokenize: the buffer was too small");
    tokens.resize(n);
    return tokens;
}

ContextParams small_context(ContextType type, uint32_t n_rs_seq) {
    ContextParams p;
    p.n_ctx = 256;
    p.n_batch = 64;
    p.n_ubatch = 64;
    p.n_threads = 1;
    p.ctx_type = type;
    p.n_rs_seq = n_rs_seq;
    return p;
}

// "ok", or the Python class name of the typed error that rejected the file.
std::string exercise(const std::string & path) {
    try {
        {
            const Model vocab(path, Placement{}, true, true, true, true);
            tokenize(vocab, "Hello world, 123!");
        }
        auto model = std::make_shared<Model>(path, Placement{}, true, true, false, true);
        std::vector<int32_t> prompt = tokenize(*model, "Hi there");
        if (prompt.empty()) prompt.push_back(0);
        const bool mtp = model->n_layer_nextn() > 0;
        const ModelPtr weights = model->shared();
        const bool rollback = llama_model_is_recurrent(weights.get()) || llama_model_is_hybrid(weights.get());
        GenConfig cfg;
        cfg.n_draft_max = 3;
        cfg.seq.max_tokens = 4;
        auto target = std::make_shared<Context>(model, small_context(ContextType::DEFAULT, rollback && mtp ? 3 : 0));
        std::shared_ptr<Context> draft =
            mtp ? std::make_shared<Context>(model, small_context(ContextType::MTP, 0)) : nullptr;
        Generator g(target, draft, {prompt}, cfg);
        while (!g.done()) g.step();
    } catch (const Error & e) {
        return e.python_name();
    }
    return "ok";
}

std::string temp_path() {
    return (std::filesystem::temp_directory_path() /
            ("llama-mtp-fuzz-" + std::to_string(std::random_device{}()) + ".gguf"))
        .string();
}

void init_once() {
    static const bool done = [] {
        llama_backend_init();
        llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
        return true;
    }();
    (void) done;
}

// One input through a file (the loader reads paths): "ok" or the rejecting error's class name.
std::string run_input(const uint8_t * data, size_t size) {
    init_once();
    static const std::string path = temp_path();
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(data), (std::streamsize) size);
    }
    std::string outcome = exercise(path);
    std::filesystem::remove(path);
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    run_input(data, size);
    return 0;
}

#ifndef LLAMA_MTP_LIBFUZZER
// Inputs: the files named, and the *.gguf files of the directories named (on the command line,
// or in LLAMA_MTP_FUZZ_CORPUS when there are no arguments; ctest sets it).
int main(int argc, char ** argv) {
    std::vector<std::string> roots(argv + 1, argv + argc);
    if (roots.empty() && std::getenv("LLAMA_MTP_FUZZ_CORPUS")) roots.push_back(std::getenv("LLAMA_MTP_FUZZ_CORPUS"));
    std::vector<std::string> files;
    for (const auto & root : roots) {
        if (!std::filesystem::is_directory(root)) {
            files.push_back(root);
            continue;
        }
        for (const auto & entry : std::filesystem::directory_iterator(root)) {
            if (entry.is_regular_file() && entry.path().extension() == ".gguf") files.push_back(entry.path().string());
        }
    }
    if (files.empty()) {
        std::fprintf(stderr, "usage: gguf_fuzz FILE_OR_DIR... (or LLAMA_MTP_FUZZ_CORPUS=DIR)\n");
        return 2;
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, int> outcomes;
    for (const auto & f : files) {
        std::ifstream in(f, std::ios::binary);
        const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "%s\n", f.c_str());  // the last name printed is the one that crashed
        ++outcomes[run_input(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size())];
    }
    std::printf("%zu files:", files.size());
    for (const auto & [outcome, n] : outcomes) std::printf(" %s %d", outcome.c_str(), n);
    std::printf("\n");
    // a corpus in which nothing loads, or nothing is rejected, has stopped testing anything
    const int ok = outcomes.count("ok") ? outcomes["ok"] : 0;
    return files.size() > 1 && (ok == 0 || ok == (int) files.size()) ? 1 : 0;
}
#endif
