#include "context.h"

#include <algorithm>
#include <array>
#include <string>
#include <thread>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include "errors.h"
#include "llama-ext.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

int32_t default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : (int32_t) n;
}

void require(bool ok, const std::string & msg) {
    if (!ok) {
        throw InvalidArgumentError(msg);
    }
}

}  // namespace

Context::Context(nb::object model_obj, const ContextParams & p) : params_(p) {
    Model & model = nb::cast<Model &>(model_obj);
    model_ = model.shared();
    model_obj_ = std::move(model_obj);
    if (model.vocab_only) {
        throw ContextError("the model was loaded with vocab_only=True: it has no weights to run");
    }
    require(p.n_ctx >= 1 && p.n_ctx <= (1u << 24), "n_ctx must be in [1, 16777216], got " + std::to_string(p.n_ctx));
    require(p.n_batch >= 1 && p.n_batch <= (1u << 20), "n_batch must be in [1, 1048576], got " + std::to_string(p.n_batch));
    require(p.n_ubatch >= 1, "n_ubatch must be >= 1, got " + std::to_string(p.n_ubatch));
    const uint32_t max_seq = (uint32_t) llama_max_parallel_sequences();
    require(p.n_seq_max >= 1 && p.n_seq_max <= max_seq,
            "n_seq_max must be in [1, " + std::to_string(max_seq) + "], got " + std::to_string(p.n_seq_max));
    require(p.n_threads >= 0 && p.n_threads_batch >= 0, "thread counts must be >= 1 (or None for the default)");
    require(p.n_rs_seq <= 64, "n_rs_seq must be in [0, 64], got " + std::to_string(p.n_rs_seq));
    if (p.ctx_type == ContextType::MTP && model.n_layer_nextn() <= 0) {
        throw ContextError("ctx_type=MTP needs a model with NextN (MTP) layers; this model has "
                           "none (or was loaded with load_mtp=False)");
    }
    // upstream silently clamps n_ubatch to n_batch; do the same so the property tells the truth
    params_.n_ubatch = std::min(p.n_ubatch, p.n_batch);
    params_.n_threads = p.n_threads > 0 ? p.n_threads : default_threads();
    params_.n_threads_batch = p.n_threads_batch > 0 ? p.n_threads_batch : params_.n_threads;

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = params_.n_ctx;
    cp.n_batch = params_.n_batch;
    cp.n_ubatch = params_.n_ubatch;
    cp.n_seq_max = params_.n_seq_max;
    cp.n_rs_seq = params_.n_rs_seq;
    cp.n_threads = params_.n_threads;
    cp.n_threads_batch = params_.n_threads_batch;
    cp.ctx_type = (llama_context_type) params_.ctx_type;
    cp.embeddings = params_.embeddings;
    cp.no_perf = false;
    {
        nb::gil_scoped_release release;
        ctx_ = llama_init_from_model(model_.get(), cp);
    }
    if (!ctx_) {
        throw ContextError("llama.cpp could not create the context (see the log; too large "
                           "n_ctx for memory, or parameters the model does not support)");
    }
    outputs_reserved_ = (int32_t) params_.n_seq_max;
}

Context::~Context() {
    if (ctx_) {
        llama_free(ctx_);
    }
}

llama_context * Context::get() const {
    if (!ctx_) {
        throw ClosedError("the context is closed");
    }
    return ctx_;
}

void Context::close() {
    if (!ctx_) {
        return;
    }
    if (sessions > 0) {
        throw ContextError("an MtpSession uses this context: delete the session before close()");
    }
    if (live_views > 0) {
        throw StaleViewError(std::to_string(live_views) +
                             " zero-copy view(s) of this context are alive; delete them (or "
                             "copy what you need) before close()");
    }
    llama_free(ctx_);
    ctx_ = nullptr;
}

void Context::check_seq(int64_t seq_id, bool allow_all) const {
    if (allow_all && seq_id == -1) {
        return;
    }
    if (seq_id < 0 || seq_id >= (int64_t) params_.n_seq_max) {
        throw InvalidArgumentError("seq_id " + std::to_string(seq_id) + " is out of range [0, " +
                                   std::to_string(params_.n_seq_max) + ") (n_seq_max)" +
                                   (allow_all ? "; -1 means all sequences" : ""));
    }
}

