#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bind.h"
#include "context.h"
#include "errors.h"
#include "gguf_preflight.h"
#include "int_arg.h"
#include "llama-model.h"
#include "py_strings.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// rpc_servers: None or a sequence of "host:port" strings (a bare str is refused, not split).
std::vector<std::string> endpoint_list(nb::handle servers) {
    std::vector<std::string> out;
    if (servers.is_none()) {
        return out;
    }
    const bool is_text = nb::isinstance<nb::str>(servers) || PyBytes_Check(servers.ptr());
    if (is_text || !PySequence_Check(servers.ptr())) {
        throw nb::type_error("rpc_servers must be a sequence of 'host:port' strings (e.g. ['127.0.0.1:50052'])");
    }
    for (nb::handle item : nb::borrow<nb::sequence>(servers)) {
        if (!nb::isinstance<nb::str>(item)) {
            throw nb::type_error("rpc_servers entries must be str ('host:port')");
        }
        out.push_back(nb::cast<std::string>(item));
    }
    return out;
}

// Which device holds what: upstream's per-layer placement and the weight bytes per device.
nb::list device_placement(const Model & self) {
    const ModelPtr keep = self.shared();
    const llama_model * model = keep.get();
    nb::list out;
    if (self.vocab_only) {
        return out;
    }
    std::vector<ggml_backend_dev_t> order;
    std::map<ggml_backend_dev_t, std::vector<int>> layers;
    auto note = [&](ggml_backend_dev_t dev) {
        if (std::find(order.begin(), order.end(), dev) == order.end()) {
            order.push_back(dev);
        }
    };
    for (int il = 0; il < llama_model_n_layer(model); ++il) {
        ggml_backend_dev_t dev = model->dev_layer(il);
        note(dev);
        layers[dev].push_back(il);
    }
    note(model->dev_output());
    std::map<ggml_backend_dev_t, size_t> bytes;
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    for (const auto & [buft, size] : model->memory_breakdown()) {
        ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
        dev = dev ? dev : cpu;  // host buffers (mapped files) have no device: they are the CPU's
        note(dev);
        bytes[dev] += size;
    }
    for (ggml_backend_dev_t dev : order) {
        nb::dict d;
        d["name"] = ggml_backend_dev_name(dev);
        d["description"] = ggml_backend_dev_description(dev);
        const std::string endpoint = rpc_endpoint_of(dev);
        d["rpc_endpoint"] = endpoint.empty() ? nb::none() : nb::cast(endpoint);
        d["layers"] = nb::cast(layers[dev]);
        d["output"] = dev == model->dev_output();
        d["weight_bytes"] = bytes[dev];
        out.append(d);
    }
    return out;
}

std::string meta_string(const llama_model * model, const char * key) {
    std::vector<char> buf(256);
    int32_t n = llama_model_meta_val_str(model, key, buf.data(), buf.size());
    if (n < 0) {
        return {};
    }
    if ((size_t) n >= buf.size()) {
        buf.resize((size_t) n + 1);
        llama_model_meta_val_str(model, key, buf.data(), buf.size());
    }
    return std::string(buf.data());
}

nb::dict metadata(const Model & self) {
    const ModelPtr keep = self.shared();
    const llama_model * model = keep.get();
    nb::dict out;
    const int32_t count = llama_model_meta_count(model);
    std::vector<char> key(512), val(4096);
    for (int32_t i = 0; i < count; ++i) {
        int32_t nk = llama_model_meta_key_by_index(model, i, key.data(), key.size());
        if (nk < 0) {
            continue;
        }
        int32_t nv = llama_model_meta_val_str_by_index(model, i, val.data(), val.size());
        if (nv >= 0 && (size_t) nv >= val.size()) {
            val.resize((size_t) nv + 1);
            nv = llama_model_meta_val_str_by_index(model, i, val.data(), val.size());
        }
        out[nb::str(key.data())] = nv < 0 ? nb::str("") : nb::str(val.data());
    }
    return out;
}

