#pragma once
#include <nanobind/nanobind.h>

#include "draft_control.h"

namespace llama_mtp {

// llama_mtp.DraftController: the adaptive draft length, for the generation loop and for users'
// own loops.
void bind_draft_length(nanobind::module_ & m);

// DraftController.state() as a dict of plain Python values (JSON-ready), and back (typed errors
// naming the key for a malformed one).
nanobind::dict prior_to_dict(const DraftPrior & p);
DraftPrior prior_from_dict(nanobind::handle state);

}  // namespace llama_mtp
