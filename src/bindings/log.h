#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
// Routes llama.cpp's messages through our level filter (LLAMA_MTP_LOG_LEVEL at import).
void install_log_filter();
void bind_log(nanobind::module_ & m);
}  // namespace llama_mtp
