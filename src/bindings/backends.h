#pragma once
// ggml backends: which CPU code path runs, and (in CPU_VARIANTS builds) loading the backend
// modules installed beside the extension.
#include <string>
#include <vector>

#include <nanobind/nanobind.h>

namespace llama_mtp {
void bind_backends(nanobind::module_ & m);

// Names of the registered ggml backends ("CPU", "CUDA", ...).
std::vector<std::string> backend_names();
// {"variant", "path", "features", "variants"} of the CPU backend in use, for build_info().
nanobind::dict cpu_backend_info();
}  // namespace llama_mtp
