#pragma once
// Integer arguments as Python passes them. nanobind rejects an int that does not fit the C
// type with "TypeError: incompatible function arguments"; taking IntArg instead and checking
// the range here turns every out-of-range value into an InvalidArgumentError (a ValueError)
// that names the parameter and its valid range.
#include <cstdint>
#include <string>

#include <nanobind/nanobind.h>

#include "errors.h"
#include "threads.h"

namespace llama_mtp {

struct IntArg {
    int64_t value = 0;
    int overflow = 0;  // -1 / +1: the Python int does not even fit 64 bits

    // The value, if lo <= value <= hi; otherwise InvalidArgumentError naming `name`.
    int64_t in(const char * name, int64_t lo, int64_t hi) const {
        if (overflow != 0 || value < lo || value > hi) {
            const std::string got = overflow < 0   ? "a value below -2**63"
                                    : overflow > 0 ? "a value above 2**63 - 1"
                                                   : std::to_string(value);
            throw with_attributes(InvalidArgumentError(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                                       std::to_string(hi) + "], got " + got),
                                  {{"parameter", std::string(name)}, {"minimum", lo}, {"maximum", hi}});
        }
        return value;
    }
    int32_t i32(const char * name, int64_t lo = INT32_MIN, int64_t hi = INT32_MAX) const {
        return (int32_t) in(name, lo, hi);
    }
    uint32_t u32(const char * name, int64_t lo = 0, int64_t hi = UINT32_MAX) const {
        return (uint32_t) in(name, lo, hi);
    }
};

// A thread count: n, if 1 <= n <= kMaxThreads; otherwise InvalidArgumentError naming `what`.
inline int32_t thread_count(const IntArg & n, const char * what) {
    return n.i32(what, 1, kMaxThreads);
}

// A seed for upstream's samplers: [0, 2**32 - 1] (2**32 - 1 is LLAMA_DEFAULT_SEED: random).
inline uint32_t seed_value(const IntArg & seed) {
    return seed.u32("seed", 0, UINT32_MAX);
}

}  // namespace llama_mtp

NAMESPACE_BEGIN(NB_NAMESPACE)
NAMESPACE_BEGIN(detail)

template <>
struct type_caster<llama_mtp::IntArg> {
    NB_TYPE_CASTER(llama_mtp::IntArg, const_name("int"))

    bool from_python(handle src, uint8_t, cleanup_list *) noexcept {
        // ints and objects with __index__ (numpy integers); never floats or strings
        if (!PyLong_Check(src.ptr()) && !PyIndex_Check(src.ptr())) {
            return false;
        }
        PyObject * as_int = PyNumber_Index(src.ptr());
        if (!as_int) {
            PyErr_Clear();
            return false;
        }
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(as_int, &overflow);
        Py_DECREF(as_int);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return false;
        }
        value.value = overflow != 0 ? 0 : (int64_t) v;
        value.overflow = overflow;
        return true;
    }

    static handle from_cpp(const llama_mtp::IntArg & v, rv_policy, cleanup_list *) noexcept {
        return PyLong_FromLongLong(v.value);
    }
};

NAMESPACE_END(detail)
NAMESPACE_END(NB_NAMESPACE)
