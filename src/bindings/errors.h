#pragma once
// C++ exception types of the shim. errors.cpp maps each one to a Python class of
// the llama_mtp.LlamaError hierarchy; nothing else escapes the binding boundary.
#include <stdexcept>
#include <string>

#include <nanobind/nanobind.h>

namespace llama_mtp {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
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
struct InvalidArgumentError : Error {
    using Error::Error;
};
// A non-zero llama_decode() status; `code` is upstream's return value.
struct DecodeError : Error {
    int code;
    DecodeError(int code, const std::string & msg) : Error(msg), code(code) {}
};

void bind_errors(nanobind::module_ & m);

}  // namespace llama_mtp
