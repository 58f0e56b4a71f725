#pragma once
// Whether this machine runs AMX tile instructions. Some VMs advertise AMX in cpuid and trap
// the instructions (SIGILL), so the cpuid bits ggml's variant scores read are not enough.

namespace llama_mtp {

// Executes a tile instruction in a forked child (Linux x86-64; elsewhere trusts cpuid).
// Probed once per process.
bool amx_tiles_run();

}  // namespace llama_mtp
