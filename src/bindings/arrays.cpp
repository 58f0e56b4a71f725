#include "arrays.h"

#include <nanobind/stl/string.h>

#include <string>

#include "errors.h"
#include "int_arg.h"
#include "model.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace llama_mtp {

namespace {

void check_id(int64_t v, int overflow, int32_t n_vocab, const char * what, size_t i) {
    const int64_t hi = n_vocab >= 0 ? (int64_t) n_vocab - 1 : INT32_MAX;
    if (overflow != 0 || v < 0 || v > hi) {
        throw InvalidArgumentError(
            std::string(what) + " " + std::to_string(i) + " is " +
            (overflow != 0 ? std::string(overflow < 0 ? "below -2**63" : "above 2**63 - 1") : std::to_string(v)) +
            ", outside [0, " + std::to_string(hi + 1) + ")" + (n_vocab >= 0 ? " (the vocabulary)" : ""));
    }
}

}  // namespace

std::vector<int32_t> token_list(nb::handle tokens, int32_t n_vocab, const char * what) {
    if (PyUnicode_Check(tokens.ptr()) || PyBytes_Check(tokens.ptr())) {
        throw nb::type_error((std::string(what) + " must be token ids (ints), not text").c_str());
    }
    std::vector<int32_t> out;
    if (nb::hasattr(tokens, "__array_interface__") || nb::hasattr(tokens, "__array__")) {
        nb::module_ np = nb::module_::import_("numpy");
        nb::object arr = np.attr("asarray")(tokens);
        const std::string kind = nb::cast<std::string>(arr.attr("dtype").attr("kind"));
        const int64_t size = nb::cast<int64_t>(arr.attr("size"));
        if (nb::cast<int>(arr.attr("ndim")) != 1) {
            throw InvalidArgumentError(std::string(what) + "s must be a 1-D array");
        }
        if (kind != "i" && kind != "u" && size > 0) {
            throw InvalidArgumentError(std::string(what) + "s must be integers, got an array of dtype " +
                                       nb::cast<std::string>(arr.attr("dtype").attr("name")));
        }
        if (kind == "u" && nb::cast<int>(arr.attr("dtype").attr("itemsize")) == 8) {  // above 2**63 must not wrap
            arr = np.attr("minimum")(arr, nb::int_(INT64_MAX));
        }
        auto a64 = nb::cast<nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>>(
            np.attr("ascontiguousarray")(arr, "dtype"_a = "int64"));
        out.resize(a64.shape(0));
        const int64_t * v = a64.data();
        for (size_t i = 0; i < out.size(); ++i) {
            check_id(v[i], 0, n_vocab, what, i);
            out[i] = (int32_t) v[i];
        }
        return out;
    }
    size_t i = 0;
    for (nb::handle item : tokens) {
        IntArg v;
        if (!nb::try_cast<IntArg>(item, v)) {
            // the wrong kind of value is a TypeError (Python's convention); a wrong int, a ValueError
            const std::string msg = std::string(what) + " " + std::to_string(i) + " must be an int, got " +
                                    nb::cast<std::string>(nb::str(item.type().attr("__name__")));
            throw nb::type_error(msg.c_str());
        }
        check_id(v.value, v.overflow, n_vocab, what, i);
        out.push_back((int32_t) v.value);
        ++i;
    }
    return out;
}

}  // namespace llama_mtp
