#pragma once
// The Python side of the engine's errors (errors.h): the exception classes and raising them.
#include <initializer_list>
#include <vector>

#include <nanobind/nanobind.h>

#include "errors.h"

namespace llama_mtp {

// Creates the Python exception class llama_mtp.<name> with these bases and adds it to m.
nanobind::handle add_error_type(nanobind::module_ & m, const char * name, const char * doc,
                                std::initializer_list<PyObject *> bases);

// Sets a Python error of `type` carrying `attributes`; bytes that are not UTF-8 in the message
// become U+FFFD.
void set_error(PyObject * type, const char * message, const std::vector<ErrorAttribute> & attributes = {});

}  // namespace llama_mtp
