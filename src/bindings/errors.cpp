#include "errors.h"

#include <cstring>
#include <new>

namespace nb = nanobind;

namespace llama_mtp {
namespace {

struct PyErrors {
    PyObject * llama = nullptr;
    PyObject * model_load = nullptr;
    PyObject * model_not_found = nullptr;
    PyObject * context = nullptr;
    PyObject * closed = nullptr;
    PyObject * stale_view = nullptr;
    PyObject * state = nullptr;
    PyObject * invalid_argument = nullptr;
    PyObject * decode = nullptr;
    PyObject * invalid_batch = nullptr;
    PyObject * kv_slot = nullptr;
    PyObject * aborted = nullptr;
    PyObject * backend = nullptr;
} py;

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

namespace {

void raise_decode(const DecodeError & e) {
    PyObject * type = py.decode;
    if (e.code == 1) {
        type = py.kv_slot;
    } else if (e.code == 2) {
        type = py.aborted;
    } else if (e.code == -1) {
        type = py.invalid_batch;
    }
    std::vector<ErrorAttribute> attributes = e.attributes;
    attributes.push_back({"code", (int64_t) e.code});
    set_error(type, e.what(), attributes);
}

void translate(const std::exception_ptr & p, void *) {
    try {
        std::rethrow_exception(p);
    } catch (const nb::python_error &) {
        throw;
    } catch (const nb::builtin_exception &) {
        throw;
    } catch (const DecodeError & e) {
        raise_decode(e);
    } catch (const ModelNotFoundError & e) {
        set_error(py.model_not_found, e.what(), e.attributes);
    } catch (const ModelLoadError & e) {
        set_error(py.model_load, e.what(), e.attributes);
    } catch (const StaleViewError & e) {
        set_error(py.stale_view, e.what(), e.attributes);
    } catch (const ClosedError & e) {
        set_error(py.closed, e.what(), e.attributes);
    } catch (const ContextError & e) {
        set_error(py.context, e.what(), e.attributes);
    } catch (const StateError & e) {
        set_error(py.state, e.what(), e.attributes);
    } catch (const BackendError & e) {
        set_error(py.backend, e.what(), e.attributes);
    } catch (const InvalidArgumentError & e) {
        set_error(py.invalid_argument, e.what(), e.attributes);
    } catch (const Error & e) {
        set_error(py.llama, e.what(), e.attributes);
    } catch (const std::invalid_argument & e) {
        // upstream common/ throws these for bad parameters
        set_error(py.invalid_argument, e.what());
    } catch (const std::bad_alloc &) {
        PyErr_NoMemory();
    } catch (const std::exception & e) {
        // any other C++ exception from llama.cpp: typed, never an abort
        set_error(py.llama, e.what());
    }
}

PyObject * new_error(nb::module_ & m, const char * name, const char * doc,
                     std::initializer_list<PyObject *> bases) {
    return add_error_type(m, name, doc, bases).ptr();
}

}  // namespace

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
    return nb::handle(type);
}

void bind_errors(nb::module_ & m) {
    py.llama = new_error(m, "LlamaError", "Base class of every llama_mtp error.",
                         {PyExc_Exception});
    py.model_load = new_error(m, "ModelLoadError",
                              "The GGUF file could not be loaded (corrupt, truncated, unsupported).",
                              {py.llama});
    py.model_not_found = new_error(m, "ModelNotFoundError", "The model file does not exist.",
                                   {py.model_load, PyExc_FileNotFoundError});
    py.context = new_error(m, "ContextError",
                           "A context could not be created or used as requested.",
                           {py.llama});
    py.closed = new_error(m, "ClosedError", "The model or context was closed.",
                          {py.context});
    py.stale_view = new_error(m, "StaleViewError",
                              "An operation would invalidate live zero-copy views.",
                              {py.context});
    py.state = new_error(m, "StateError", "Saving or restoring a state failed.",
                         {py.llama});
    py.invalid_argument = new_error(m, "InvalidArgumentError",
                                    "An argument is out of range or inconsistent.",
                                    {py.llama, PyExc_ValueError});
    py.decode = new_error(m, "DecodeError",
                          "llama_decode failed; `code` holds upstream's return value.",
                          {py.llama});
    py.invalid_batch = new_error(m, "InvalidBatchError",
                                 "llama.cpp rejected the batch (code -1).",
                                 {py.decode, PyExc_ValueError});
    py.kv_slot = new_error(m, "KvCacheFullError",
                           "No KV cache slot for the batch (code 1): enlarge n_ctx or free "
                           "sequences.",
                           {py.decode});
    py.aborted = new_error(m, "DecodeAbortedError", "The decode was aborted (code 2).",
                           {py.decode});
    py.backend = new_error(m, "BackendError",
                           "A ggml backend module is missing or not supported by this machine "
                           "(e.g. a CPU variant needing instructions this CPU lacks).",
                           {py.llama});
    nb::register_exception_translator(translate);
}

}  // namespace llama_mtp
