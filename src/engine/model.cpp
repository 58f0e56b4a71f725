// Model: a llama_model loaded (after the GGUF preflight), its RPC connections, vocabulary checks.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "errors.h"
#include "gguf_preflight.h"
#include "hooks.h"
#include "llama-model.h"

namespace llama_mtp {

namespace {

// The devices upstream's --rpc gives a model: the RPC servers' first (fewer transfers), then
// the local GPUs (integrated ones only when there is no discrete GPU).
std::vector<ggml_backend_dev_t> with_local_devices(std::vector<ggml_backend_dev_t> devices) {
    std::vector<ggml_backend_dev_t> gpus, igpus;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const auto type = ggml_backend_dev_type(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU && rpc_endpoint_of(dev).empty()) {
            gpus.push_back(dev);
        } else if (type == GGML_BACKEND_DEVICE_TYPE_IGPU) {
            igpus.push_back(dev);
        }
    }
    devices.insert(devices.end(), gpus.begin(), gpus.end());
    if (gpus.empty()) {
        devices.insert(devices.end(), igpus.begin(), igpus.end());
    }
    return devices;
}

std::vector<float> checked_tensor_split(const std::vector<float> & split) {
    const size_t max = llama_max_devices();
    if (split.size() > max) {
        throw InvalidArgumentError("tensor_split has " + std::to_string(split.size()) + " entries; at most " +
                                   std::to_string(max) + " devices");
    }
    float sum = 0;
    for (float f : split) {
        if (!std::isfinite(f) || f < 0) {
            throw InvalidArgumentError("tensor_split entries must be finite and >= 0");
        }
        sum += f;
    }
    if (!split.empty() && !(sum > 0)) {
        throw InvalidArgumentError("tensor_split must have a positive entry");
    }
    std::vector<float> out(split);
    out.resize(max, 0.0f);
    return out;
}

}  // namespace

Model::Model(const std::string & path_, const Placement & placement, bool use_mmap, bool load_mtp, bool vocab_only_,
             bool repack)
    : path(path_), vocab_only(vocab_only_), load_mtp(load_mtp) {
    require_model_file(path);
    const std::vector<float> split = checked_tensor_split(placement.tensor_split);
    preflight_gguf(path, vocab_only_);
    llama_model_params params = llama_model_default_params();
    params.n_gpu_layers = placement.n_gpu_layers;
    params.load_mode = use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    params.load_mtp = load_mtp;
    params.vocab_only = vocab_only;
    // repack=False skips the CPU "extra" buffer types (weight repacking, AMX): the
    // escape hatch for CPUs that advertise instructions the OS or VM traps.
    params.use_extra_bufts = repack;
    if (!placement.tensor_split.empty()) {
        params.tensor_split = split.data();
    }
    std::vector<ggml_backend_dev_t> devices;
    llama_model * raw = nullptr;
    {
        const Unblocked unblocked;
        if (!placement.rpc_servers.empty() && !vocab_only) {
            std::vector<ggml_backend_dev_t> remote;
            rpc_ = RpcLink::connect(placement.rpc_servers, remote);
            devices = with_local_devices(std::move(remote));
            devices.push_back(nullptr);
            params.devices = devices.data();
        }
        raw = llama_model_load_from_file(path.c_str(), params);
    }
    if (!raw) {
        if (rpc_) {
            rpc_->check_loaded();
        }
        throw ModelLoadError("failed to load model from " + path +
                             " (corrupt, truncated or unsupported GGUF; see the log above)");
    }
    model_ = ModelPtr(raw, llama_model_free);
    if (rpc_) {
        rpc_->check_loaded();  // frees the model on the way out
    }
}

ModelPtr Model::shared() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!model_) {
        throw ClosedError("the model is closed");
    }
    return model_;
}

void Model::close() {
    ModelPtr last;
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        last.swap(model_);
    }
    // `last` frees the weights here, outside the lock, unless a call or a context still holds them
}

bool Model::closed() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return !model_;
}

int32_t Model::n_vocab() const {
    return vocab_size(shared().get());
}

int32_t Model::n_layer_nextn() const {
    return load_mtp ? llama_model_n_layer_nextn(shared().get()) : 0;
}

void require_model_file(const std::string & path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        throw ModelNotFoundError("model file not found: " + path);
    }
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw ModelLoadError("not a regular file: " + path);
    }
}

int32_t vocab_size(const llama_model * model) {
    return llama_vocab_n_tokens(llama_model_get_vocab(model));
}

void check_token_id(int32_t n, int64_t token, const char * what, int64_t row) {
    if (token < 0 || token >= n) {
        const std::string where = row >= 0 ? "batch row " + std::to_string(row) + ": " : "";
        throw InvalidArgumentError(where + what + " " + std::to_string(token) + " is out of range [0, " +
                                   std::to_string(n) + ")");
    }
}

void Model::check_token(int64_t token, const char * what) const {
    check_token_id(n_vocab(), token, what);
}

}  // namespace llama_mtp
