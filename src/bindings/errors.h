#pragma once
// C++ exception types of the shim. errors.cpp maps each one to a Python class of
// the llama_mtp.LlamaError hierarchy; nothing else escapes the binding boundary.
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nanobind/nanobind.h>

namespace llama_mtp {

using ErrorAttribute = std::pair<std::string, std::variant<int64_t, std::string>>;

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
    // The data of the error, set as attributes on the Python exception (seq_id, n_seq, ...).
    std::vector<ErrorAttribute> attributes;
};

// e with these attributes, keeping its type: `throw with_attributes(BadSeqIdError(msg), {...})`.
template <typename E>
E with_attributes(E e, std::initializer_list<ErrorAttribute> attributes) {
    e.attributes.insert(e.attributes.end(), attributes.begin(), attributes.end());
    return e;
}
struct ModelLoadError : Error {
    using Error::Error;
};
struct ModelNotFoundError : ModelLoadError {
    using ModelLoadError::ModelLoadError;
};
struct ContextError : Error {
    using Error::Error;
};
struct ClosedError : ContextError {
    using ContextError::ContextError;
};
struct StaleViewError : ContextError {
    using ContextError::ContextError;
};
struct StateError : Error {
    using Error::Error;
};
// A ggml backend module is missing or cannot run on this machine.
struct BackendError : Error {
    using Error::Error;
};
struct InvalidArgumentError : Error {
    using Error::Error;
};
// A non-zero llama_decode() status; `code` is upstream's return value.
struct DecodeError : Error {
    int code;
    DecodeError(int code, const std::string & msg) : Error(msg), code(code) {}
};

// Creates the Python exception class llama_mtp.<name> with these bases and adds it to m.
nanobind::handle add_error_type(nanobind::module_ & m, const char * name, const char * doc,
                                std::initializer_list<PyObject *> bases);

// Sets a Python error of `type` carrying `attributes`; bytes that are not UTF-8 in the message
// become U+FFFD.
void set_error(PyObject * type, const char * message, const std::vector<ErrorAttribute> & attributes = {});

void bind_errors(nanobind::module_ & m);

}  // namespace llama_mtp
