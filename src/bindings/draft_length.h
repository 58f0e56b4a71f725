#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {

// llama_mtp.DraftController: the adaptive draft length, for the generation loop and for users'
// own loops.
void bind_draft_length(nanobind::module_ & m);

}  // namespace llama_mtp
