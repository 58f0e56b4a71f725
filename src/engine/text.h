#pragma once
// The text of one generated sequence, built incrementally from token pieces (no
// re-detokenization per step), with stop strings found as the pieces arrive and text handed
// out only where it is final: never an incomplete UTF-8 character, never the start of what
// may still become a stop string.
#include <cstdint>
#include <string>
#include <vector>

#include "llama.h"

namespace llama_mtp {

class SequenceText {
public:
    // Appends the token's piece as llama_detokenize() of the whole sequence would render it.
    // Returns true when the text now contains one of `stops`: it is cut where that stop begins.
    bool append(const llama_vocab * vocab, llama_token token, const std::vector<std::string> & stops);

    // The final text not handed out yet; with `finished`, everything left.
    std::string take(const std::vector<std::string> & stops, bool finished);

    const std::string & bytes() const { return text_; }

private:
    std::string text_;
    size_t taken_ = 0;
    bool first_ = true;
};

}  // namespace llama_mtp
