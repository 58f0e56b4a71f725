#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
void bind_info(nanobind::module_ & m);
}