TokenArray tokenize(const Model & self, const std::string & text, bool add_special, bool parse_special) {
    const ModelPtr keep = self.shared();  // a close() in another thread cannot free the vocabulary
    const llama_vocab * vocab = llama_model_get_vocab(keep.get());
    if (llama_vocab_n_tokens(vocab) <= 0) {
        throw ModelLoadError("the model has an empty vocabulary: nothing to tokenize with");
    }
    if (text.size() > (size_t) INT32_MAX / 2) {
        throw InvalidArgumentError("text of " + std::to_string(text.size()) + " bytes is too long to tokenize");
    }
    std::vector<llama_token> tokens(text.size() + 8);
    int32_t n = 0;
    {
        nb::gil_scoped_release release;
        n = llama_tokenize(vocab, text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(),
                           add_special, parse_special);
        if (n < 0 && n != INT32_MIN) {
            tokens.resize((size_t) -n);
            n = llama_tokenize(vocab, text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(),
                               add_special, parse_special);
        }
    }
    if (n < 0) {
        throw InvalidArgumentError("tokenization failed (text too long?)");
    }
    return owned_token_array(tokens.data(), (size_t) n);
}

nb::str detokenize(const Model & self, nb::handle tokens_in, bool remove_special, bool unparse_special) {
    const std::vector<llama_token> tokens = token_list(tokens_in, self.n_vocab(), "token");
    const ModelPtr keep = self.shared();  // a close() in another thread cannot free the vocabulary
    const llama_vocab * vocab = llama_model_get_vocab(keep.get());
    std::vector<char> text(tokens.size() * 8 + 16);
    int32_t n = llama_detokenize(vocab, tokens.data(), (int32_t) tokens.size(), text.data(), (int32_t) text.size(),
                                 remove_special, unparse_special);
    if (n < 0) {
        text.resize((size_t) -n);
        n = llama_detokenize(vocab, tokens.data(), (int32_t) tokens.size(), text.data(), (int32_t) text.size(),
                             remove_special, unparse_special);
    }
    if (n < 0) {
        throw InvalidArgumentError("detokenization failed");
    }
    return utf8_lenient(std::string(text.data(), (size_t) n));
}

nb::str token_to_piece(const Model & self, IntArg token_arg, bool special) {
    const int64_t token = token_arg.in("token", 0, INT32_MAX);
    self.check_token(token);
    const ModelPtr keep = self.shared();
    const llama_vocab * vocab = llama_model_get_vocab(keep.get());
    std::vector<char> buf(64);
    int32_t n = llama_token_to_piece(vocab, (llama_token) token, buf.data(), (int32_t) buf.size(), 0, special);
    if (n < 0) {
        buf.resize((size_t) -n);
        n = llama_token_to_piece(vocab, (llama_token) token, buf.data(), (int32_t) buf.size(), 0, special);
    }
    return utf8_lenient(n < 0 ? std::string() : std::string(buf.data(), (size_t) n));
}

}  // namespace

