#pragma once
// Zero-copy read-only numpy views of a context's outputs (logits, embeddings), each owned
// by a ViewOwner that pins the context and records the decode generation it belongs to.
#include <cstdint>
#include <vector>

#include <nanobind/nanobind.h>

#include "context.h"

namespace llama_mtp {

// Owner of a zero-copy view: keeps the Python Context alive, remembers the decode
// count (generation) the view belongs to, and exposes the memory to numpy through
// __array_interface__, so that numpy makes this object the array's `.base`.
struct ViewOwner {
    nanobind::object ctx_obj;
    Context * ctx;
    uint64_t generation;
    const float * data;
    std::vector<size_t> shape;
    ViewOwner(nanobind::object obj, Context * c, const float * d, std::vector<size_t> s);
    ~ViewOwner();
    ViewOwner(const ViewOwner &) = delete;
    ViewOwner & operator=(const ViewOwner &) = delete;
    bool is_current() const;
    nanobind::dict array_interface() const;
};

nanobind::object get_logits(nanobind::handle self_py);
nanobind::object get_logits_ith(nanobind::handle self_py, int64_t i);
nanobind::object get_embeddings_ith(nanobind::handle self_py, int64_t i);
nanobind::object get_embeddings_seq(nanobind::handle self_py, int64_t seq_id);
nanobind::object get_embeddings_pre_norm_ith(nanobind::handle self_py, int64_t i);

}  // namespace llama_mtp
