#pragma once
// The domains whose engine headers (src/engine) the module binds, one bind_* each; the other
// domains declare theirs beside their Python helpers (backends.h, draft_length.h, ...).
#include <nanobind/nanobind.h>

namespace llama_mtp {

void bind_errors(nanobind::module_ & m);
void bind_model(nanobind::module_ & m);
void bind_batch(nanobind::module_ & m);
void bind_context(nanobind::module_ & m);
void bind_sampler(nanobind::module_ & m);
void bind_mtp(nanobind::module_ & m);
void bind_gguf(nanobind::module_ & m);

}  // namespace llama_mtp
