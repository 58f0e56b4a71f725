// The checks mirror what the pinned llama.cpp reads (src/llama-model.cpp load_hparams, the
// per-architecture load_arch_hparams in src/models/, src/llama-vocab.cpp load) and the asserts
// that follow in hparams, tensor creation, graph building and ggml's kernels.
#include "gguf_preflight.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "gguf_reader.h"

namespace llama_mtp {

namespace {

constexpr uint32_t kMaxLayers = 512;    // LLAMA_MAX_LAYERS (src/llama-hparams.h)
constexpr uint32_t kMaxExperts = 1024;  // LLAMA_MAX_EXPERTS
// Sanity bounds for sizes upstream multiplies together: far above any real model, low
// enough that no product of them overflows 64 bits.
constexpr uint32_t kMaxWidth = 1u << 20;  // embedding / feed-forward / ssm widths
constexpr uint32_t kMaxHeads = 1u << 14;  // heads and head dimensions

// Architecture facts the generic checks cannot see from the metadata: the graphs of these
// (the tiny models' and their siblings') assert equal key and value head sizes, and (the MoE
// ones) at least one expert; the gated delta-net ones derive the value head size from
// ssm.inner_size / ssm.time_step_rank but create the tensors with ssm.state_size.
struct ArchRules {
    const char * name;
    bool needs_experts;
    bool gated_delta_net;
};
constexpr ArchRules kArchRules[] = {
    {"glm4moe", true, false},
    {"qwen35", false, true},
    {"qwen35moe", true, true},
};

const ArchRules * arch_rules(const std::string & arch) {
    for (const auto & r : kArchRules) {
        if (arch == r.name) {
            return &r;
        }
    }
    return nullptr;
}

int64_t max_of(const std::vector<uint32_t> & v) {
    uint32_t m = 0;
    for (uint32_t x : v) {
        m = std::max(m, x);
    }
    return m;
}

GgufValue as_value(const std::vector<uint32_t> & v) {
    bool uniform = true;
    for (uint32_t x : v) {
        uniform = uniform && x == v.front();
    }
    if (uniform && !v.empty()) {
        return (int64_t) v.front();
    }
    return std::vector<int64_t>(v.begin(), v.end());
}

bool has_tensor(const gguf_context * ctx, const std::string & name) {
    return gguf_find_tensor(ctx, name.c_str()) >= 0;
}

void check_hparams(const Reader & r, GgufSummary & out) {
    const gguf_context * ctx = r.ctx;
    const std::string a = r.arch + ".";
    auto & hp = out.hparams;
    auto keep = [&](const char * name, GgufValue v) { hp[name] = std::move(v); };

    const uint32_t n_layer = r.required_u32(a + "block_count", 1, kMaxLayers);
    keep("block_count", (int64_t) n_layer);
    // every MTP graph upstream supports exactly one NextN block, after >= 1 trunk layer
    const uint32_t n_nextn = r.u32(a + "nextn_predict_layers", 0, std::min(1u, n_layer - 1)).value_or(0);
    keep("nextn_predict_layers", (int64_t) n_nextn);

    const uint32_t n_embd = r.required_u32(a + "embedding_length", 1, kMaxWidth);
    keep("embedding_length", (int64_t) n_embd);
    keep("context_length", (int64_t) r.required_u32(a + "context_length", 1, INT32_MAX));
    if (auto ff = r.per_layer(a + "feed_forward_length", n_layer, kMaxWidth)) {
        keep("feed_forward_length", as_value(*ff));
    }

    // experts: the asserts at the top of load_hparams, and the MoE architectures' own
    const ArchRules * rules = arch_rules(r.arch);
    const uint32_t n_expert = r.u32(a + "expert_count", rules && rules->needs_experts ? 1 : 0, kMaxExperts).value_or(0);
    if (rules && rules->needs_experts && n_expert == 0) {
        r.fail(a + "expert_count", "is missing (" + r.arch + " needs experts)");
    }
    const auto used = r.per_layer(a + "expert_used_count", n_layer, kMaxExperts);
    const int64_t used_max = used ? max_of(*used) : 0;
    if (used_max > n_expert) {
        r.fail(a + "expert_used_count",
               "= " + std::to_string(used_max) + " is more than expert_count " + std::to_string(n_expert));
    }
    if (n_expert > 0 && used_max == 0) {
        r.fail(a + "expert_used_count", "is 0 or missing while expert_count = " + std::to_string(n_expert));
    }
    const uint32_t groups = r.u32(a + "expert_group_count", 0, n_expert > 0 ? n_expert - 1 : 0).value_or(0);
    if (groups > 1) {
        if (n_expert % groups != 0) {
            r.fail(a + "expert_group_count",
                   "= " + std::to_string(groups) + " does not divide expert_count " + std::to_string(n_expert));
        }
        r.u32(a + "expert_group_used_count", 1, groups - 1);
        if (r.find(a + "expert_group_used_count") < 0) {
            r.fail(a + "expert_group_used_count", "is missing while expert_group_count > 1");
        }
    }
    // the MoE graph's gating switch aborts on values past sqrt-softplus (4)
    r.u32(a + "expert_gating_func", 0, 4);
    if (n_expert > 0) {
        keep("expert_count", (int64_t) n_expert);
        keep("expert_used_count", as_value(*used));
    }

    // attention: heads per layer, head sizes, rope
    const auto heads = r.per_layer(a + "attention.head_count", n_layer, kMaxHeads);
    const auto heads_kv = r.per_layer(a + "attention.head_count_kv", n_layer, kMaxHeads);
    if (heads) {
        for (uint32_t il = 0; il < n_layer; ++il) {
            const uint32_t h = (*heads)[il];
            const uint32_t kv = heads_kv ? (*heads_kv)[il] : h;
            const std::string blk = "blk." + std::to_string(il) + ".";
            const bool attention = has_tensor(ctx, blk + "attn_q.weight") || has_tensor(ctx, blk + "attn_k.weight");
            if (attention && (h == 0 || kv == 0)) {
                r.fail(a + (h == 0 ? "attention.head_count" : "attention.head_count_kv"),
                       "is 0 for layer " + std::to_string(il) + ", which has attention weights");
            }
            if (kv > h || (kv > 0 && h % kv != 0)) {
                r.fail(a + "attention.head_count_kv", "= " + std::to_string(kv) + " must divide head_count " +
                                                          std::to_string(h) + " (layer " + std::to_string(il) + ")");
            }
        }
        keep("attention.head_count", as_value(*heads));
        keep("attention.head_count_kv", as_value(heads_kv ? *heads_kv : *heads));
    }
    const uint32_t n_head0 = heads ? (*heads)[0] : 0;
    uint32_t head_size = kMaxHeads;
    if (n_head0 > 0) {
        const uint32_t head_k = r.u32(a + "attention.key_length", 1, kMaxHeads).value_or(n_embd / n_head0);
        const uint32_t head_v = r.u32(a + "attention.value_length", 1, kMaxHeads).value_or(n_embd / n_head0);
        if (head_k == 0) {
            r.fail(a + "attention.head_count", "= " + std::to_string(n_head0) + " is more than embedding_length " +
                                                   std::to_string(n_embd) + " (head size 0)");
        }
        if (rules && head_k != head_v) {
            r.fail(a + "attention.value_length", "= " + std::to_string(head_v) + " differs from key_length " +
                                                     std::to_string(head_k) + " (" + r.arch + " needs them equal)");
        }
        // ggml's rope kernels assert an even count within the head; 0 never finishes
        const uint32_t n_rot = r.u32(a + "rope.dimension_count", 1, head_k).value_or(head_k);
        if (n_rot % 2 != 0) {
            r.fail(a + "rope.dimension_count", "= " + std::to_string(n_rot) + " must be even");
        }
        head_size = head_k;
        keep("attention.key_length", (int64_t) head_k);
        keep("attention.value_length", (int64_t) head_v);
        keep("rope.dimension_count", (int64_t) n_rot);
    }
    const std::string sections_key = a + "rope.dimension_sections";
    if (const int64_t id = r.find(sections_key); id >= 0) {
        // the multi-section rope kernels assert one of the first three > 0 (their sum is a
        // divisor) and that the sum fits in the head
        if (r.type(id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx, id) != GGUF_TYPE_INT32 ||
            gguf_get_arr_n(ctx, id) > 4) {
            r.fail(sections_key, "must be an array of at most 4 int32");
        }
        const auto * s = static_cast<const int32_t *>(gguf_get_arr_data(ctx, id));
        const size_t ns = gguf_get_arr_n(ctx, id);
        bool any = false;
        int64_t sum = 0;
        for (size_t i = 0; i < ns; ++i) {
            if (s[i] < 0 || s[i] > (int32_t) kMaxHeads) {
                r.fail(sections_key, "[" + std::to_string(i) + "] = " + std::to_string(s[i]) + " is out of range");
            }
            any = any || (i < 3 && s[i] > 0);
            sum += s[i];
        }
        if (sum > head_size) {
            r.fail(sections_key,
                   "sum " + std::to_string(sum) + " is more than the head size " + std::to_string(head_size));
        }
        if (!any) {
            r.fail(sections_key, "has no positive section among the first three");
        }
    }

    for (const char * eps : {"attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"}) {
        if (auto v = r.f32(a + eps, 0.0f, true)) {
            keep(eps, (double) *v);
        }
    }
    if (auto base = r.f32(a + "rope.freq_base", 0.0f, false)) {
        keep("rope.freq_base", (double) *base);
    }
    // qwen35 and others mark layers with ((i + 1) % interval): 0 divides by zero
    r.u32(a + "full_attention_interval", 1, kMaxLayers);

    // gated delta-net / mamba state sizes: zero sizes divide by zero or underflow (d_conv - 1)
    r.u32(a + "ssm.conv_kernel", 1, 64);
    r.u32(a + "ssm.state_size", 1, kMaxHeads);
    r.u32(a + "ssm.inner_size", 1, kMaxWidth);
    const auto k_heads = r.u32(a + "ssm.group_count", 1, kMaxHeads);
    const auto v_heads = r.u32(a + "ssm.time_step_rank", 1, kMaxHeads);
    if (k_heads && v_heads && *v_heads % *k_heads != 0) {
        r.fail(a + "ssm.time_step_rank",
               "= " + std::to_string(*v_heads) + " must be a multiple of ssm.group_count " + std::to_string(*k_heads));
    }
    if (rules && rules->gated_delta_net) {
        const uint32_t d_state = r.required_u32(a + "ssm.state_size", 1, kMaxHeads);
        const uint32_t d_inner = r.required_u32(a + "ssm.inner_size", 1, kMaxWidth);
        const uint32_t n_v = r.required_u32(a + "ssm.time_step_rank", 1, kMaxHeads);
        if ((uint64_t) d_state * n_v != d_inner) {
            r.fail(a + "ssm.inner_size", "= " + std::to_string(d_inner) + " must be ssm.state_size * " +
                                             "ssm.time_step_rank = " + std::to_string((uint64_t) d_state * n_v));
        }
    }
}

// Norm weights, biases and the other 1-D tensors are the second operand of ggml's add/mul,
// which on the CPU need them in f32 (the converters always store them so); so does ssm_conv.
void check_tensor_types(const Reader & r) {
    for (int64_t i = 0; i < gguf_get_n_tensors(r.ctx); ++i) {
        const std::string name = gguf_get_tensor_name(r.ctx, i);
        const int64_t * ne = gguf_get_tensor_ne(r.ctx, i);
        const bool one_d = ne[1] == 1 && ne[2] == 1 && ne[3] == 1;
        const bool conv = name.size() > 17 && name.compare(name.size() - 17, 17, "ssm_conv1d.weight") == 0;
        const ggml_type t = gguf_get_tensor_type(r.ctx, i);
        if ((one_d || conv) && t != GGML_TYPE_F32) {
            throw ModelLoadError(printable("invalid GGUF tensor: " + name + " has type " + ggml_type_name(t) +
                                           ", expected f32 (a " + (conv ? "convolution" : "1-D") + " tensor)"));
        }
    }
}

}  // namespace

GgufSummary check_gguf(const std::string & path, bool vocab_only) {
    gguf_init_params params{};
    params.no_alloc = true;
    params.ctx = nullptr;
    std::unique_ptr<gguf_context, decltype(&gguf_free)> ctx(gguf_init_from_file(path.c_str(), params), gguf_free);
    if (!ctx) {
        throw ModelLoadError("not a valid GGUF file (unreadable header, metadata or tensor table): " + path);
    }
    GgufSummary out;
    out.version = gguf_get_version(ctx.get());
    out.n_tensors = gguf_get_n_tensors(ctx.get());
    out.n_kv = gguf_get_n_kv(ctx.get());
    try {
        Reader r{ctx.get(), {}};
        const std::string arch_key = "general.architecture";
        const int64_t arch_id = r.find(arch_key);
        if (arch_id < 0) {
            r.fail(arch_key, "is missing");
        }
        if (r.type(arch_id) != GGUF_TYPE_STRING) {
            r.fail(arch_key, "has type " + type_name(r.type(arch_id)) + ", expected str");
        }
        r.arch = out.architecture = gguf_get_val_str(ctx.get(), arch_id);
        check_vocab(r, out);
        if (!vocab_only) {
            check_hparams(r, out);
            check_tensor_types(r);
        }
    } catch (const ModelLoadError & e) {
        throw ModelLoadError(std::string(e.what()) + " (" + path + ")");
    }
    return out;
}

}  // namespace llama_mtp
