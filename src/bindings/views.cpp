// Zero-copy views of a context's outputs, bound: ViewOwner (their numpy base) and the
// Context.get_* methods. The views themselves are made in view_owner.cpp.
#include "view_bindings.h"

#include "int_arg.h"
#include "view_owner.h"

namespace nb = nanobind;

namespace llama_mtp {

void bind_view_owner(nb::module_ & m) {
    nb::class_<ViewOwner>(m, "ViewOwner",
                          "Owner (numpy base) of a zero-copy output view: keeps the context alive "
                          "and records the decode generation the view belongs to.")
        .def_ro("generation", &ViewOwner::generation, "Context.decode_count when the view was taken.")
        .def_prop_ro("__array_interface__", &ViewOwner::array_interface,
                     nb::sig("def __array_interface__(self) -> dict[str, typing.Any]"),
                     "numpy's array interface over llama.cpp's memory (read-only).")
        .def_prop_ro("is_current", &ViewOwner::is_current,
                     "False once the context decoded again (the view then shows newer data) or closed.");
}

void bind_views(nb::class_<Context> & context) {
    context
        .def("get_logits", &get_logits,
             nb::sig("def get_logits(self) -> numpy.ndarray[dtype=float32, shape=(*, *), writable=False]"),
             "Read-only zero-copy view (n_outputs, n_vocab) of the last decode's logits, rows in "
             "batch order. Valid until the next decode (see ViewOwner.is_current).")
        .def(
            "get_logits_ith",
            [](nb::handle self, IntArg i) { return get_logits_ith(self, i.in("i", INT32_MIN, INT32_MAX)); },
            nb::arg("i"),
            nb::sig("def get_logits_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
            "Read-only zero-copy view of the logits of batch row i (negative: from the last output).")
        .def(
            "get_embeddings_ith",
            [](nb::handle self, IntArg i) { return get_embeddings_ith(self, i.in("i", INT32_MIN, INT32_MAX)); },
            nb::arg("i"),
            nb::sig("def get_embeddings_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
            "Read-only zero-copy view of the output embedding of batch row i (embeddings=True).")
        .def(
            "get_embeddings_seq",
            [](nb::handle self, IntArg seq_id) {
                return get_embeddings_seq(self, seq_id.in("seq_id", INT32_MIN, INT32_MAX));
            },
            nb::arg("seq_id"),
            nb::sig(
                "def get_embeddings_seq(self, seq_id: int) -> numpy.ndarray[dtype=float32, shape=(*), writable=False]"),
            "Read-only zero-copy view of a sequence's pooled embedding (pooling models only).")
        .def(
            "get_embeddings_pre_norm_ith",
            [](nb::handle self, IntArg i) {
                return get_embeddings_pre_norm_ith(self, i.in("i", INT32_MIN, INT32_MAX));
            },
            nb::arg("i"),
            nb::sig("def get_embeddings_pre_norm_ith(self, i: int) -> numpy.ndarray[dtype=float32, shape=(*), "
                    "writable=False]"),
            "Read-only zero-copy view of the pre-norm hidden state of batch row i.");
}

}  // namespace llama_mtp
