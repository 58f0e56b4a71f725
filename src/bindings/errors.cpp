// The one error mechanism: one table of Python exception classes, filled by add_error_type,
// and one translator that raises every C++ error as the class its python_name() names.
#include "python_errors.h"

#include <cstring>
#include <map>
#include <new>

#include "bind.h"

namespace nb = nanobind;

namespace llama_mtp {
namespace {

// name -> Python class; never destroyed (it would be released after Python finalized)
std::map<std::string, PyObject *> & error_types() {
    static auto * types = new std::map<std::string, PyObject *>();
    return *types;
}

PyObject * error_type(const char * name) {
    const auto it = error_types().find(name);
    return it != error_types().end() ? it->second : error_types().at("LlamaError");
}

void translate(const std::exception_ptr & p, void *) {
    try {
        std::rethrow_exception(p);
    } catch (const nb::python_error &) {
        throw;
    } catch (const nb::builtin_exception &) {
        throw;
    } catch (const Error & e) {
        set_error(error_type(e.python_name()), e.what(), e.attributes);
    } catch (const std::invalid_argument & e) {
        // upstream common/ throws these for bad parameters
        set_error(error_type("InvalidArgumentError"), e.what());
    } catch (const std::bad_alloc &) {
        PyErr_NoMemory();
    } catch (const std::exception & e) {
        // any other C++ exception from llama.cpp: typed, never an abort
        set_error(error_type("LlamaError"), e.what());
    }
}

PyObject * new_error(nb::module_ & m, const char * name, const char * doc, std::initializer_list<PyObject *> bases) {
    return add_error_type(m, name, doc, bases).ptr();
}

}  // namespace

void set_error(PyObject * type, const char * message, const std::vector<ErrorAttribute> & attributes) {
    // upstream's messages may quote bytes from a file: never let them fail as UTF-8
    nb::object text = nb::steal(PyUnicode_DecodeUTF8(message, (Py_ssize_t) std::strlen(message), "replace"));
    if (!text.is_valid()) {
        return;  // the decode set a Python error already
    }
    nb::object inst = nb::steal(PyObject_CallFunctionObjArgs(type, text.ptr(), nullptr));
    if (!inst.is_valid()) {
        return;
    }
    for (const auto & [name, value] : attributes) {
        if (const auto * i = std::get_if<int64_t>(&value)) {
            nb::setattr(inst, name.c_str(), nb::int_(*i));
        } else {
            nb::setattr(inst, name.c_str(), nb::str(std::get<std::string>(value).c_str()));
        }
    }
    PyErr_SetObject(type, inst.ptr());
}

nb::handle add_error_type(nb::module_ & m, const char * name, const char * doc,
                          std::initializer_list<PyObject *> bases) {
    nb::list items;
    for (PyObject * t : bases) {
        items.append(nb::handle(t));
    }
    std::string qualified = std::string("llama_mtp.") + name;
    PyObject * type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, nb::tuple(items).ptr(), nullptr);
    if (!type) {
        throw nb::python_error();
    }
    m.attr(name) = nb::handle(type);
    error_types()[name] = type;
    return nb::handle(type);
}

void bind_errors(nb::module_ & m) {
    PyObject * llama = new_error(m, "LlamaError", "Base class of every llama_mtp error.", {PyExc_Exception});
    PyObject * model_load =
        new_error(m, "ModelLoadError", "The GGUF file could not be loaded (corrupt, truncated, unsupported).", {llama});
    new_error(m, "ModelNotFoundError", "The model file does not exist.", {model_load, PyExc_FileNotFoundError});
    PyObject * context = new_error(m, "ContextError", "A context could not be created or used as requested.", {llama});
    new_error(m, "ClosedError", "The model or context was closed.", {context});
    new_error(m, "StaleViewError", "An operation would invalidate live zero-copy views.", {context});
    new_error(m, "StateError", "Saving or restoring a state failed.", {llama});
    PyObject * invalid =
        new_error(m, "InvalidArgumentError", "An argument is out of range or inconsistent.", {llama, PyExc_ValueError});
    new_error(m, "ArgumentTypeError", "An argument has the wrong type (a TypeError too).", {invalid, PyExc_TypeError});
    new_error(m, "GeneratorFullError", "Every sequence slot of the Generator is taken: release() one first.", {llama});
    new_error(m, "ChatTemplateError", "A chat template could not be loaded, rendered or parsed.",
              {llama, PyExc_ValueError});
    PyObject * decode =
        new_error(m, "DecodeError", "llama_decode failed; `code` holds upstream's return value.", {llama});
    new_error(m, "InvalidBatchError", "llama.cpp rejected the batch (code -1).", {decode, PyExc_ValueError});
    new_error(m, "KvCacheFullError", "No KV cache slot for the batch (code 1): enlarge n_ctx or free sequences.",
              {decode});
    new_error(m, "DecodeAbortedError", "The decode was aborted (code 2).", {decode});
    new_error(m, "BackendError",
              "A ggml backend module is missing or not supported by this machine (e.g. a CPU variant needing "
              "instructions this CPU lacks).",
              {llama});
    new_error(m, "RpcError",
              "A connection to an RPC server the model's layers live on was lost; `endpoint` names it. The "
              "model cannot run again: close it and load it again.",
              {llama, PyExc_ConnectionError});
    nb::register_exception_translator(translate);
}

}  // namespace llama_mtp
