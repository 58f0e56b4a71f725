#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {

// llama_mtp._core.ThreadController: the auto thread count's decisions, bound for tests that
// feed it simulated machines.
void bind_thread_count(nanobind::module_ & m);

}  // namespace llama_mtp
