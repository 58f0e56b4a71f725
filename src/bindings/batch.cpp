#include "batch.h"

#include <string>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bind.h"
#include "errors.h"
#include "int_arg.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

template <typename T>
using RowView = nb::ndarray<nb::numpy, T, nb::ndim<1>>;

template <typename T>
RowView<T> row_view(Batch & self, T * data, int64_t stride = 1) {
    size_t shape[1] = {(size_t) self.size()};
    int64_t strides[1] = {stride};
    // owner = the Python Batch (via reference_internal): the arrays never move.
    return RowView<T>(data, 1, shape, nb::handle(), strides);
}

int32_t seq_id_value(const IntArg & v) {
    return v.i32("seq_id", 0);
}

std::vector<int32_t> seq_ids_from(nb::handle seq_id) {
    IntArg one;
    if (nb::try_cast<IntArg>(seq_id, one)) {
        return {seq_id_value(one)};
    }
    std::vector<int32_t> ids;
    for (nb::handle item : seq_id) {
        ids.push_back(seq_id_value(nb::cast<IntArg>(item)));
    }
    return ids;
}

void set_tokens(Batch & self, nb::handle tokens_in, IntArg pos0_arg, IntArg seq_arg, bool logits_last, bool append) {
    const std::vector<int32_t> tokens = token_list(tokens_in, -1, "token");
    const int32_t seq_id = seq_id_value(seq_arg);
    const int32_t start = append ? self.size() : 0;
    const size_t n = tokens.size();
    const int32_t pos0 = pos0_arg.i32("pos0", 0, (int64_t) INT32_MAX - (int64_t) n);
    if ((size_t) start + n > (size_t) self.capacity()) {
        throw InvalidArgumentError("set_tokens: " + std::to_string(n) + " tokens (+" + std::to_string(start) +
                                   " already in the batch) exceed capacity " + std::to_string(self.capacity()));
    }
    const int32_t * src = tokens.data();
    int32_t * tok = self.token();
    int32_t * pos = self.pos();
    int8_t * out = self.logits();
    int32_t * nseq = self.n_seq_id();
    int32_t * seq = self.seq_id_storage();
    for (size_t k = 0; k < n; ++k) {
        const size_t i = (size_t) start + k;
        tok[i] = src[k];
        pos[i] = pos0 + (int32_t) k;
        nseq[i] = 1;
        seq[i * self.n_seq_max()] = seq_id;
        out[i] = 0;
    }
    self.set_size(start + (int32_t) n);
    if (logits_last && self.size() > 0) {
        out[self.size() - 1] = 1;
    }
}

}  // namespace

void bind_batch(nb::module_ & m) {
    nb::class_<Batch>(m, "Batch",
                      "A token batch with fixed capacity. token/pos/seq_id/logits are writable "
                      "zero-copy numpy views over the first len(batch) rows; decode reads "
                      "exactly these arrays.")
        .def(
            "__init__",
            [](Batch * self, IntArg capacity, IntArg n_seq_max) {
                const int32_t cap = capacity.i32("capacity", 1, kMaxBatchRows);
                const int32_t seqs = n_seq_max.i32("n_seq_max", 1, llama_max_parallel_sequences());
                new (self) Batch(cap, seqs);
            },
            nb::arg("capacity"), nb::kw_only(), nb::arg("n_seq_max") = 1,
            "An empty batch with room for capacity rows of up to n_seq_max seq ids each.")
        .def("__len__", &Batch::size, "Rows in use (what decode reads).", nb::lock_self())
        .def_prop_ro("capacity", &Batch::capacity, "Most rows the batch can hold.")
        .def_prop_ro("n_seq_max", &Batch::n_seq_max, "Most seq ids one row can carry.")
        .def("clear", &Batch::clear, "Set the length to 0 (capacity and views' memory kept).", nb::lock_self())
        .def(
            "add",
            [](Batch & self, IntArg token, IntArg pos, nb::handle seq_id, bool logits) {
                return self.add(token.i32("token", 0), pos.i32("pos", 0), seq_ids_from(seq_id), logits);
            },
            nb::arg("token"), nb::arg("pos"), nb::arg("seq_id") = 0, nb::arg("logits") = false,
            nb::sig("def add(self, token: int, pos: int, seq_id: int | "
                    "collections.abc.Sequence[int] = 0, logits: bool = False) -> int"),
            "Append one row; returns its index. Range checks against the model happen at "
            "decode.",
            nb::lock_self())
        .def("set_tokens", &set_tokens, nb::arg("tokens"), nb::arg("pos0") = 0, nb::arg("seq_id") = 0,
             nb::arg("logits_last") = true, nb::kw_only(), nb::arg("append") = false,
             nb::sig("def set_tokens(self, tokens: collections.abc.Sequence[int] | numpy.ndarray, pos0: int = 0, "
                     "seq_id: int = 0, logits_last: bool = True, "
                     "*, append: bool = False) -> None"),
             "Fill rows from an int32 array at positions pos0, pos0+1, ... of one sequence "
             "(replacing the batch, or after its rows with append=True); logits_last "
             "requests output for the last row only.",
             nb::lock_self())
        .def(
            "set_len", [](Batch & self, IntArg n) { self.set_size(n.i32("n", 0, self.capacity())); }, nb::arg("n"),
            "Set the number of rows in use (0..capacity), e.g. after writing rows "
            "through views of a longer batch.",
            nb::lock_self())
        .def_prop_ro("n_outputs", &Batch::n_outputs, "Rows whose logits flag is set.", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "token", [](Batch & s) { return row_view<int32_t>(s, s.token()); }, nb::rv_policy::reference_internal,
            "int32 token ids (writable view).", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "pos", [](Batch & s) { return row_view<int32_t>(s, s.pos()); }, nb::rv_policy::reference_internal,
            "int32 positions (writable view).", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "seq_id", [](Batch & s) { return row_view<int32_t>(s, s.seq_id_storage(), s.n_seq_max()); },
            nb::rv_policy::reference_internal, "int32 first seq id of each row (writable, strided view).",
            nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "n_seq_id", [](Batch & s) { return row_view<int32_t>(s, s.n_seq_id()); }, nb::rv_policy::reference_internal,
            "int32 number of seq ids per row (writable view).", nb::for_getter(nb::lock_self()))
        .def_prop_ro(
            "logits", [](Batch & s) { return row_view<int8_t>(s, s.logits()); }, nb::rv_policy::reference_internal,
            "int8 output flags (1 = compute logits for the row; writable view).", nb::for_getter(nb::lock_self()))
        .def(
            "__repr__",
            [](const Batch & s) {
                return "<llama_mtp.Batch len=" + std::to_string(s.size()) +
                       " capacity=" + std::to_string(s.capacity()) + ">";
            },
            nb::lock_self());
}

}  // namespace llama_mtp
