#include "sampler.h"

#include <cmath>
#include <optional>

#include <nanobind/stl/optional.h>
#include <string>

#include "bind.h"
#include "context.h"
#include "errors.h"
#include "int_arg.h"
#include "llama.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

class Sampler {
public:
    Sampler(float temperature, IntArg top_k, float top_p, float min_p, std::optional<IntArg> seed)
        : temperature(temperature),
          top_k(top_k.i32("top_k", 0, INT32_MAX)),
          top_p(top_p),
          min_p(min_p),
          seed(seed ? seed_value(*seed) : LLAMA_DEFAULT_SEED),
          chain_(new_sampler_chain({temperature, this->top_k, top_p, min_p}, this->seed)) {}

    int32_t sample(Context & ctx, IntArg i) {
        nb::gil_scoped_release release;
        const Context::Lock lock(ctx);
        const int32_t idx = ctx.output_index(i.in("i", INT32_MIN, INT32_MAX), "logits");
        std::lock_guard<std::mutex> chain_lock(mutex_);  // the chain is stateful
        return llama_sampler_sample(chain_.get(), lock.get(), idx);
    }
    void accept(IntArg token) {
        const int32_t t = token.i32("token", 0, INT32_MAX);
        std::lock_guard<std::mutex> chain_lock(mutex_);
        llama_sampler_accept(chain_.get(), (llama_token) t);
    }
    void reset() {
        std::lock_guard<std::mutex> chain_lock(mutex_);
        llama_sampler_reset(chain_.get());
    }

    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    uint32_t seed;

private:
    SamplerPtr chain_;
    std::mutex mutex_;  // never held while waiting for a context's lock or the GIL
};

}  // namespace

void bind_sampler(nb::module_ & m) {
    nb::class_<Sampler>(m, "Sampler",
                        "Upstream's sampler chain. temperature=0 is greedy (argmax); otherwise "
                        "top-k -> top-p -> min-p -> temperature -> seeded random draw.")
        .def(nb::init<float, IntArg, float, float, std::optional<IntArg>>(), nb::kw_only(),
             nb::arg("temperature") = 0.0f, nb::arg("top_k") = 0, nb::arg("top_p") = 1.0f, nb::arg("min_p") = 0.0f,
             nb::arg("seed").none() = nb::none())
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
        .def_prop_ro(
            "is_greedy", [](const Sampler & s) { return s.temperature <= 0.0f; }, "True when sampling is argmax.");
}

}  // namespace llama_mtp
