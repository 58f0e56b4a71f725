// ggml's RPC backend: endpoint checks, connecting a model's remote devices, watching the
// connections for failures, and ggml's server loop.
#include "rpc_link.h"

#include <cstring>
#include <set>

#include "errors.h"
#include "ggml-rpc.h"

namespace llama_mtp {

namespace {

ggml_backend_reg_t rpc_reg() {
    return ggml_backend_reg_by_name("RPC");
}

// Upstream's functions through the registry: the backend may be a loaded module.
template <typename Fn>
Fn rpc_function(const char * name) {
    ggml_backend_reg_t reg = rpc_reg();
    auto fn = reg ? (Fn) ggml_backend_reg_get_proc_address(reg, name) : nullptr;
    if (!fn) {
        throw BackendError(std::string("this build of llama_mtp has no RPC backend (") + name + " not found)");
    }
    return fn;
}

using add_server_fn = decltype(&ggml_backend_rpc_add_server);
using failures_fn = decltype(&ggml_backend_rpc_failures);
using start_server_fn = decltype(&ggml_backend_rpc_start_server);
using set_timeouts_fn = decltype(&ggml_backend_rpc_set_timeouts);

// Called on every way into a context of an RPC model: the reason is copied only when asked for.
uint64_t failures_of(const std::string & endpoint, std::string * reason = nullptr) {
    static const failures_fn failures = rpc_function<failures_fn>("ggml_backend_rpc_failures");
    if (!reason) {
        return failures(endpoint.c_str(), nullptr, 0);
    }
    char buf[512];
    const uint64_t n = failures(endpoint.c_str(), buf, sizeof buf);
    *reason = buf;
    return n;
}

// As upstream parses it: host up to the first ':', then a decimal port.
void check_endpoint(const std::string & endpoint) {
    const size_t colon = endpoint.find(':');
    const std::string port = colon == std::string::npos ? "" : endpoint.substr(colon + 1);
    bool ok = colon != std::string::npos && colon > 0 && !port.empty() && port.size() <= 5 &&
              port.find_first_not_of("0123456789") == std::string::npos;
    ok = ok && std::stoi(port) >= 1 && std::stoi(port) <= 65535;
    ok = ok && endpoint.find_first_of(" \t\r\n") == std::string::npos;
    if (!ok) {
        throw InvalidArgumentError("RPC server '" + endpoint +
                                   "' is not host:port (e.g. '127.0.0.1:50052', port 1-65535)");
    }
}

ModelLoadError load_error(const std::string & endpoint, const std::string & reason) {
    return with_attributes(ModelLoadError("RPC server " + endpoint + ": " + reason), {{"endpoint", endpoint}});
}

}  // namespace

bool rpc_available() {
    return rpc_reg() != nullptr;
}

std::shared_ptr<RpcLink> RpcLink::connect(const std::vector<std::string> & endpoints,
                                          std::vector<ggml_backend_dev_t> & devices) {
    if (endpoints.size() > GGML_RPC_MAX_SERVERS) {
        throw InvalidArgumentError("at most " + std::to_string(GGML_RPC_MAX_SERVERS) + " RPC servers, got " +
                                   std::to_string(endpoints.size()));
    }
    std::set<std::string> seen;
    for (const auto & e : endpoints) {
        check_endpoint(e);
        if (!seen.insert(e).second) {
            throw InvalidArgumentError("RPC server '" + e + "' is listed twice");
        }
    }
    static const add_server_fn add_server = rpc_function<add_server_fn>("ggml_backend_rpc_add_server");
    auto link = std::make_shared<RpcLink>();
    for (const auto & e : endpoints) {
        const uint64_t before = failures_of(e);
        ggml_backend_reg_t reg = add_server(e.c_str());
        std::string reason;
        if (failures_of(e, &reason) != before) {
            throw load_error(e, reason);
        }
        if (!reg || ggml_backend_reg_dev_count(reg) == 0) {
            throw load_error(e, "the server offers no devices");
        }
        for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
            ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, i);
            // a round trip now: upstream caches the endpoint's devices, so a server that went
            // away since an earlier load is found here rather than halfway through this one
            size_t free_mem = 0, total_mem = 0;
            ggml_backend_dev_memory(dev, &free_mem, &total_mem);
            // the buffer type is made (and cached by upstream) while the connection works
            ggml_backend_dev_buffer_type(dev);
            devices.push_back(dev);
        }
        if (failures_of(e, &reason) != before) {
            throw load_error(e, reason);
        }
        link->endpoints_.push_back(e);
        link->baseline_.push_back(before);
    }
    return link;
}

int RpcLink::failed_index(std::string & reason) const {
    for (size_t i = 0; i < endpoints_.size(); ++i) {
        if (failures_of(endpoints_[i]) != baseline_[i]) {
            failures_of(endpoints_[i], &reason);
            return (int) i;
        }
    }
    return -1;
}

void RpcLink::check_loaded() const {
    std::string reason;
    const int i = failed_index(reason);
    if (i >= 0) {
        throw load_error(endpoints_[i], reason + " while the model loaded");
    }
}

void RpcLink::check() const {
    std::string reason;
    const int i = failed_index(reason);
    if (i >= 0) {
        const std::string & e = endpoints_[i];
        throw with_attributes(RpcError("RPC server " + e + ": " + reason +
                                       "; the model's layers there are lost: close the model and load it again"),
                              {{"endpoint", e}});
    }
}

void set_rpc_timeouts(int32_t handshake_ms, int32_t reply_ms) {
    static const set_timeouts_fn set_timeouts = rpc_function<set_timeouts_fn>("ggml_backend_rpc_set_timeouts");
    set_timeouts(handshake_ms, reply_ms);
}

std::string rpc_endpoint_of(ggml_backend_dev_t dev) {
    ggml_backend_reg_t reg = dev ? ggml_backend_dev_backend_reg(dev) : nullptr;
    if (!reg || std::strcmp(ggml_backend_reg_name(reg), "RPC") != 0) {
        return "";
    }
    return ggml_backend_dev_description(dev);  // upstream describes an RPC device by its endpoint
}

void run_rpc_server(const std::string & host, int port, int32_t n_threads, const std::string & cache_dir) {
    static const start_server_fn start_server = rpc_function<start_server_fn>("ggml_backend_rpc_start_server");
    // upstream rpc-server's choice: every accelerator, else the CPU
    std::vector<ggml_backend_dev_t> devices;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const auto type = ggml_backend_dev_type(dev);
        if (type != GGML_BACKEND_DEVICE_TYPE_CPU && type != GGML_BACKEND_DEVICE_TYPE_ACCEL) {
            devices.push_back(dev);
        }
    }
    if (devices.empty()) {
        if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) {
            devices.push_back(cpu);
        }
    }
    if (devices.empty()) {
        throw BackendError("no device to serve");
    }
    const std::string endpoint = host + ":" + std::to_string(port);
    check_endpoint(endpoint);
    start_server(endpoint.c_str(), cache_dir.empty() ? nullptr : cache_dir.c_str(), (size_t) n_threads, devices.size(),
                 devices.data());
    // it returns only when it could not serve
    throw BackendError("the RPC server could not listen on " + endpoint +
                       " (address in use, or not an address of this machine?)");
}

}  // namespace llama_mtp
