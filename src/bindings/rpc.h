#pragma once
#include <nanobind/nanobind.h>

namespace llama_mtp {
// serve_rpc() (ggml's RPC server, for `llama-mtp rpc-server`), set_rpc_timeouts(), rpc_available().
void bind_rpc(nanobind::module_ & m);
}  // namespace llama_mtp
