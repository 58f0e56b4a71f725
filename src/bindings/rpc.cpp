#include "rpc.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "errors.h"
#include "int_arg.h"
#include "model.h"
#include "py_strings.h"
#include "rpc_link.h"
#include "threads.h"

namespace nb = nanobind;

namespace llama_mtp {

void bind_rpc(nb::module_ & m) {
    m.def(
        "serve_rpc",
        [](const std::string & host, IntArg port, std::optional<IntArg> n_threads, nb::handle cache_dir) {
            const int32_t p = port.i32("port", 1, 65535);
            const int32_t threads = n_threads ? thread_count(*n_threads, "n_threads") : default_threads();
            const std::string cache = cache_dir.is_none() ? std::string() : fs_path(cache_dir);
            nb::gil_scoped_release release;
            run_rpc_server(host, p, threads, cache);
        },
        nb::arg("host"), nb::arg("port"), nb::kw_only(), nb::arg("n_threads").none() = nb::none(),
        nb::arg("cache_dir").none() = nb::none(),
        nb::sig("def serve_rpc(host: str, port: int, *, n_threads: int | None = None, "
                "cache_dir: str | os.PathLike[str] | None = None) -> typing.NoReturn"),
        "Serve this machine's devices (its accelerators, else the CPU) to RPC clients with ggml's own "
        "RPC server; blocks for as long as it serves (the GIL is released), one client at a time. "
        "cache_dir: upstream's local cache of large weight tensors. The protocol is unauthenticated: "
        "bind only to addresses of a network you trust. Raises BackendError when it cannot listen.");
    m.def("rpc_available", &rpc_available, "True when this build has ggml's RPC backend.");
    m.def(
        "set_rpc_timeouts",
        [](std::optional<double> handshake, std::optional<double> reply) {
            auto ms = [](std::optional<double> s, const char * name) -> int32_t {
                if (!s) {
                    return 0;
                }
                if (!std::isfinite(*s) || *s <= 0 || *s > 86400) {
                    throw with_attributes(
                        InvalidArgumentError(std::string(name) + " must be None or seconds in (0, 86400]"),
                        {{"parameter", std::string(name)}});
                }
                return std::max<int32_t>(1, (int32_t) std::lround(*s * 1000));
            };
            set_rpc_timeouts(ms(handshake, "handshake"), ms(reply, "reply"));
        },
        nb::kw_only(), nb::arg("handshake").none() = 10.0, nb::arg("reply").none() = nb::none(),
        nb::sig("def set_rpc_timeouts(*, handshake: float | None = 10.0, reply: float | None = None) -> None"),
        "Timeouts of RPC connections made afterwards (one per server, shared by the models on it). "
        "handshake: seconds to wait for a new connection's handshake; a server serves one client at a "
        "time, so this is how long a load waits for a busy server before ModelLoadError. reply: "
        "seconds to wait for any reply while generating; past it (a stopped worker, a cut network) the "
        "model's next call raises RpcError. Set it above the longest step (prompt processing "
        "included). None waits forever; the defaults are 10 s and None.");
}

}  // namespace llama_mtp
