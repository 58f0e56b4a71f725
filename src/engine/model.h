#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llama.h"
#include "rpc_link.h"

namespace llama_mtp {

using ModelPtr = std::shared_ptr<llama_model>;

// Where a model's layers go: n_gpu_layers of them (the last ones; -1: all) onto the devices,
// which are the RPC servers' (in the order given) and then the local accelerators, split
// by tensor_split (empty: by free memory, upstream's default).
struct Placement {
    int n_gpu_layers = 0;
    std::vector<std::string> rpc_servers;
    std::vector<float> tensor_split;
};

// Owns a llama_model through a shared pointer: contexts hold their own reference,
// so closing or deleting the Python Model never frees weights a context still uses.
// Every use goes through shared(), which holds the weights for as long as the caller keeps
// its copy: a close() in another thread (free-threaded Python has no GIL to order them)
// cannot free them mid-call.
class Model {
public:
    Model(const std::string & path, const Placement & placement, bool use_mmap, bool load_mtp, bool vocab_only,
          bool repack);

    // The weights for the length of a call (ClosedError after close()).
    ModelPtr shared() const;
    void close();
    bool closed() const;

    int32_t n_vocab() const;
    void check_token(int64_t token, const char * what = "token") const;

    // NextN blocks that were loaded (0 with load_mtp=False, whatever the GGUF holds)
    int32_t n_layer_nextn() const;

    // The RPC connections the weights depend on (null without rpc_servers): contexts check it.
    const RpcLinkPtr & rpc() const { return rpc_; }

    std::string path;
    bool vocab_only;
    bool load_mtp;

private:
    mutable std::mutex mutex_;  // guards model_ itself, not the weights
    ModelPtr model_;
    RpcLinkPtr rpc_;
};

int32_t vocab_size(const llama_model * model);

// ModelNotFoundError when the file is missing, ModelLoadError when it is not a regular file.
void require_model_file(const std::string & path);

// Throws InvalidArgumentError unless 0 <= token < n_vocab. `what` names the value
// ("token", "prompt token", ...); row >= 0 prefixes "batch row N: ". No allocation on success,
// so loops call it per token with n_vocab looked up once.
void check_token_id(int32_t n_vocab, int64_t token, const char * what, int64_t row = -1);

}  // namespace llama_mtp
