#pragma once

namespace llama_mtp {

// The engine's embedder hooks for Python (GIL, Ctrl-C); called once at module import, on the
// main thread.
void install_python_hooks();

}  // namespace llama_mtp
