#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {

void bind_quantize(nanobind::module_ & m);

}  // namespace llama_mtp
