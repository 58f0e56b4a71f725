#include "amx_probe.h"

#if defined(__linux__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#endif

namespace llama_mtp {

#if defined(__linux__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for the AMX tile data state
constexpr long kXfeatureXtiledata = 18;

__attribute__((target("amx-tile"))) void touch_tiles() {
    alignas(64) unsigned char config[64];
    std::memset(config, 0, sizeof(config));
    config[0] = 1;   // palette 1
    config[16] = 4;  // tile 0: 4 bytes per row
    config[48] = 1;  // tile 0: 1 row
    _tile_loadconfig(config);
    _tile_zero(0);
    _tile_release();
}

bool probe() {
    const pid_t pid = fork();
    if (pid == 0) {  // the child only makes a syscall and runs the instructions, then exits
        if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) _exit(1);
        touch_tiles();
        _exit(0);
    }
    if (pid < 0) return false;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

bool amx_tiles_run() {
    static const bool runs = probe();
    return runs;
}
#else
bool amx_tiles_run() {
    return true;
}
#endif

}  // namespace llama_mtp
