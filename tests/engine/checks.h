#pragma once
// What the engine's ctest programs share: counted checks, and the tiny models the Python suite
// writes (LLAMA_MTP_TEST_MODELS: "hybrid=PATH,dense=PATH").
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <sstream>
#include <string>

namespace engine_tests {

inline int g_failed = 0;
inline int g_checks = 0;

inline void check(bool ok, const std::string & what) {
    ++g_checks;
    if (!ok) {
        ++g_failed;
        std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    }
}

template <typename E>
void check_throws(const std::function<void()> & f, const std::string & what) {
    bool thrown = false;
    try {
        f();
    } catch (const E &) {
        thrown = true;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "  (%s: another exception: %s)\n", what.c_str(), e.what());
    }
    check(thrown, what);
}

inline std::map<std::string, std::string> model_paths() {
    std::map<std::string, std::string> out;
    const char * env = std::getenv("LLAMA_MTP_TEST_MODELS");
    std::stringstream items(env ? env : "");
    std::string item;
    while (std::getline(items, item, ',')) {
        const auto eq = item.find('=');
        if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return out;
}

// The summary line and the exit status of a test program.
inline int report() {
    std::printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed == 0 ? 0 : 1;
}

}  // namespace engine_tests
