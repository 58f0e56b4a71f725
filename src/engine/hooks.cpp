#include "hooks.h"

namespace llama_mtp {

namespace {

EmbedderHooks g_hooks;  // set once at import, before any context exists

}  // namespace

void set_embedder_hooks(const EmbedderHooks & hooks) {
    g_hooks = hooks;
}

Unblocked::Unblocked() : token_(g_hooks.release ? g_hooks.release() : nullptr) {}

Unblocked::~Unblocked() {
    if (token_ && g_hooks.reacquire) g_hooks.reacquire(token_);
}

bool interrupt_requested(void *) {
    return g_hooks.interrupted && g_hooks.interrupted();
}

InterruptWatch::InterruptWatch() : token_(g_hooks.begin_watch ? g_hooks.begin_watch() : nullptr) {}

InterruptWatch::~InterruptWatch() {
    if (active_ && g_hooks.end_watch) g_hooks.end_watch(token_, false);
}

void InterruptWatch::deliver() {
    if (!active_) return;
    active_ = false;
    if (g_hooks.end_watch) g_hooks.end_watch(token_, true);
}

}  // namespace llama_mtp
