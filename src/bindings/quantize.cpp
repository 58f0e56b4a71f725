// llama_mtp.quantize(): llama.cpp's own quantizer (llama_model_quantize, what llama-quantize
// runs) on a GGUF file, with its inputs checked first so that nothing reaches an abort.
#include <array>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "errors.h"
#include "gguf_preflight.h"
#include "int_arg.h"
#include "llama.h"
#include "model.h"
#include "py_strings.h"
#include "quantize.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// The types llama-quantize offers that need no importance matrix, by llama-quantize's names.
constexpr std::array<std::pair<std::string_view, llama_ftype>, 21> kTypes{{
    {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},     {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
    {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S}, {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
    {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
    {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL}, {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS}, {"Q4_K", LLAMA_FTYPE_MOSTLY_Q4_K_M},
}};

llama_ftype ftype_named(const std::string & name) {
    std::string known;
    for (const auto & [n, t] : kTypes) {
        if (n == name) return t;
        known += (known.empty() ? "" : ", ") + std::string(n);
    }
    throw with_attributes(InvalidArgumentError("type must be one of " + known + ", got '" + name + "'"),
                          {{"parameter", std::string("type")}});
}

// A new file's name beside dst, unused now: the quantizer writes there and the result replaces
// dst in one rename, so a failure never touches dst and a Model mapping dst keeps its pages.
std::filesystem::path temporary_beside(const std::filesystem::path & dst) {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::filesystem::path p = dst;
        p.replace_filename("." + dst.filename().string() + "." + std::to_string(rd()) + ".tmp");
        std::error_code ec;
        if (!std::filesystem::exists(p, ec) && !ec) return p;
    }
    throw InvalidArgumentError("no free temporary name beside " + dst.string());
}

void check_destination(const std::filesystem::path & dst) {
    std::error_code ec;
    const auto st = std::filesystem::status(dst, ec);
    if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
        throw with_attributes(InvalidArgumentError("dst exists and is not a regular file: " + dst.string()),
                              {{"parameter", std::string("dst")}});
    }
    const std::filesystem::path dir = dst.has_parent_path() ? dst.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir, ec)) {
        throw with_attributes(InvalidArgumentError("dst's directory does not exist: " + dir.string()),
                              {{"parameter", std::string("dst")}});
    }
}

}  // namespace

void bind_quantize(nb::module_ & m) {
    m.def(
        "quantize",
        [](nb::handle src_in, nb::handle dst_in, const std::string & type, IntArg n_threads) {
            const std::string src = fs_path(src_in);
            const std::string dst = fs_path(dst_in);
            const llama_ftype ftype = ftype_named(type);
            const int32_t threads = n_threads.i32("n_threads", 0, 1024);
            require_model_file(src);
            std::error_code ec;
            if (std::filesystem::equivalent(src, dst, ec)) {
                throw InvalidArgumentError("src and dst are the same file: quantize writes a new file");
            }
            check_destination(dst);
            preflight_gguf(src, false);  // what upstream would assert on is refused here first
            const std::filesystem::path tmp = temporary_beside(dst);
            llama_model_quantize_params params = llama_model_quantize_default_params();
            params.nthread = threads;
            params.ftype = ftype;
            // rows converted and quantized in slabs of at most 64 MiB (upstream's default, 8 GiB,
            // holds a whole 248k-row output layer in f32: 1 GB more peak memory, same bytes out)
            params.max_buf_size = size_t{64} << 20;
            uint32_t rc = 0;
            {
                nb::gil_scoped_release release;
                rc = llama_model_quantize(src.c_str(), tmp.string().c_str(), &params);
            }
            if (rc != 0) {
                std::filesystem::remove(tmp, ec);  // never leave half a file behind
                throw ModelLoadError("quantizing " + src + " to " + type + " failed (see the log)");
            }
            std::filesystem::rename(tmp, dst, ec);
            if (ec) {
                std::filesystem::remove(tmp, ec);
                throw with_attributes(InvalidArgumentError("could not write dst " + dst + ": " + ec.message()),
                                      {{"parameter", std::string("dst")}});
            }
        },
        nb::arg("src"), nb::arg("dst"), nb::arg("type") = "Q4_K_M", nb::kw_only(), nb::arg("n_threads") = 0,
        nb::sig("def quantize(src: str | os.PathLike[str], dst: str | os.PathLike[str], type: str = 'Q4_K_M', *, "
                "n_threads: int = 0) -> None"),
        "Quantize the GGUF model at src into a new file dst with llama.cpp's own quantizer (what "
        "llama-quantize does). It writes a temporary file beside dst and renames it to dst on success: "
        "a failure leaves dst as it was, and a Model mapping the old dst keeps reading it. type is one of "
        "llama-quantize's names (Q8_0, Q4_0, Q4_K_M, Q6_K, ...; "
        "those that need an importance matrix are not offered). Tensors whose rows do not fit the "
        "type take upstream's fallback type. n_threads: 0 = all cores. GIL released while it runs.");
}

}  // namespace llama_mtp
