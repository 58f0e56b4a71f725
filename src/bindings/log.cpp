// llama.cpp's log messages: a filter on their level, set from Python or the environment.
#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nanobind/stl/string.h>

#include "common/log.h"  // common/ logs by verbosity (bindings/log.h shadows the bare name)
#include "errors.h"
#include "llama.h"

namespace nb = nanobind;

namespace llama_mtp {

namespace {

// ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
std::atomic<int> g_min_level{GGML_LOG_LEVEL_WARN};
std::atomic<int> g_last_level{GGML_LOG_LEVEL_WARN};

// Runs on llama.cpp threads without the GIL: plain stderr, no Python.
void log_filter(ggml_log_level level, const char * text, void *) {
    int effective = level == GGML_LOG_LEVEL_CONT ? g_last_level.load() : (int) level;
    if (level != GGML_LOG_LEVEL_CONT) {
        g_last_level = level;
    }
    if (effective >= g_min_level.load() && effective != GGML_LOG_LEVEL_NONE) {
        std::fputs(text, stderr);
    }
}

int parse_level(const std::string & name) {
    if (name == "debug") return GGML_LOG_LEVEL_DEBUG;
    if (name == "info") return GGML_LOG_LEVEL_INFO;
    if (name == "warn" || name == "warning") return GGML_LOG_LEVEL_WARN;
    if (name == "error") return GGML_LOG_LEVEL_ERROR;
    if (name == "none" || name == "off") return GGML_LOG_LEVEL_CONT + 1;
    throw InvalidArgumentError("log level must be debug, info, warn, error or none, not '" + name + "'");
}

// common/'s own log (chat templates, grammars, samplers) has verbosity thresholds instead
void set_common_verbosity(int level) {
    const int v = level == GGML_LOG_LEVEL_DEBUG   ? 5
                  : level == GGML_LOG_LEVEL_INFO  ? 3
                  : level == GGML_LOG_LEVEL_WARN  ? 2
                  : level == GGML_LOG_LEVEL_ERROR ? 1
                                                  : -1;
    common_log_set_verbosity_thold(v);
}

}  // namespace

void install_log_filter() {
    if (const char * env = std::getenv("LLAMA_MTP_LOG_LEVEL")) {
        try {
            g_min_level = parse_level(env);
        } catch (const std::exception &) {
            // an unknown level in the environment keeps the default
        }
    }
    llama_log_set(log_filter, nullptr);
    set_common_verbosity(g_min_level);
}

void bind_log(nb::module_ & m) {
    m.def(
        "set_log_level",
        [](const std::string & level) {
            g_min_level = parse_level(level);
            set_common_verbosity(g_min_level);
        },
        nb::arg("level"),
        "Minimum level of llama.cpp messages written to stderr: debug, info, warn (default), "
        "error or none. LLAMA_MTP_LOG_LEVEL sets it at import.");
}

}  // namespace llama_mtp
