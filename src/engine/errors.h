#pragma once
// The engine's C++ exception types. Each knows the llama_mtp Python class it is raised as
// (bindings/errors.cpp maps them); a C++ program catches them as Error / std::runtime_error.
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace llama_mtp {

using ErrorAttribute = std::pair<std::string, std::variant<int64_t, std::string>>;

// Every error of the shim knows the llama_mtp Python class it is raised as (python_name());
// add_error_type registers each class by that name, and one translator raises them all.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
    virtual const char * python_name() const noexcept { return "LlamaError"; }
    // The data of the error, set as attributes on the Python exception (seq_id, n_seq, ...).
    std::vector<ErrorAttribute> attributes;
};

#define LLAMA_MTP_ERROR(Name, Base)                          \
    struct Name : Base {                                     \
        using Base::Base;                                    \
        const char * python_name() const noexcept override { \
            return #Name;                                    \
        }                                                    \
    }

LLAMA_MTP_ERROR(ModelLoadError, Error);
LLAMA_MTP_ERROR(ModelNotFoundError, ModelLoadError);
LLAMA_MTP_ERROR(ContextError, Error);
LLAMA_MTP_ERROR(ClosedError, ContextError);
LLAMA_MTP_ERROR(StaleViewError, ContextError);
LLAMA_MTP_ERROR(StateError, Error);
LLAMA_MTP_ERROR(BackendError, Error);  // a ggml backend module is missing or cannot run here
LLAMA_MTP_ERROR(InvalidArgumentError, Error);
LLAMA_MTP_ERROR(GeneratorFullError, Error);  // add() found no free sequence slot
LLAMA_MTP_ERROR(ChatTemplateError, Error);   // a chat template failed to render or parse
LLAMA_MTP_ERROR(RpcError, Error);            // a connection to an RPC server was lost

// A non-zero llama_decode() status; `code` is upstream's return value (also an attribute), and
// picks the Python class.
struct DecodeError : Error {
    int code;
    DecodeError(int code_, const std::string & msg) : Error(msg), code(code_) {
        attributes.push_back({"code", (int64_t) code_});
    }
    const char * python_name() const noexcept override {
        return code == 1    ? "KvCacheFullError"
               : code == 2  ? "DecodeAbortedError"
               : code == -1 ? "InvalidBatchError"
                            : "DecodeError";
    }
};

// e with these attributes, keeping its type: `throw with_attributes(BadSeqIdError(msg), {...})`.
template <typename E>
E with_attributes(E e, std::initializer_list<ErrorAttribute> attributes) {
    e.attributes.insert(e.attributes.end(), attributes.begin(), attributes.end());
    return e;
}

}  // namespace llama_mtp