void bind_model(nb::module_ & m) {
    nb::class_<Model>(m, "Model",
                      "A GGUF model loaded with llama.cpp (weights, vocabulary, "
                      "metadata). Contexts keep the weights alive.")
        .def(
            "__init__",
            [](Model * self, nb::handle path, std::optional<IntArg> n_gpu_layers, bool use_mmap, bool load_mtp,
               bool vocab_only, bool repack, nb::handle rpc_servers, std::optional<std::vector<float>> tensor_split) {
                Placement placement;
                placement.rpc_servers = endpoint_list(rpc_servers);
                // None: every layer when there are RPC servers to take them, none otherwise
                placement.n_gpu_layers = n_gpu_layers ? n_gpu_layers->i32("n_gpu_layers", -1, INT32_MAX)
                                                      : (placement.rpc_servers.empty() ? 0 : -1);
                placement.tensor_split = tensor_split.value_or(std::vector<float>{});
                new (self) Model(fs_path(path), placement, use_mmap, load_mtp, vocab_only, repack);
            },
            nb::arg("path"), nb::kw_only(), nb::arg("n_gpu_layers").none() = nb::none(), nb::arg("use_mmap") = true,
            nb::arg("load_mtp") = true, nb::arg("vocab_only") = false, nb::arg("repack") = true,
            nb::arg("rpc_servers").none() = nb::none(), nb::arg("tensor_split").none() = nb::none(),
            nb::sig("def __init__(self, path: str | os.PathLike[str], *, n_gpu_layers: int | None = None, "
                    "use_mmap: bool = True, load_mtp: bool = True, vocab_only: bool = False, repack: bool = True, "
                    "rpc_servers: collections.abc.Sequence[str] | None = None, "
                    "tensor_split: collections.abc.Sequence[float] | None = None) -> None"),
            "Load a GGUF file (the GIL is released while loading). repack=False maps to "
            "upstream's use_extra_bufts=false (no weight repacking / AMX kernels).\n\n"
            "rpc_servers: 'host:port' endpoints of ``llama-mtp rpc-server`` workers (upstream's --rpc); "
            "their devices come first, then local GPUs. n_gpu_layers: how many layers (the last ones; -1: "
            "all) go to those devices; None means all when rpc_servers are given, else 0. tensor_split: "
            "the share of each device (default: by free memory). An unreachable server, a failed "
            "handshake or another protocol version raises ModelLoadError naming the endpoint.")
        .def_prop_ro(
            "path", [](const Model & s) { return path_str(s.path); }, "Path the model was loaded from.")
        .def_prop_ro("closed", &Model::closed, "True after close().")
        .def_prop_ro("devices", &device_placement, nb::sig("def devices(self) -> list[dict[str, typing.Any]]"),
                     "Where the weights are, one dict per device in use: name, description, "
                     "rpc_endpoint ('host:port' for an RPC server, else None), layers (indices), output "
                     "(holds the output layer), weight_bytes.")
        .def_prop_ro(
            "rpc_servers", [](const Model & s) { return s.rpc() ? s.rpc()->endpoints() : std::vector<std::string>{}; },
            "The RPC servers given at load ('host:port').")
        .def("close", &Model::close,
             "Drop this object's reference to the weights; they are freed once no context "
             "uses them.")
        .def(
            "__enter__", [](nb::handle self) { return nb::borrow(self); }, nb::sig("def __enter__(self) -> Model"),
            "The model itself; close() on exit.")
        .def(
            "__exit__", [](Model & self, nb::args) { self.close(); },
            nb::sig("def __exit__(self, *args: object) -> None"), "close()")
        .def_prop_ro("n_vocab", &Model::n_vocab, "Vocabulary size.")
        .def_prop_ro(
            "n_embd", [](const Model & s) { return llama_model_n_embd(s.shared().get()); }, "Hidden size.")
        .def_prop_ro(
            "n_embd_out", [](const Model & s) { return llama_model_n_embd_out(s.shared().get()); },
            "Width of the output embeddings (the rows MTP consumes).")
        .def_prop_ro(
            "n_layer", [](const Model & s) { return llama_model_n_layer(s.shared().get()); },
            "Number of blocks as upstream counts them (NextN blocks included).")
        .def_prop_ro(
            "n_layer_nextn", [](const Model & s) { return s.n_layer_nextn(); },
            "Number of NextN (MTP) blocks; 0 when the model has none or they "
            "were not loaded.")
        .def_prop_ro(
            "n_head", [](const Model & s) { return llama_model_n_head(s.shared().get()); },
            "Attention heads per layer.")
        .def_prop_ro(
            "n_head_kv", [](const Model & s) { return llama_model_n_head_kv(s.shared().get()); },
            "Key/value heads per layer (fewer than n_head with grouped-query attention).")
        .def_prop_ro(
            "n_ctx_train", [](const Model & s) { return llama_model_n_ctx_train(s.shared().get()); },
            "Context length the model was trained with.")
        .def_prop_ro(
            "arch", [](const Model & s) { return meta_string(s.shared().get(), "general.architecture"); },
            "Architecture name from the GGUF metadata (e.g. 'qwen35').")
        .def_prop_ro(
            "description",
            [](const Model & s) {
                char buf[256];
                int32_t n = llama_model_desc(s.shared().get(), buf, sizeof(buf));
                return std::string(buf, n > 0 ? std::min<size_t>(n, 255) : 0);
            },
            "Upstream's one-line description (arch, size, type).")
        .def_static(
            "from_pretrained",
            [](nb::args args, nb::kwargs kwargs) {
                return nb::module_::import_("llama_mtp.hub").attr("from_pretrained")(*args, **kwargs);
            },
            nb::sig("def from_pretrained(repo_id: str, filename: str, *, revision: str | None = None, "
                    "cache_dir: str | os.PathLike[str] | None = None, local_files_only: bool = False, "
                    "token: str | bool | None = None, **model_kwargs: typing.Any) -> Model"),
            "A GGUF file from the Hugging Face Hub by repository and file name (or glob), through "
            "huggingface_hub's cache (HF_HUB_OFFLINE=1: the cache only); model_kwargs go to Model(). "
            "Needs the hub extra (pip install 'llama-mtp[hub]').")
        .def_prop_ro(
            "chat_template",
            [](const Model & s) -> std::optional<std::string> {
                const char * t = llama_model_chat_template(s.shared().get(), nullptr);
                if (t == nullptr) return std::nullopt;
                return std::string(t);
            },
            nb::sig("def chat_template(self) -> str | None"),
            "The chat template the GGUF carries (tokenizer.chat_template), None when it has none.")
        .def_prop_ro(
            "size_bytes", [](const Model & s) { return llama_model_size(s.shared().get()); },
            "Total size of all tensors in bytes.")
        .def_prop_ro(
            "n_params", [](const Model & s) { return llama_model_n_params(s.shared().get()); }, "Number of parameters.")
        .def_prop_ro(
            "is_recurrent", [](const Model & s) { return llama_model_is_recurrent(s.shared().get()); },
            "Pure recurrent architecture (Mamba, RWKV, ...).")
        .def_prop_ro(
            "is_hybrid", [](const Model & s) { return llama_model_is_hybrid(s.shared().get()); },
            "Hybrid recurrent + attention architecture (e.g. qwen35).")
        .def_prop_ro(
            "has_mtp", [](const Model & s) { return s.n_layer_nextn() > 0; },
            "True when NextN (MTP) layers are loaded and a draft context can be "
            "made.")
        .def_prop_ro(
            "bos", [](const Model & s) { return llama_vocab_bos(llama_model_get_vocab(s.shared().get())); },
            "Beginning-of-sequence token id (-1 if none).")
        .def_prop_ro(
            "eos", [](const Model & s) { return llama_vocab_eos(llama_model_get_vocab(s.shared().get())); },
            "End-of-sequence token id (-1 if none).")
        .def_prop_ro(
            "add_bos", [](const Model & s) { return llama_vocab_get_add_bos(llama_model_get_vocab(s.shared().get())); },
            "Whether tokenize(add_special=True) prepends BOS.")
        .def(
            "is_eog",
            [](const Model & s, IntArg token_arg) {
                const int64_t token = token_arg.in("token", 0, INT32_MAX);
                s.check_token(token);
                return llama_vocab_is_eog(llama_model_get_vocab(s.shared().get()), (llama_token) token);
            },
            nb::arg("token"), "True for end-of-generation tokens (EOS, EOT, ...).")
        .def(
            "new_context",
            [](nb::handle self, nb::kwargs kwargs) {
                // the keywords of Context(); anything else is the caller's typo
                static const char * const known[] = {"n_ctx",     "n_batch",   "n_ubatch",
                                                     "n_seq_max", "n_threads", "n_threads_batch",
                                                     "ctx_type",  "n_rs_seq",  "embeddings"};
                for (auto item : kwargs) {
                    const std::string key = nb::cast<std::string>(item.first);
                    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
                        throw nb::type_error(
                            ("Model.new_context() got an unexpected keyword argument '" + key + "'").c_str());
                    }
                }
                return nb::type<Context>()(self, **kwargs);
            },
            nb::sig("def new_context(self, *, n_ctx: int = 4096, n_batch: int = 512, n_ubatch: int = 512, "
                    "n_seq_max: int = 1, n_threads: int | None = None, n_threads_batch: int | None = None, "
                    "ctx_type: ContextType = ..., n_rs_seq: int = 0, embeddings: bool = False) "
                    "-> Context"),
            "Context(self, ...): a new context over this model (the same keyword arguments).")
        .def("metadata", &metadata, nb::sig("def metadata(self) -> dict[str, str]"),
             "All GGUF key/value metadata as strings.")
        .def("tokenize", &tokenize, nb::arg("text"), nb::arg("add_special") = true, nb::arg("parse_special") = false,
             nb::sig("def tokenize(self, text: str, add_special: bool = True, "
                     "parse_special: bool = False) -> numpy.ndarray[dtype=int32, shape=(*)]"),
             "Text to token ids (a new int32 array).")
        .def("detokenize", &detokenize, nb::arg("tokens"), nb::arg("remove_special") = false,
             nb::arg("unparse_special") = false,
             nb::sig("def detokenize(self, tokens: collections.abc.Sequence[int] | "
                     "numpy.ndarray, remove_special: bool = False, unparse_special: bool = "
                     "False) -> str"),
             "Token ids to text (invalid UTF-8 from partial byte tokens becomes U+FFFD).")
        .def("token_to_piece", &token_to_piece, nb::arg("token"), nb::arg("special") = true, "The text of one token.")
        .def("__repr__", [](nb::handle self) {
            const Model & s = nb::cast<const Model &>(self);
            if (s.closed()) {
                return std::string("<llama_mtp.Model closed>");
            }
            return "<llama_mtp.Model " + nb::cast<std::string>(nb::repr(self.attr("path"))) +
                   " arch=" + meta_string(s.shared().get(), "general.architecture") +
                   " nextn=" + std::to_string(s.n_layer_nextn()) + ">";
        });
}

}  // namespace llama_mtp
