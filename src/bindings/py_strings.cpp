#include "py_strings.h"

#include "errors.h"

namespace nb = nanobind;

namespace llama_mtp {

// Token pieces can split a UTF-8 character (byte-fallback tokens): decode leniently.
nb::str utf8_lenient(const std::string & bytes) {
    PyObject * o = PyUnicode_DecodeUTF8(bytes.data(), (Py_ssize_t) bytes.size(), "replace");
    if (!o) {
        throw nb::python_error();
    }
    return nb::steal<nb::str>(o);
}

nb::str path_str(const std::string & path) {
    return nb::steal<nb::str>(PyUnicode_DecodeFSDefaultAndSize(path.data(), (Py_ssize_t) path.size()));
}

std::string fs_path(nb::handle path) {
    nb::module_ os = nb::module_::import_("os");
    nb::object encoded;
    try {
        // str -> bytes as the OS sees the name (surrogateescape), bytes and PathLike as they are
        encoded = os.attr("fsencode")(path);
    } catch (nb::python_error & e) {
        if (e.matches(PyExc_TypeError)) {
            throw;  // not a path at all
        }
        throw InvalidArgumentError("path cannot be encoded as a file name: " + std::string(e.what()));
    }
    const std::string out(PyBytes_AsString(encoded.ptr()), (size_t) PyBytes_Size(encoded.ptr()));
    if (out.find('\0') != std::string::npos) {
        throw InvalidArgumentError("path contains a NUL character");
    }
    if (out.empty()) {
        throw InvalidArgumentError("path is empty");
    }
    return out;
}

}  // namespace llama_mtp
