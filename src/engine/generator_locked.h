#pragma once
// Generator::locked, for the two files that implement the Generator (generator.cpp: steps;
// generator_slots.cpp: adding and releasing sequences).
#include <optional>

#include "errors.h"
#include "generator.h"
#include "hooks.h"

namespace llama_mtp {

template <typename F>
void Generator::locked(F && f) {
    if (!failed_.empty()) {
        throw ContextError("this generation failed earlier (" + failed_ + "); start a new one");
    }
    try {
        auto run = [&] {
            const Unblocked unblocked;
            const Context::Lock target(*tgt_);
            std::optional<Context::Lock> draft;
            if (session_) draft.emplace(session_->draft_ctx());
            f(target, draft ? draft->memory() : nullptr);
        };
        if (interruptible_) {
            with_interrupts(run);
        } else {
            run();
        }
    } catch (const std::exception & e) {
        failed_ = e.what();
        throw;
    } catch (...) {
        failed_ = "interrupted";
        throw;
    }
}

}  // namespace llama_mtp
