#include "context.h"

#include <string>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bind.h"
#include "errors.h"
#include "int_arg.h"
#include "llama-ext.h"
#include "threads.h"
#include "view_bindings.h"
#include "view_owner.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// State flags upstream defines (llama.h LLAMA_STATE_SEQ_FLAGS_*).
uint32_t state_flags(IntArg flags) {
    return flags.u32("flags", 0, 3);
}

nb::bytes state_seq_get(Context & c, IntArg seq, IntArg flags_arg) {
    const int64_t seq_id = seq.in("seq_id", 0, INT32_MAX);
    const uint32_t flags = state_flags(flags_arg);
    c.check_seq(seq_id);
    std::string buf;
    size_t n = 0;
    {
        nb::gil_scoped_release release;
        const Context::Lock lock(c);
        llama_context * ctx = lock.get();
        const size_t size = llama_state_seq_get_size_ext(ctx, (llama_seq_id) seq_id, flags);
        buf.resize(size);
        n = llama_state_seq_get_data_ext(ctx, (uint8_t *) buf.data(), size, (llama_seq_id) seq_id, flags);
    }
    if (n == 0 && !buf.empty()) {
        throw StateError("could not save the state of seq " + std::to_string(seq_id));
    }
    return nb::bytes(buf.data(), n);
}

void state_seq_set(Context & c, IntArg seq, nb::bytes data, IntArg flags_arg) {
    const int64_t seq_id = seq.in("seq_id", 0, INT32_MAX);
    const uint32_t flags = state_flags(flags_arg);
    c.check_seq(seq_id);
    if (data.size() == 0) {
        throw StateError("empty state");
    }
    size_t n = 0;
    {
        nb::gil_scoped_release release;
        const Context::Lock lock(c);
        n = llama_state_seq_set_data_ext(lock.get(), (const uint8_t *) data.c_str(), data.size(), (llama_seq_id) seq_id,
                                         flags);
    }
    if (n == 0) {
        throw StateError("could not restore seq " + std::to_string(seq_id) +
                         " (data from another model/context layout, or corrupt); the sequence was cleared");
    }
}

struct MemoryRange {
    llama_seq_id seq;
    llama_pos p0, p1;
};

// The one check of memory_* arguments: a seq id of this context (-1 = all where allowed) and
// positions in [-1, 2**31 - 1] (-1 = open end), so nothing wraps on the way to llama_pos.
MemoryRange memory_range(const Context & c, IntArg seq_id, IntArg p0, IntArg p1, bool allow_all,
                         const char * seq_name = "seq_id") {
    const int64_t seq = seq_id.in(seq_name, allow_all ? -1 : 0, INT32_MAX);
    c.check_seq(seq, allow_all);
    return {(llama_seq_id) seq, (llama_pos) p0.in("p0", -1, INT32_MAX), (llama_pos) p1.in("p1", -1, INT32_MAX)};
}

