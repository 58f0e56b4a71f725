#include "context.h"

#include <string>

#include <nanobind/stl/string.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include "errors.h"
#include "llama-ext.h"
#include "threads.h"
#include "views.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

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
                if (n_threads) check_thread_count(*n_threads, "n_threads");
                if (n_threads_batch) check_thread_count(*n_threads_batch, "n_threads_batch");
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
            "n_threads=None picks what upstream would: one thread per physical core, never more than the "
            "CPUs this process may run on (llama_mtp.default_threads()).")
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
                 check_thread_count(n, "n_threads");
                 if (nb_) check_thread_count(*nb_, "n_threads_batch");
                 std::lock_guard<std::mutex> lock(c.mutex);
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
