#pragma once
// ggml's RPC backend from the client's side (layers on remote workers) and the server's
// (ggml's own rpc-server loop). Upstream types stay here; callers see endpoints and errors.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"

namespace llama_mtp {

// True when the RPC backend is registered (built in, or loaded as a backend module).
bool rpc_available();

// The RPC servers a model's layers live on, and what to watch: ggml-rpc counts connection
// failures per endpoint (patch 0004); a count above the one taken at load means the
// connection was lost and the layers there with it.
class RpcLink {
public:
    // Validates and connects to every endpoint ("host:port"): their devices, in order.
    // InvalidArgumentError for a malformed or repeated endpoint, ModelLoadError (naming the
    // endpoint) when one cannot be reached, fails the handshake or speaks another version.
    static std::shared_ptr<RpcLink> connect(const std::vector<std::string> & endpoints,
                                            std::vector<ggml_backend_dev_t> & devices);

    // ModelLoadError when a connection was lost while the model loaded.
    void check_loaded() const;
    // RpcError (naming the endpoint) once any connection has been lost; cheap otherwise.
    void check() const;

    const std::vector<std::string> & endpoints() const { return endpoints_; }

private:
    // the first endpoint whose failure count moved, or -1; `reason` gets its last failure
    int failed_index(std::string & reason) const;

    std::vector<std::string> endpoints_;
    std::vector<uint64_t> baseline_;  // failure counts when the link was made
};

using RpcLinkPtr = std::shared_ptr<const RpcLink>;

// For connections made afterwards (upstream's per-endpoint connection is shared by every
// model on it): a handshake without a reply fails after handshake_ms (a server serves one
// client at a time), a command without a reply after reply_ms; 0 waits forever.
void set_rpc_timeouts(int32_t handshake_ms, int32_t reply_ms);

// The endpoint an RPC device talks to, or "" for any other device.
std::string rpc_endpoint_of(ggml_backend_dev_t dev);

// Runs ggml's RPC server on host:port with the devices upstream's rpc-server picks (the
// accelerators, else the CPU); blocks while it serves. BackendError if it cannot start.
void run_rpc_server(const std::string & host, int port, int32_t n_threads, const std::string & cache_dir);

}  // namespace llama_mtp
