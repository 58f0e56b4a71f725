// The one extension module: each domain binds itself (MLX / drjit style).
#include <nanobind/nanobind.h>

#include "backends.h"
#include "bind.h"
#include "chat_template.h"
#include "draft_length.h"
#include "generate.h"
#include "info.h"
#include "llama.h"
#include "log.h"
#include "mtp_stats.h"
#include "python_hooks.h"
#include "quantize.h"
#include "rpc.h"
#include "thread_count.h"

namespace nb = nanobind;

NB_MODULE(_core, m) {
    m.doc() = "llama-mtp native core: llama.cpp models, contexts, batches, samplers and MTP.";
    llama_mtp::install_log_filter();
    llama_backend_init();
    llama_mtp::install_python_hooks();
    llama_mtp::bind_errors(m);
    llama_mtp::bind_backends(m);
    llama_mtp::bind_info(m);
    llama_mtp::bind_log(m);
    llama_mtp::bind_model(m);
    llama_mtp::bind_batch(m);
    llama_mtp::bind_context(m);
    llama_mtp::bind_sampler(m);
    llama_mtp::bind_mtp_stats(m);
    llama_mtp::bind_mtp(m);
    llama_mtp::bind_draft_length(m);
    llama_mtp::bind_thread_count(m);
    llama_mtp::bind_generate(m);
    llama_mtp::bind_chat(m);
    llama_mtp::bind_gguf(m);
    llama_mtp::bind_rpc(m);
    llama_mtp::bind_quantize(m);
}