void Context::guard_output_buffer(int32_t n_outputs_needed) {
    // llama.cpp reallocates its output buffer when a decode needs more rows than it holds
    // (or the output layout changed); live views would then point at freed memory.
    const bool may_grow = layout_changed_ || n_outputs_needed > outputs_reserved_;
    if (may_grow && live_views > 0) {
        throw StaleViewError(
            "this decode may reallocate llama.cpp's output buffer, and " +
            std::to_string(live_views) +
            " zero-copy view(s) of the current outputs are alive; delete them or .copy() them "
            "first");
    }
}

void Context::decode(const Batch & batch) {
    llama_context * ctx = get();
    if (params_.ctx_type == ContextType::MTP) {
        throw ContextError("an MTP context is driven by MtpSession, not decoded directly");
    }
    const int32_t n = batch.size();
    require(n >= 1, "cannot decode an empty batch");
    require((uint32_t) n <= params_.n_batch, "batch has " + std::to_string(n) +
                                                 " tokens, more than the context's n_batch " +
                                                 std::to_string(params_.n_batch));
    const int32_t n_vocab = vocab_size(model_.get());
    const int32_t * tok = batch.token();
    const int32_t * pos = batch.pos();
    const int32_t * nseq = batch.n_seq_id();
    for (int32_t i = 0; i < n; ++i) {
        check_token_id(n_vocab, tok[i], "token", i);
        if (pos[i] < 0) {
            throw InvalidArgumentError("batch row " + std::to_string(i) + ": negative position " +
                                       std::to_string(pos[i]));
        }
        if (nseq[i] < 1 || nseq[i] > batch.n_seq_max()) {
            throw InvalidArgumentError("batch row " + std::to_string(i) + ": n_seq_id " + std::to_string(nseq[i]) +
                                       " outside [1, " + std::to_string(batch.n_seq_max()) + "]");
        }
        for (int32_t k = 0; k < nseq[i]; ++k) {
            const int32_t s = batch.seq_id(i, k);
            if (s < 0 || (uint32_t) s >= params_.n_seq_max) {
                throw InvalidArgumentError("batch row " + std::to_string(i) + ": seq_id " + std::to_string(s) +
                                           " is out of range [0, " + std::to_string(params_.n_seq_max) +
                                           ") (the context's n_seq_max)");
            }
        }
    }
    const int32_t n_outputs = params_.embeddings ? n : batch.n_outputs();
    guard_output_buffer(n_outputs);

    int32_t rc = 0;
    {
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mutex);
        rc = llama_decode(ctx, batch.view());
    }
    ++decode_count_;
    if (rc != 0) {
        last_out_index_.clear();
        last_n_outputs_ = 0;
        std::string what = rc == 1   ? "no KV cache slot for the batch (context full: raise n_ctx or remove sequences)"
                           : rc == 2 ? "decode aborted"
                           : rc == -1 ? "llama.cpp rejected the batch (inconsistent positions or sequence ids; see the log)"
                                      : "llama_decode failed";
        throw DecodeError(rc, what + " [code " + std::to_string(rc) + "]");
    }
    outputs_reserved_ = std::max(outputs_reserved_, n_outputs);
    layout_changed_ = false;
    last_out_index_.assign(n, -1);
    int32_t k = 0;
    const int8_t * out = batch.logits();
    for (int32_t i = 0; i < n; ++i) {
        if (params_.embeddings || out[i]) {
            last_out_index_[i] = k++;
        }
    }
    last_n_outputs_ = k;
}

void Context::note_external_decode(int32_t n_tokens, const std::vector<int32_t> & out_rows) {
    ++decode_count_;
    last_out_index_.assign(n_tokens, -1);
    int32_t k = 0;
    for (int32_t r : out_rows) {
        if (r >= 0 && r < n_tokens) {
            last_out_index_[r] = k++;
        }
    }
    last_n_outputs_ = k;
    outputs_reserved_ = std::max(outputs_reserved_, k);
    layout_changed_ = false;
}

int32_t Context::output_index(int64_t i, const char * what) const {
    if (last_out_index_.empty()) {
        throw ContextError(std::string("no ") + what + " available: decode a batch first");
    }
    if (i < 0) {
        if (-i > last_n_outputs_) {
            throw InvalidArgumentError(std::string(what) + " index " + std::to_string(i) + " out of range: the last batch produced " +
                                       std::to_string(last_n_outputs_) + " output(s)");
        }
        return (int32_t) i;  // upstream resolves negative indices from the last output
    }
    if (i >= (int64_t) last_out_index_.size()) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) + " out of range: the last batch had " +
                                   std::to_string(last_out_index_.size()) + " row(s)");
    }
    if (last_out_index_[i] < 0) {
        throw InvalidArgumentError(std::string(what) + " row " + std::to_string(i) +
                                   " was decoded without its logits flag set");
    }
    return (int32_t) i;
}

