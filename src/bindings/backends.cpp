#include "backends.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "amx_probe.h"
#include "errors.h"
#include "ggml-backend.h"

namespace nb = nanobind;
namespace fs = std::filesystem;

namespace llama_mtp {
namespace {

#ifdef _WIN32
const char * const kModulePrefix = "ggml-cpu-";
const char * const kBackendPrefix = "ggml-";
const char * const kModuleSuffix = ".dll";
#else
const char * const kModulePrefix = "libggml-cpu-";
const char * const kBackendPrefix = "libggml-";
const char * const kModuleSuffix = ".so";
#endif

std::mutex g_load_mutex;
fs::path g_backend_dir;  // where load_backends() found the modules (empty: static build)

// The file a function was loaded from: tells which CPU variant ggml picked.
std::string library_path_of(const void * address) {
#ifdef _WIN32
    HMODULE module = nullptr;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR) address, &module)) {
        return "";
    }
    wchar_t buffer[32768];
    DWORD n = GetModuleFileNameW(module, buffer, 32768);
    return n == 0 ? "" : fs::path(std::wstring(buffer, n)).u8string();
#else
    Dl_info info{};
    if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) {
        return "";
    }
    return info.dli_fname;
#endif
}

// A variant built with AMX (ggml's x86 list) on a machine that advertises AMX but traps its
// tile instructions: ggml's score reads cpuid only, and its loader would pick that variant
// (SIGILL at the first tile). The one rule for the scores and for an explicit choice.
bool amx_trapped(const std::string & variant) {
    return variant == "sapphirerapids" && !amx_tiles_run();
}

// ggml_backend_score() of a CPU variant module without registering it: 0 = not supported by
// this CPU (the same probe ggml's own loader makes before it picks the best one).
int module_score(const fs::path & path) {
#ifdef _WIN32
    HMODULE handle = LoadLibraryW(path.wstring().c_str());
    if (!handle) return 0;
    auto score = (int (*)()) GetProcAddress(handle, "ggml_backend_score");
    int s = score ? score() : 0;
    FreeLibrary(handle);
#else
    void * handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return 0;
    auto score = (int (*)()) dlsym(handle, "ggml_backend_score");
    int s = score ? score() : 0;
    dlclose(handle);
#endif
    return s;
}

