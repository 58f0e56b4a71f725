#include "rpc_server.h"

#include <optional>
#include <string>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "errors.h"
#include "int_arg.h"
#include "model.h"
#include "rpc.h"
#include "threads.h"

namespace nb = nanobind;

namespace llama_mtp {

void bind_rpc_server(nb::module_ & m) {
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
}

}  // namespace llama_mtp