namespace {

// Owner of a zero-copy view: keeps the Python Context alive, remembers the decode
// count (generation) the view belongs to, and exposes the memory to numpy through
// __array_interface__, so that numpy makes this object the array's `.base`.
struct ViewOwner {
    nb::object ctx_obj;
    Context * ctx;
    uint64_t generation;
    const float * data;
    std::vector<size_t> shape;
    ViewOwner(nb::object obj, Context * c, const float * d, std::vector<size_t> s)
        : ctx_obj(std::move(obj)), ctx(c), generation(c->decode_count()), data(d), shape(std::move(s)) {
        ++ctx->live_views;
    }
    ~ViewOwner() { --ctx->live_views; }
    bool is_current() const { return !ctx->closed() && ctx->decode_count() == generation; }
    nb::dict array_interface() const {
        nb::dict d;
        nb::list dims;
        for (size_t n : shape) {
            dims.append(n);
        }
        d["shape"] = nb::tuple(dims);
        d["typestr"] = "<f4";
        d["data"] = nb::make_tuple((uintptr_t) data, true);  // read-only: llama.cpp owns it
        d["version"] = 3;
        return d;
    }
};

nb::object make_view(nb::handle self_py, Context & ctx, const float * data, std::vector<size_t> shape) {
    if (data == nullptr) {
        throw ContextError("llama.cpp returned no data for this view");
    }
    nb::object owner = nb::cast(new ViewOwner(nb::borrow(self_py), &ctx, data, std::move(shape)),
                                nb::rv_policy::take_ownership);
    return nb::module_::import_("numpy").attr("asarray")(owner);
}

int32_t n_vocab_of(const Context & c) { return llama_vocab_n_tokens(llama_model_get_vocab(c.model().get())); }
int32_t n_embd_out_of(const Context & c) { return llama_model_n_embd_out(c.model().get()); }

nb::object get_logits(nb::handle self_py) {
    Context & c = nb::cast<Context &>(self_py);
    c.output_index(-1, "logits");
    const float * data = llama_get_logits(c.get());
    return make_view(self_py, c, data, {(size_t) c.last_n_outputs(), (size_t) n_vocab_of(c)});
}

nb::object get_logits_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    const int32_t idx = c.output_index(i, "logits");
    return make_view(self_py, c, llama_get_logits_ith(c.get(), idx), {(size_t) n_vocab_of(c)});
}

nb::object get_embeddings_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    if (!c.params().embeddings) {
        throw ContextError("embeddings are off: create the context with embeddings=True");
    }
    const int32_t idx = c.output_index(i, "embeddings");
    return make_view(self_py, c, llama_get_embeddings_ith(c.get(), idx), {(size_t) n_embd_out_of(c)});
}

nb::object get_embeddings_seq(nb::handle self_py, int64_t seq_id) {
    Context & c = nb::cast<Context &>(self_py);
    if (!c.params().embeddings) {
        throw ContextError("embeddings are off: create the context with embeddings=True");
    }
    c.check_seq(seq_id);
    c.output_index(-1, "embeddings");
    if (llama_pooling_type(c.get()) == LLAMA_POOLING_TYPE_NONE) {
        throw ContextError("per-sequence embeddings need a pooling model; this context has no "
                           "pooling (use get_embeddings_ith)");
    }
    return make_view(self_py, c, llama_get_embeddings_seq(c.get(), (llama_seq_id) seq_id),
                        {(size_t) n_embd_out_of(c)});
}

nb::object get_embeddings_pre_norm_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    if (!c.pre_norm) {
        throw ContextError("pre-norm (nextn) embeddings are off: call set_embeddings_pre_norm(True) "
                           "before decoding");
    }
    int32_t idx;
    if (c.pre_norm_masked) {
        idx = c.output_index(i, "pre-norm embeddings");
    } else {
        // unmasked: one row per batch row, whatever the logits flags
        const int64_t n = c.last_n_tokens();
        c.output_index(-1, "pre-norm embeddings");  // "decode first"
        const int64_t r = i < 0 ? n + i : i;
        if (r < 0 || r >= n) {
            throw InvalidArgumentError("pre-norm row " + std::to_string(i) + " out of range for a batch of " +
                                       std::to_string(n) + " row(s)");
        }
        idx = (int32_t) r;
    }
    return make_view(self_py, c, llama_get_embeddings_nextn_ith(c.get(), idx), {(size_t) n_embd_out_of(c)});
}

