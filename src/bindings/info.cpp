#include "info.h"

#include <cctype>
#include <string>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "backends.h"
#include "errors.h"
#include "ggml-backend.h"
#include "llama.h"
#include "rpc_link.h"
#include "threads.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

nb::dict build_info() {
    nb::dict info;
    info["version"] = LLAMA_MTP_VERSION;
    info["llama_cpp_commit"] = LLAMA_MTP_LLAMA_COMMIT;
    info["variant"] = LLAMA_MTP_BACKEND_NAME;
    info["native"] = (bool) LLAMA_MTP_NATIVE_BUILD;
    info["cpu_variants_build"] = (bool) LLAMA_MTP_CPU_VARIANTS_BUILD;
    info["backends"] = backend_names();
    info["rpc"] = rpc_available();
#if defined(NB_FREE_THREADED)
    info["free_threaded"] = true;  // built for a free-threaded interpreter: runs without the GIL
#else
    info["free_threaded"] = false;
#endif
    nb::dict cpu_backend = cpu_backend_info();
    // the instruction sets the CPU backend in use was compiled with (from its feature list)
    nb::dict features = nb::cast<nb::dict>(cpu_backend["features"]);
    nb::dict cpu;
    for (const char * name :
         {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
          "AVX512_BF16", "AMX_INT8", "NEON", "ARM_FMA", "SVE", "SME"}) {
        std::string key(name);
        for (auto & c : key) c = (char) std::tolower((unsigned char) c);
        cpu[key.c_str()] = features.contains(name);
    }
    info["cpu_features"] = cpu;
    // OpenMP threads (upstream's default) or ggml's own threadpool, in the CPU backend in use
    info["openmp"] = features.contains("OPENMP");
    info["cpu_variant"] = cpu_backend["variant"];
    info["cpu_backend"] = cpu_backend;
    info["system_info"] = llama_print_system_info();
#if defined(__clang__)
    info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    info["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    info["compiler"] = "msvc " + std::to_string(_MSC_VER);
#else
    info["compiler"] = "unknown";
#endif
    info["supports_mmap"] = llama_supports_mmap();
    info["supports_gpu_offload"] = llama_supports_gpu_offload();
    info["max_parallel_sequences"] = llama_max_parallel_sequences();
    return info;
}

}  // namespace

void bind_info(nb::module_ & m) {
    m.def("build_info", &build_info, nb::sig("def build_info() -> dict[str, typing.Any]"),
          "Package version, pinned llama.cpp commit, compiled variant and backends, CPU features "
          "and compiler.");
    m.def("default_threads", &default_threads,
          "The thread count used when n_threads is None: one per physical core (upstream's "
          "choice), at most the CPUs this process may run on.");
    m.def(
        "version", [] { return std::string(LLAMA_MTP_VERSION); },
        "The package version, as build_info()['version'], without build_info()'s backend probes.");
}

}  // namespace llama_mtp
