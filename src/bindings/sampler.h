#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
void bind_sampler(nanobind::module_ & m);
}
