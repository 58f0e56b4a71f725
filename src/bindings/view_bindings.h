#pragma once
#include <nanobind/nanobind.h>

#include "context.h"

namespace llama_mtp {
// ViewOwner, and the Context methods that return zero-copy views (view_owner.cpp).
void bind_view_owner(nanobind::module_ & m);
void bind_views(nanobind::class_<Context> & context);
}  // namespace llama_mtp