nb::bytes state_seq_get(Context & c, int64_t seq_id, uint32_t flags) {
    c.check_seq(seq_id);
    llama_context * ctx = c.get();
    std::string buf;
    size_t n = 0;
    {
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(c.mutex);
        const size_t size = llama_state_seq_get_size_ext(ctx, (llama_seq_id) seq_id, flags);
        buf.resize(size);
        n = llama_state_seq_get_data_ext(ctx, (uint8_t *) buf.data(), size, (llama_seq_id) seq_id, flags);
    }
    if (n == 0 && !buf.empty()) {
        throw StateError("could not save the state of seq " + std::to_string(seq_id));
    }
    return nb::bytes(buf.data(), n);
}

void state_seq_set(Context & c, int64_t seq_id, nb::bytes data, uint32_t flags) {
    c.check_seq(seq_id);
    llama_context * ctx = c.get();
    if (data.size() == 0) {
        throw StateError("empty state");
    }
    size_t n = 0;
    {
        nb::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(c.mutex);
        n = llama_state_seq_set_data_ext(ctx, (const uint8_t *) data.c_str(), data.size(), (llama_seq_id) seq_id, flags);
    }
    if (n == 0) {
        throw StateError("could not restore seq " + std::to_string(seq_id) +
                         " (data from another model/context layout, or corrupt); the sequence was cleared");
    }
}

nb::dict perf(const Context & c) {
    const llama_perf_context_data d = llama_perf_context(c.get());
    nb::dict out;
    out["t_start_ms"] = d.t_start_ms;
    out["t_load_ms"] = d.t_load_ms;
    out["t_prompt_eval_ms"] = d.t_p_eval_ms;
    out["t_eval_ms"] = d.t_eval_ms;
    out["n_prompt_eval"] = d.n_p_eval;
    out["n_eval"] = d.n_eval;
    out["n_reused"] = d.n_reused;
    return out;
}

}  // namespace