nb::dict perf(const Context & c) {
    const llama_perf_context_data d = llama_perf_context(Context::Lock(c).get());
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

    bind_view_owner(m);

    m.def(
        "_lock_pair",
        [](const Context & first, const Context & second) {
            nb::gil_scoped_release release;
            const Context::Lock a(first);
            const Context::Lock b(second);
        },
        nb::arg("first"), nb::arg("second"),
        "Testing aid: take first's lock, then second's, as every path that locks two contexts does "
        "(ContextError where that would wait for itself or break the DEFAULT-before-MTP order).");

    auto context =
        nb::class_<Context>(m, "Context",
                            "A llama.cpp inference context over a Model (KV cache, outputs). "
                            "Keeps its model alive.")
            .def(
                "__init__",
                [](Context * self, std::shared_ptr<Model> model, IntArg n_ctx, IntArg n_batch, IntArg n_ubatch,
                   IntArg n_seq_max, std::optional<IntArg> n_threads, std::optional<IntArg> n_threads_batch,
                   ContextType ctx_type, IntArg n_rs_seq, bool embeddings) {
                    ContextParams p;
                    p.n_ctx = n_ctx.u32("n_ctx", 1, 1 << 24);
                    p.n_batch = n_batch.u32("n_batch", 1, 1 << 20);
                    p.n_ubatch = n_ubatch.u32("n_ubatch", 1, 1 << 20);
                    p.n_seq_max = n_seq_max.u32("n_seq_max", 1, llama_max_parallel_sequences());
                    p.n_threads = n_threads ? thread_count(*n_threads, "n_threads") : 0;
                    p.n_threads_batch = n_threads_batch ? thread_count(*n_threads_batch, "n_threads_batch") : 0;
                    p.ctx_type = ctx_type;
                    p.n_rs_seq = n_rs_seq.u32("n_rs_seq", 0, 64);
                    p.embeddings = embeddings;
                    new (self) Context(std::move(model), p);
                },
                nb::arg("model"), nb::kw_only(), nb::arg("n_ctx") = 4096, nb::arg("n_batch") = 512,
                nb::arg("n_ubatch") = 512, nb::arg("n_seq_max") = 1, nb::arg("n_threads").none() = nb::none(),
                nb::arg("n_threads_batch").none() = nb::none(), nb::arg("ctx_type") = ContextType::DEFAULT,
                nb::arg("n_rs_seq") = 0, nb::arg("embeddings") = false,
                "Create a context (GIL released). llama.cpp pads n_ctx per sequence and clamps n_batch to "
                "n_ctx and n_ubatch to n_batch; the properties report what it uses. n_threads=None picks what "
                "upstream would: one thread per physical core, never more than the CPUs this process may run "
                "on (llama_mtp.default_threads()).")
            .def_prop_ro("model", &Context::model_handle, nb::sig("def model(self) -> Model"),
                         "The Model this context runs.")
            .def_prop_ro("closed", &Context::closed, "True after close().")
            .def("close", &Context::close,
                 "Free the context now. Raises StaleViewError while zero-copy views of it are alive.")
            .def(
                "__enter__", [](nb::handle self) { return nb::borrow(self); },
                nb::sig("def __enter__(self) -> Context"), "The context itself; close() on exit.")
            .def(
                "__exit__", [](Context & self, nb::args) { self.close(); },
                nb::sig("def __exit__(self, *args: object) -> None"), "close()")
            .def_prop_ro(
                "n_ctx", [](const Context & c) { return c.params().n_ctx; },
                "Context size in tokens (KV cells, all sequences).")
            .def_prop_ro(
                "n_ctx_seq", [](const Context & c) { return c.params().n_ctx_seq; },
                "KV cells one sequence may use (n_ctx / n_seq_max, padded by llama.cpp).")
            .def_prop_ro(
                "n_batch", [](const Context & c) { return c.params().n_batch; },
                "Most tokens one decode() accepts (at most n_ctx).")
            .def_prop_ro(
                "n_ubatch", [](const Context & c) { return c.params().n_ubatch; },
                "Tokens per compute graph (a decode runs n_batch in n_ubatch slices).")
            .def_prop_ro(
                "n_seq_max", [](const Context & c) { return c.params().n_seq_max; },
                "Most sequences the context holds; seq ids are 0..n_seq_max-1.")
            .def_prop_ro(
                "n_rs_seq", [](const Context & c) { return c.params().n_rs_seq; },
                "Recurrent-state snapshots per sequence (rollback depth).")
            .def_prop_ro(
                "ctx_type", [](const Context & c) { return c.params().ctx_type; },
                "DEFAULT (target) or MTP (draft over the NextN layers).")
            .def_prop_ro(
                "embeddings", [](const Context & c) { return c.params().embeddings; },
                "Whether decode() outputs final embeddings.")
            .def_prop_ro(
                "n_threads", [](const Context & c) { return c.params().n_threads; },
                "Threads for single-token decodes.")
            .def_prop_ro(
                "n_threads_batch", [](const Context & c) { return c.params().n_threads_batch; },
                "Threads for multi-token decodes (prompts, verify batches).")
            .def(
                "set_n_threads",
                [](Context & c, IntArg n, std::optional<IntArg> n_batch) {
                    const int32_t threads = thread_count(n, "n_threads");
                    c.set_n_threads(threads, n_batch ? thread_count(*n_batch, "n_threads_batch") : threads);
                },
                nb::arg("n_threads"), nb::arg("n_threads_batch").none() = nb::none(),
                "Change the thread counts (n_threads_batch=None: the same as n_threads).")
            .def(
                "set_draft_vocabulary",
                [](Context & c, nb::handle tokens, IntArg spare) {
                    const auto ids = token_list(tokens, c.model_handle()->n_vocab(), "token");
                    return c.set_draft_vocabulary(ids, spare.i32("spare", 0, 1 << 24));
                },
                nb::arg("tokens"), nb::kw_only(), nb::arg("spare") = 1024,
                "Restrict this MTP draft context's head to a draft vocabulary: the drafts are computed over "
                "these tokens only (and those a text later uses, admitted as it goes, `spare` of them "
                "without a rebuild); an empty list restores the whole vocabulary. The target verifies "
                "every token, so the text does not depend on it. Returns the number of LM heads restricted "
                "(0: the model has none to restrict). Raises InvalidArgumentError (not an MTP context, a "
                "token out of range or listed twice) or ModelLoadError (the head cannot be read from the "
                "model file).")
            .def_prop_ro(
                "draft_vocabulary_size",
                [](const Context & c) -> std::optional<int64_t> {
                    const DraftVocabulary * v = c.draft_vocabulary();
                    return v ? std::optional<int64_t>((int64_t) v->size()) : std::nullopt;
                },
                "Tokens in the draft vocabulary now (None: the whole vocabulary).")
            .def_prop_ro("decode_count", &Context::decode_count,
                         "Number of decodes run so far: the generation of views taken now.")
            .def_prop_ro("n_outputs", &Context::last_n_outputs, "Output rows of the last decode.")
            .def("decode", &Context::decode, nb::arg("batch"), nb::kw_only(), nb::arg("exact") = false,
                 "Decode a batch (GIL released). Raises InvalidArgumentError for bad tokens, positions or "
                 "seq ids, KvCacheFullError / DecodeAbortedError / InvalidBatchError / DecodeError for "
                 "upstream failures (with .code). exact: batch-invariant, every row's outputs bit for bit "
                 "those of a one-row batch (slower on repacked CPU weights).")
            .def(
                "set_embeddings_pre_norm",
                [](Context & c, bool on, bool masked) {
                    const Context::Lock lock(c);
                    if (c.sessions > 0) {
                        throw ContextError(
                            "an MtpSession or generation uses this context and needs its pre-norm "
                            "embeddings: delete it first");
                    }
                    c.set_pre_norm_locked(lock, on, masked);
                },
                nb::arg("on"), nb::arg("masked") = false,
                "Extract the pre-norm hidden states (the rows NextN/MTP layers consume): for every "
                "batch row, or only rows with the logits flag when masked=True.")
            .def_prop_ro(
                "embeddings_pre_norm", [](const Context & c) { return c.pre_norm; },
                "Whether pre-norm hidden states are extracted (set_embeddings_pre_norm).")
            .def(
                "memory_clear",
                [](Context & c, bool data) {
                    nb::gil_scoped_release release;
                    llama_memory_clear(Context::Lock(c).memory(), data);
                },
                nb::arg("data") = true, "Remove every sequence from the KV cache / recurrent state.")
            .def(
                "memory_seq_rm",
                [](Context & c, IntArg seq_id, IntArg p0, IntArg p1) {
                    const MemoryRange r = memory_range(c, seq_id, p0, p1, true);
                    nb::gil_scoped_release release;
                    return llama_memory_seq_rm(Context::Lock(c).memory(), r.seq, r.p0, r.p1);
                },
                nb::arg("seq_id"), nb::arg("p0") = -1, nb::arg("p1") = -1,
                "Remove positions [p0, p1) of a sequence (-1: open end; seq_id -1: all). Returns False "
                "when the memory cannot remove a partial range (recurrent state without snapshots).")
            .def(
                "memory_seq_cp",
                [](Context & c, IntArg src_arg, IntArg dst_arg, IntArg p0, IntArg p1) {
                    const MemoryRange r = memory_range(c, src_arg, p0, p1, false, "seq_id_src");
                    const llama_seq_id dst = memory_range(c, dst_arg, p0, p1, false, "seq_id_dst").seq;
                    // each sequence has its own KV stream; upstream copies only whole streams across them
                    if (r.seq != dst && (r.p0 > 0 || r.p1 >= 0)) {
                        throw InvalidArgumentError(
                            "memory_seq_cp between two sequences copies whole sequences only "
                            "(p0 and p1 must be -1; llama.cpp keeps each sequence in its own KV "
                            "stream), got p0=" +
                            std::to_string(r.p0) + ", p1=" + std::to_string(r.p1));
                    }
                    nb::gil_scoped_release release;
                    llama_memory_seq_cp(Context::Lock(c).memory(), r.seq, dst, r.p0, r.p1);
                },
                nb::arg("seq_id_src"), nb::arg("seq_id_dst"), nb::arg("p0") = -1, nb::arg("p1") = -1,
                "Copy a whole sequence to another (p0 = p1 = -1; a partial range only within one sequence).")
            .def(
                "memory_seq_keep",
                [](Context & c, IntArg seq_id) {
                    const llama_seq_id seq = memory_range(c, seq_id, IntArg{-1}, IntArg{-1}, false).seq;
                    nb::gil_scoped_release release;
                    llama_memory_seq_keep(Context::Lock(c).memory(), seq);
                },
                nb::arg("seq_id"), "Remove every sequence but this one.")
            .def(
                "memory_seq_pos_min",
                [](Context & c, IntArg seq_id) {
                    const llama_seq_id seq = memory_range(c, seq_id, IntArg{-1}, IntArg{-1}, false).seq;
                    return llama_memory_seq_pos_min(Context::Lock(c).memory(), seq);
                },
                nb::arg("seq_id"), "Smallest position of the sequence in memory, -1 if empty.")
            .def(
                "memory_seq_pos_max",
                [](Context & c, IntArg seq_id) {
                    const llama_seq_id seq = memory_range(c, seq_id, IntArg{-1}, IntArg{-1}, false).seq;
                    return llama_memory_seq_pos_max(Context::Lock(c).memory(), seq);
                },
                nb::arg("seq_id"), "Largest position of the sequence in memory, -1 if empty.")
            .def("state_seq_get", &state_seq_get, nb::arg("seq_id"), nb::arg("flags") = 0,
                 "Serialize one sequence's memory (KV and recurrent state).")
            .def("state_seq_set", &state_seq_set, nb::arg("seq_id"), nb::arg("data"), nb::arg("flags") = 0,
                 "Restore a sequence from state_seq_get(); raises StateError on mismatch.")
            .def("perf", &perf, nb::sig("def perf(self) -> dict[str, float]"), "Upstream's timing counters.")
            .def(
                "perf_reset", [](Context & c) { llama_perf_context_reset(Context::Lock(c).get()); },
                "Zero upstream's timing counters.")
            .def("__repr__", [](const Context & c) {
                if (c.closed()) {
                    return std::string("<llama_mtp.Context closed>");
                }
                return std::string("<llama_mtp.Context ") +
                       (c.params().ctx_type == ContextType::MTP ? "MTP" : "DEFAULT") +
                       " n_ctx=" + std::to_string(c.params().n_ctx) +
                       " n_seq_max=" + std::to_string(c.params().n_seq_max) + ">";
            });
    bind_views(context);
}

}  // namespace llama_mtp
