// inspect_gguf: the preflight's reading of a file, for Python (no weights are loaded).
#include <string>

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "bind.h"
#include "errors.h"
#include "gguf_preflight.h"
#include "model.h"
#include "py_strings.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

nb::dict inspect_gguf(nb::handle path_like) {
    const std::string path = fs_path(path_like);
    require_model_file(path);
    GgufSummary s;
    {
        nb::gil_scoped_release release;
        s = check_gguf(path, false);
    }
    nb::dict out;
    out["path"] = path_str(path);
    out["version"] = s.version;
    out["architecture"] = s.architecture;
    out["tokenizer_model"] = s.tokenizer_model;
    out["n_vocab"] = s.n_vocab;
    out["n_tensors"] = s.n_tensors;
    out["n_kv"] = s.n_kv;
    out["hparams"] = nb::cast(s.hparams);
    return out;
}

}  // namespace

void bind_gguf(nb::module_ & m) {
    m.def("inspect_gguf", &inspect_gguf, nb::arg("path"),
          nb::sig("def inspect_gguf(path: str | os.PathLike[str]) -> dict[str, object]"),
          "Read a GGUF file's metadata with ggml's reader and run the load preflight, without "
          "loading weights. Returns {path, version, architecture, tokenizer_model, n_vocab, "
          "n_tensors, n_kv, hparams}; hparams maps each validated key (without the "
          "'{architecture}.' prefix) to its value: an int, a float, or a list of ints for "
          "per-layer values that differ. A file Model() would reject raises ModelLoadError "
          "naming the key, its value and the valid range (ModelNotFoundError if missing).");
}

}  // namespace llama_mtp