bool starts_with(const std::string & s, const std::string & prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string & s, const std::string & suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "libggml-cpu-haswell.so" -> "haswell"; "" when the name is not a CPU variant module.
std::string variant_of(const std::string & filename) {
    if (!starts_with(filename, kModulePrefix) || !ends_with(filename, kModuleSuffix)) {
        return "";
    }
    return filename.substr(std::string(kModulePrefix).size(),
                           filename.size() - std::string(kModulePrefix).size() - std::string(kModuleSuffix).size());
}

fs::path variant_path(const fs::path & dir, const std::string & variant) {
    return dir / fs::u8path(kModulePrefix + variant + kModuleSuffix);
}

std::vector<std::string> variants_in(const fs::path & dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::string v = variant_of(it->path().filename().u8string());
        if (!v.empty()) names.push_back(v);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// ggml's score, and 0 where amx_trapped()
int variant_score(const fs::path & dir, const std::string & variant) {
    const int score = module_score(variant_path(dir, variant));
    return score > 0 && amx_trapped(variant) ? 0 : score;
}

// The best-scoring variant in dir ("" when none runs here): ggml's own choice, less what
// variant_score() rules out.
std::string best_variant(const fs::path & dir) {
    std::string best;
    int best_score = 0;
    for (const auto & v : variants_in(dir)) {
        const int s = variant_score(dir, v);
        if (s > best_score) best = v, best_score = s;
    }
    return best;
}

std::string joined(const std::vector<std::string> & names) {
    std::string out;
    for (const auto & n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
}

ggml_backend_reg_t cpu_reg() {
    return ggml_backend_reg_by_name("CPU");
}

ggml_backend_get_features_t cpu_get_features(ggml_backend_reg_t reg) {
    return (ggml_backend_get_features_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
}

// The file the CPU backend in use was loaded from (the extension itself in static builds).
std::string cpu_backend_path(ggml_backend_reg_t reg) {
    ggml_backend_get_features_t get_features = cpu_get_features(reg);
    return get_features ? library_path_of((const void *) get_features) : "";
}

std::string loaded_cpu_variant() {
    ggml_backend_reg_t reg = cpu_reg();
    if (!reg) return "";
    if (!LLAMA_MTP_CPU_VARIANTS_BUILD) return "builtin";
    return variant_of(fs::u8path(cpu_backend_path(reg)).filename().u8string());
}

std::vector<std::string> load_backends(const std::string & directory, const std::optional<std::string> & cpu_variant) {
    std::lock_guard<std::mutex> lock(g_load_mutex);
    if (!LLAMA_MTP_CPU_VARIANTS_BUILD) {
        if (cpu_variant) {
            throw BackendError(
                "this build links one CPU backend; choosing a CPU variant needs a "
                "build with LLAMA_MTP_CPU_VARIANTS=ON (the published wheels)");
        }
        return backend_names();
    }
    if (cpu_reg()) {  // ggml cannot swap backends under live models: loading is once per process
        std::string loaded = loaded_cpu_variant();
        if (cpu_variant && *cpu_variant != loaded) {
            throw BackendError("the CPU variant '" + loaded + "' is already loaded; '" + *cpu_variant +
                               "' can only be chosen before the first load "
                               "(set LLAMA_MTP_CPU_VARIANT before importing llama_mtp)");
        }
        return backend_names();
    }
    fs::path dir = fs::u8path(directory);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw BackendError("backend directory not found: " + directory);
    }
    g_backend_dir = dir;
    {
        std::string name;
        {
            nb::gil_scoped_release release;
            name = cpu_variant ? *cpu_variant : best_variant(dir);
        }
        if (name.empty()) {
            throw BackendError("no CPU variant in " + directory +
                               " runs on this CPU (present: " + joined(variants_in(dir)) + ")");
        }
        std::vector<std::string> present = variants_in(dir);
        if (std::find(present.begin(), present.end(), name) == present.end()) {
            throw BackendError("no CPU variant '" + name + "' in " + directory + "; present: " + joined(present));
        }
        if (amx_trapped(name)) {
            throw BackendError("the CPU variant '" + name +
                               "' is not supported by this CPU: it needs AMX, which this machine "
                               "advertises but does not run (its tile instructions trap)");
        }
        // ggml refuses (nullptr) a module whose ggml_backend_score() is 0 on this CPU
        if (ggml_backend_load(variant_path(dir, name).u8string().c_str()) == nullptr) {
            throw BackendError("the CPU variant '" + name +
                               "' is not supported by this CPU "
                               "(it needs instructions this CPU lacks) or could not be opened");
        }
        // GPU backend modules (ggml-cuda, ...) are loaded as usual beside the chosen CPU variant.
        const std::string base = std::string(kBackendPrefix) + "base" + kModuleSuffix;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            std::string file = it->path().filename().u8string();
            if (starts_with(file, kBackendPrefix) && ends_with(file, kModuleSuffix) && variant_of(file).empty() &&
                file != base) {
                nb::gil_scoped_release release;
                ggml_backend_load(it->path().u8string().c_str());
            }
        }
    }
    if (!cpu_reg()) {
        throw BackendError("no CPU backend could be loaded from " + directory +
                           " (CPU variants present: " + joined(variants_in(dir)) + ")");
    }
    return backend_names();
}

// Scores of the variants in the backend directory: probed once (each probe opens a module).
const std::map<std::string, int> & variant_scores() {
    static std::map<std::string, int> scores;
    static bool probed = false;
    std::lock_guard<std::mutex> lock(g_load_mutex);
    if (!probed && !g_backend_dir.empty()) {
        for (const auto & v : variants_in(g_backend_dir)) {
            scores[v] = variant_score(g_backend_dir, v);
        }
        probed = true;
    }
    return scores;
}

}  // namespace

std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
        names.emplace_back(ggml_backend_reg_name(ggml_backend_reg_get(i)));
    }
    return names;
}

nb::dict cpu_backend_info() {
    nb::dict info;
    ggml_backend_reg_t reg = cpu_reg();
    info["variant"] = reg ? nb::cast(loaded_cpu_variant()) : nb::none();
    nb::dict features;
    ggml_backend_get_features_t get_features = reg ? cpu_get_features(reg) : nullptr;
    for (ggml_backend_feature * f = get_features ? get_features(reg) : nullptr; f && f->name; ++f) {
        features[f->name] = f->value;
    }
    info["path"] = reg ? cpu_backend_path(reg) : "";
    info["features"] = features;
    nb::dict scores;
    for (const auto & [name, score] : variant_scores()) {
        scores[name.c_str()] = score;
    }
    info["variants"] = scores;
    return info;
}

void bind_backends(nb::module_ & m) {
    m.def("load_backends", &load_backends, nb::arg("directory"), nb::arg("cpu_variant") = nb::none(),
          nb::sig("def load_backends(directory: str, cpu_variant: str | None = None) -> list[str]"),
          "Load the ggml backend modules from ``directory`` (llama_mtp's package directory; "
          "``import llama_mtp`` does this). With ``cpu_variant`` (e.g. 'x64', 'haswell') that "
          "CPU variant instead of the best one this CPU supports. Once per process; a no-op in "
          "builds that link one CPU backend. Returns the registered backend names. Raises "
          "BackendError when a module is missing or not supported by this CPU.");
}

}  // namespace llama_mtp
