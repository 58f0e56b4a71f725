#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
// serve_rpc(): ggml's RPC server, for `llama-mtp rpc-server`.
void bind_rpc_server(nanobind::module_ & m);
}  // namespace llama_mtp
