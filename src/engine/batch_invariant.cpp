// The exact-mode switch of the CPU backend, found through its registry so that it also works
// when the CPU backend is a dynamically loaded variant module.
#include "batch_invariant.h"

#include "ggml-backend.h"

namespace llama_mtp {

namespace {

using SetBatchInvariant = void (*)(bool);

SetBatchInvariant setter() {
    static const SetBatchInvariant fn = []() -> SetBatchInvariant {
        ggml_backend_reg_t reg = ggml_backend_reg_by_name("CPU");
        return reg ? (SetBatchInvariant) ggml_backend_reg_get_proc_address(reg, "ggml_backend_cpu_set_batch_invariant")
                   : nullptr;
    }();
    return fn;
}

}  // namespace

BatchInvariant::BatchInvariant(bool on) : on_(on && setter() != nullptr) {
    if (on_) setter()(true);
}

BatchInvariant::~BatchInvariant() {
    if (on_) setter()(false);
}

bool batch_invariance_available() {
    return setter() != nullptr;
}

}  // namespace llama_mtp
