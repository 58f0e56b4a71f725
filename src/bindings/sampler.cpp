#include "sampler.h"

#include <cmath>
#include <optional>

#include <nanobind/stl/optional.h>
#include <string>

#include "context.h"
#include "errors.h"
#include "llama.h"

namespace nb = nanobind;

namespace llama_mtp {

void validate_sampler_params(const SamplerParams & p) {
    if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
        throw InvalidArgumentError("temperature must be finite and >= 0, got " + std::to_string(p.temperature));
    }
    if (p.top_k < 0) {
        throw InvalidArgumentError("top_k must be >= 0 (0 disables it), got " + std::to_string(p.top_k));
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        throw InvalidArgumentError("top_p must be in (0, 1], got " + std::to_string(p.top_p));
    }
    if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) {
        throw InvalidArgumentError("min_p must be in [0, 1), got " + std::to_string(p.min_p));
    }
}

SamplerPtr new_sampler_chain(const SamplerParams & p, uint32_t seed) {
    validate_sampler_params(p);
    llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    SamplerPtr chain(llama_sampler_chain_init(cp));
    if (p.temperature <= 0.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
        return chain;
    }
    if (p.top_k > 0) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
    }
    if (p.top_p < 1.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
    }
    if (p.min_p > 0.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
    }
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(seed));
    return chain;
}

namespace {

class Sampler {
public:
    Sampler(float temperature, int32_t top_k, float top_p, float min_p, std::optional<uint32_t> seed)
        : temperature(temperature), top_k(top_k), top_p(top_p), min_p(min_p),
          seed(seed.value_or(LLAMA_DEFAULT_SEED)),
          chain_(new_sampler_chain({temperature, top_k, top_p, min_p}, this->seed)) {}

    int32_t sample(Context & ctx, int64_t i) {
        const int32_t idx = ctx.output_index(i, "logits");
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(ctx.mutex);
        return llama_sampler_sample(chain_.get(), ctx.get(), idx);
    }
    void accept(int64_t token) {
        if (token < 0 || token > INT32_MAX) {
            throw InvalidArgumentError("token " + std::to_string(token) + " is out of range");
        }
        llama_sampler_accept(chain_.get(), (llama_token) token);
    }
    void reset() { llama_sampler_reset(chain_.get()); }

    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    uint32_t seed;

private:
    SamplerPtr chain_;
};

}  // namespace

void bind_sampler(nb::module_ & m) {
    nb::class_<Sampler>(m, "Sampler",
                        "Upstream's sampler chain. temperature=0 is greedy (argmax); otherwise "
                        "top-k -> top-p -> min-p -> temperature -> seeded random draw.")
        .def(nb::init<float, int32_t, float, float, std::optional<uint32_t>>(), nb::kw_only(),
             nb::arg("temperature") = 0.0f, nb::arg("top_k") = 0, nb::arg("top_p") = 1.0f,
             nb::arg("min_p") = 0.0f, nb::arg("seed").none() = nb::none())
        .def("sample", &Sampler::sample, nb::arg("ctx"), nb::arg("i") = -1,
             "Sample a token from the logits of batch row i of ctx's last decode (GIL released).")
        .def("accept", &Sampler::accept, nb::arg("token"),
             "Tell stateful samplers (repetition, grammar) the token was chosen.")
        .def("reset", &Sampler::reset, "Reset the chain (and the random state to the seed).")
        .def_ro("temperature", &Sampler::temperature, "Softmax temperature; <= 0 is greedy.")
        .def_ro("top_k", &Sampler::top_k, "Keep the k most likely tokens (0: all).")
        .def_ro("top_p", &Sampler::top_p, "Nucleus sampling mass (1.0: off).")
        .def_ro("min_p", &Sampler::min_p, "Drop tokens below min_p times the top probability (0.0: off).")
        .def_ro("seed", &Sampler::seed, "Random seed of the chain.")
        .def_prop_ro("is_greedy", [](const Sampler & s) { return s.temperature <= 0.0f; }, "True when sampling is argmax.");
}

}  // namespace llama_mtp