void bind_context(nb::module_ & m) {
    nb::enum_<ContextType>(m, "ContextType", "Kind of llama.cpp context.")
        .value("DEFAULT", ContextType::DEFAULT, "An ordinary (target) context.")
        .value("MTP", ContextType::MTP, "A draft context running the model's NextN (MTP) layers.");

    nb::class_<ViewOwner>(m, "ViewOwner",
                          "Owner (numpy base) of a zero-copy output view: keeps the context alive "
                          "and records the decode generation the view belongs to.")
        .def_ro("generation", &ViewOwner::generation, "Context.decode_count when the view was taken.")
        .def_prop_ro("__array_interface__", &ViewOwner::array_interface,
                     nb::sig("def __array_interface__(self) -> dict[str, typing.Any]"),
                     "numpy's array interface over llama.cpp's memory (read-only).")
        .def_prop_ro("is_current", &ViewOwner::is_current,
                     "False once the context decoded again (the view then shows newer data) or closed.");

    nb::class_<Context>(m, "Context",
                        "A llama.cpp inference context over a Model (KV cache, outputs). "
                        "Keeps its model alive.")
        .def(
            "__init__",
            [](Context * self, Model & model_ref, uint32_t n_ctx, uint32_t n_batch, uint32_t n_ubatch,
               uint32_t n_seq_max, std::optional<int32_t> n_threads, std::optional<int32_t> n_threads_batch,
               ContextType ctx_type, uint32_t n_rs_seq, bool embeddings) {
                nb::object model = nb::find(&model_ref);  // the caller's Python Model object
                if ((n_threads && *n_threads < 1) || (n_threads_batch && *n_threads_batch < 1)) {
                    throw InvalidArgumentError("thread counts must be >= 1 (or None for the default)");
                }
                ContextParams p;
                p.n_ctx = n_ctx;
                p.n_batch = n_batch;
                p.n_ubatch = n_ubatch;
                p.n_seq_max = n_seq_max;
                p.n_threads = n_threads.value_or(0);
                p.n_threads_batch = n_threads_batch.value_or(0);
                p.ctx_type = ctx_type;
                p.n_rs_seq = n_rs_seq;
                p.embeddings = embeddings;
                new (self) Context(model, p);
            },
            nb::arg("model"), nb::kw_only(), nb::arg("n_ctx") = 4096, nb::arg("n_batch") = 512,
            nb::arg("n_ubatch") = 512, nb::arg("n_seq_max") = 1, nb::arg("n_threads").none() = nb::none(),
            nb::arg("n_threads_batch").none() = nb::none(), nb::arg("ctx_type") = ContextType::DEFAULT,
            nb::arg("n_rs_seq") = 0, nb::arg("embeddings") = false,
"Create a context (GIL released). n_ubatch is clamped to n_batch as upstream does; "
            "n_threads=None uses every hardware thread.")
        .def_prop_ro("model", &Context::model_obj, nb::sig("def model(self) -> Model"), "The Model this context runs.")
        .def_prop_ro("closed", &Context::closed, "True after close().")
        .def("close", &Context::close,
             "Free the context now. Raises StaleViewError while zero-copy views of it are alive.")
        .def("__enter__", [](nb::handle self) { return nb::borrow(self); }, nb::sig("def __enter__(self) -> Context"), "The context itself; close() on exit.")
        .def("__exit__", [](Context & self, nb::args) { self.close(); }, nb::sig("def __exit__(self, *args: object) -> None"), "close()")
        .def_prop_ro("n_ctx", [](const Context & c) { return llama_n_ctx(c.get()); }, "Context size in tokens (KV cells).")
        .def_prop_ro("n_batch", [](const Context & c) { return llama_n_batch(c.get()); }, "Most tokens one decode() accepts.")
        .def_prop_ro("n_ubatch", [](const Context & c) { return llama_n_ubatch(c.get()); }, "Tokens per compute graph (a decode runs n_batch in n_ubatch slices).")
        .def_prop_ro("n_seq_max", [](const Context & c) { return llama_n_seq_max(c.get()); }, "Most sequences the context holds; seq ids are 0..n_seq_max-1.")
        .def_prop_ro("n_rs_seq", [](const Context & c) { return llama_n_rs_seq(c.get()); },
                     "Recurrent-state snapshots per sequence (rollback depth).")
        .def_prop_ro("ctx_type", [](const Context & c) { return c.params().ctx_type; }, "DEFAULT (target) or MTP (draft over the NextN layers).")
        .def_prop_ro("embeddings", [](const Context & c) { return c.params().embeddings; }, "Whether decode() outputs final embeddings.")
        .def_prop_ro("n_threads", [](const Context & c) { return llama_n_threads(c.get()); }, "Threads for single-token decodes.")
        .def_prop_ro("n_threads_batch", [](const Context & c) { return llama_n_threads_batch(c.get()); }, "Threads for multi-token decodes (prompts, verify batches).")
        .def("set_n_threads",
             [](Context & c, int32_t n, std::optional<int32_t> nb_) {
                 if (n < 1 || (nb_ && *nb_ < 1)) {
                     throw InvalidArgumentError("thread counts must be >= 1");
                 }
                 llama_set_n_threads(c.get(), n, nb_.value_or(n));
             },
             nb::arg("n_threads"), nb::arg("n_threads_batch").none() = nb::none(),
             "Change the thread counts (n_threads_batch=None: the same as n_threads).")
        .def_prop_ro("decode_count", &Context::decode_count,
                     "Number of decodes run so far: the generation of views taken now.")
        .def_prop_ro("n_outputs", &Context::last_n_outputs, "Output rows of the last decode.")
        .def("decode", &Context::decode, nb::arg("batch"),
             "Decode a batch (GIL released). Raises InvalidArgumentError for bad tokens, positions or "
             "seq ids, KvCacheFullError / DecodeAbortedError / InvalidBatchError / DecodeError for "
             "upstream failures (with .code).")
        .def("get_logits", &get_logits,
             nb::sig("def get_logits(self) -> numpy.ndarray[dtype=float32, shape=(*, *), writable=False]"),
             "Read-only zero-copy view (n_outputs, n_vocab) of the last decode's logits, rows in "
             "batch order. Valid until the next decode (see ViewOwner.is_current).")
        .def("get_logits_ith", &get_logits_ith, nb::arg("i"),
             nb::sig("def get_logits_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
             "Read-only zero-copy view of the logits of batch row i (negative: from the last output).")
        .def("get_embeddings_ith", &get_embeddings_ith, nb::arg("i"),
             nb::sig("def get_embeddings_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
             "Read-only zero-copy view of the output embedding of batch row i (embeddings=True).")
        .def("get_embeddings_seq", &get_embeddings_seq, nb::arg("seq_id"),
             nb::sig("def get_embeddings_seq(self, seq_id: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
             "Read-only zero-copy view of a sequence's pooled embedding (pooling models only).")
        .def("set_embeddings_pre_norm",
             [](Context & c, bool on, bool masked) {
                 llama_set_embeddings_nextn(c.get(), on, masked);
                 c.pre_norm = on;
                 c.pre_norm_masked = masked;
                 c.note_layout_change();
             },
             nb::arg("on"), nb::arg("masked") = false,
             "Extract the pre-norm hidden states (the rows NextN/MTP layers consume): for every "
             "batch row, or only rows with the logits flag when masked=True.")
        .def_prop_ro("embeddings_pre_norm", [](const Context & c) { return c.pre_norm; }, "Whether pre-norm hidden states are extracted (set_embeddings_pre_norm).")
        .def("get_embeddings_pre_norm_ith", &get_embeddings_pre_norm_ith, nb::arg("i"),
             nb::sig("def get_embeddings_pre_norm_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
             "Read-only zero-copy view of the pre-norm hidden state of batch row i.")
        .def("memory_clear",
             [](Context & c, bool data) { llama_memory_clear(llama_get_memory(c.get()), data); },
             nb::arg("data") = true, "Remove every sequence from the KV cache / recurrent state.")
        .def("memory_seq_rm",
             [](Context & c, int64_t seq_id, int64_t p0, int64_t p1) {
                 c.check_seq(seq_id, true);
                 return llama_memory_seq_rm(llama_get_memory(c.get()), (llama_seq_id) seq_id, (llama_pos) p0, (llama_pos) p1);
             },
             nb::arg("seq_id"), nb::arg("p0") = -1, nb::arg("p1") = -1,
             "Remove positions [p0, p1) of a sequence (-1: open end; seq_id -1: all). Returns False "
             "when the memory cannot remove a partial range (recurrent state without snapshots).")
        .def("memory_seq_cp",
             [](Context & c, int64_t src, int64_t dst, int64_t p0, int64_t p1) {
                 c.check_seq(src);
                 c.check_seq(dst);
                 llama_memory_seq_cp(llama_get_memory(c.get()), (llama_seq_id) src, (llama_seq_id) dst, (llama_pos) p0, (llama_pos) p1);
             },
             nb::arg("seq_id_src"), nb::arg("seq_id_dst"), nb::arg("p0") = -1, nb::arg("p1") = -1,
             "Share positions [p0, p1) of one sequence with another (-1: open end).")
        .def("memory_seq_keep",
             [](Context & c, int64_t seq_id) {
                 c.check_seq(seq_id);
                 llama_memory_seq_keep(llama_get_memory(c.get()), (llama_seq_id) seq_id);
             },
             nb::arg("seq_id"), "Remove every sequence but this one.")
        .def("memory_seq_pos_min",
             [](Context & c, int64_t seq_id) {
                 c.check_seq(seq_id);
                 return llama_memory_seq_pos_min(llama_get_memory(c.get()), (llama_seq_id) seq_id);
             },
             nb::arg("seq_id"), "Smallest position of the sequence in memory, -1 if empty.")
        .def("memory_seq_pos_max",
             [](Context & c, int64_t seq_id) {
                 c.check_seq(seq_id);
                 return llama_memory_seq_pos_max(llama_get_memory(c.get()), (llama_seq_id) seq_id);
             },
             nb::arg("seq_id"), "Largest position of the sequence in memory, -1 if empty.")
        .def("state_seq_get", &state_seq_get, nb::arg("seq_id"), nb::arg("flags") = 0,
             "Serialize one sequence's memory (KV and recurrent state).")
        .def("state_seq_set", &state_seq_set, nb::arg("seq_id"), nb::arg("data"), nb::arg("flags") = 0,
             "Restore a sequence from state_seq_get(); raises StateError on mismatch.")
        .def("perf", &perf, nb::sig("def perf(self) -> dict[str, float]"), "Upstream's timing counters.")
        .def("perf_reset", [](Context & c) { llama_perf_context_reset(c.get()); }, "Zero upstream's timing counters.")
        .def("__repr__", [](const Context & c) {
            if (c.closed()) {
                return std::string("<llama_mtp.Context closed>");
            }
            return std::string("<llama_mtp.Context ") + (c.params().ctx_type == ContextType::MTP ? "MTP" : "DEFAULT") +
                   " n_ctx=" + std::to_string(llama_n_ctx(c.get())) + " n_seq_max=" + std::to_string(c.params().n_seq_max) + ">";
        });
}

}  // namespace llama_mtp
