#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
// The speculative generation loop (draft -> verify batch -> decode -> process -> verify ->
// accept -> trim KV) in C++, one GIL-free step per call.
void bind_generate(nanobind::module_ & m);
}  // namespace llama_mtp
