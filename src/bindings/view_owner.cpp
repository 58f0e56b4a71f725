#include "view_owner.h"

#include <string>

#include "errors.h"
#include "llama-ext.h"

namespace nb = nanobind;

namespace llama_mtp {

ViewOwner::ViewOwner(nb::object obj, Context * c, const float * d, std::vector<size_t> s)
    : ctx_obj(std::move(obj)), ctx(c), generation(c->decode_count()), data(d), shape(std::move(s)) {
    ++ctx->live_views;
}

ViewOwner::~ViewOwner() {
    --ctx->live_views;
}

bool ViewOwner::is_current() const {
    return !ctx->closed() && ctx->decode_count() == generation;
}

nb::dict ViewOwner::array_interface() const {
    nb::dict d;
    nb::list dims;
    for (size_t n : shape) {
        dims.append(n);
    }
    d["shape"] = nb::tuple(dims);
    d["typestr"] = "<f4";
    d["data"] = nb::make_tuple((uintptr_t) data, true);  // read-only: llama.cpp owns it
    d["version"] = 3;
    return d;
}

namespace {

nb::object make_view(nb::handle self_py, Context & ctx, const float * data, std::vector<size_t> shape) {
    if (data == nullptr) {
        throw ContextError("llama.cpp returned no data for this view");
    }
    nb::object owner =
        nb::cast(new ViewOwner(nb::borrow(self_py), &ctx, data, std::move(shape)), nb::rv_policy::take_ownership);
    return nb::module_::import_("numpy").attr("asarray")(owner);
}

void require_embeddings(const Context & c) {
    if (!c.params().embeddings) {
        throw ContextError("embeddings are off: create the context with embeddings=True");
    }
}

int32_t n_vocab_of(const Context & c) {
    return llama_vocab_n_tokens(llama_model_get_vocab(c.model().get()));
}
int32_t n_embd_out_of(const Context & c) {
    return llama_model_n_embd_out(c.model().get());
}

}  // namespace

// Each view is made under the context's lock: a decode in another thread cannot move the
// outputs between reading the pointer and counting the view.
nb::object get_logits(nb::handle self_py) {
    Context & c = nb::cast<Context &>(self_py);
    const Context::Lock lock(c);
    c.output_index(-1, "logits");
    const float * data = llama_get_logits(lock.get());
    return make_view(self_py, c, data, {(size_t) c.last_n_outputs(), (size_t) n_vocab_of(c)});
}

nb::object get_logits_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    const Context::Lock lock(c);
    const int32_t idx = c.output_index(i, "logits");
    return make_view(self_py, c, llama_get_logits_ith(lock.get(), idx), {(size_t) n_vocab_of(c)});
}

nb::object get_embeddings_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    const Context::Lock lock(c);
    require_embeddings(c);
    const int32_t idx = c.output_index(i, "embeddings");
    return make_view(self_py, c, llama_get_embeddings_ith(lock.get(), idx), {(size_t) n_embd_out_of(c)});
}

nb::object get_embeddings_seq(nb::handle self_py, int64_t seq_id) {
    Context & c = nb::cast<Context &>(self_py);
    const Context::Lock lock(c);
    require_embeddings(c);
    c.check_seq(seq_id);
    c.output_index(-1, "embeddings");
    if (llama_pooling_type(lock.get()) == LLAMA_POOLING_TYPE_NONE) {
        throw ContextError(
            "per-sequence embeddings need a pooling model; this context has no "
            "pooling (use get_embeddings_ith)");
    }
    return make_view(self_py, c, llama_get_embeddings_seq(lock.get(), (llama_seq_id) seq_id),
                     {(size_t) n_embd_out_of(c)});
}

nb::object get_embeddings_pre_norm_ith(nb::handle self_py, int64_t i) {
    Context & c = nb::cast<Context &>(self_py);
    const Context::Lock lock(c);
    if (!c.pre_norm) {
        throw ContextError(
            "pre-norm (nextn) embeddings are off: call set_embeddings_pre_norm(True) "
            "before decoding");
    }
    int32_t idx;
    if (c.pre_norm_masked) {
        idx = c.output_index(i, "pre-norm embeddings");
    } else {
        // unmasked: one row per batch row, whatever the logits flags
        const int64_t n = c.last_n_tokens();
        c.output_index(-1, "pre-norm embeddings");  // "decode first"
        const int64_t r = i < 0 ? n + i : i;
        if (r < 0 || r >= n) {
            throw InvalidArgumentError("pre-norm row " + std::to_string(i) + " out of range for a batch of " +
                                       std::to_string(n) + " row(s)");
        }
        idx = (int32_t) r;
    }
    return make_view(self_py, c, llama_get_embeddings_nextn_ith(lock.get(), idx), {(size_t) n_embd_out_of(c)});
}

}  // namespace llama_mtp
