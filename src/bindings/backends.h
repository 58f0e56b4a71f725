#pragma once
// ggml backends: which CPU code path runs, and (in CPU_VARIANTS builds) loading the backend
// modules installed beside the extension.
#include <nanobind/nanobind.h>

namespace llama_mtp {
void bind_backends(nanobind::module_ & m);
// {"variant", "path", "features", "variants"} of the CPU backend in use, for build_info().
nanobind::dict cpu_backend_info();
}  // namespace llama_mtp
