#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {

// Grammar, ChatTemplate and ChatPrompt (the rendering of a conversation).
void bind_chat(nanobind::module_ & m);

}  // namespace llama_mtp
