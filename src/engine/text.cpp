#include "text.h"

#include <algorithm>

namespace llama_mtp {

namespace {

std::string piece(const llama_vocab * vocab, llama_token token, bool first) {
    char buf[128];
    int32_t n;
    if (first) {
        // the first token as llama_detokenize() renders it (it drops SentencePiece's leading space)
        n = llama_detokenize(vocab, &token, 1, buf, (int32_t) sizeof(buf), false, false);
    } else {
        n = llama_token_to_piece(vocab, token, buf, (int32_t) sizeof(buf), 0, false);
    }
    if (n >= 0) {
        return std::string(buf, (size_t) n);
    }
    std::string big((size_t) -n, '\0');
    n = first ? llama_detokenize(vocab, &token, 1, big.data(), (int32_t) big.size(), false, false)
              : llama_token_to_piece(vocab, token, big.data(), (int32_t) big.size(), 0, false);
    big.resize(n > 0 ? (size_t) n : 0);
    return big;
}

// Bytes at the end of s that start a UTF-8 character still missing continuation bytes.
size_t incomplete_utf8_tail(const std::string & s) {
    const size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const auto c = (unsigned char) s[n - back];
        if ((c & 0xC0) == 0x80) {
            continue;  // a continuation byte: look further back for the lead byte
        }
        const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

// Length of the longest suffix of s (starting at or after `from`) that is a proper prefix of a stop.
size_t stop_prefix_tail(const std::string & s, size_t from, const std::vector<std::string> & stops) {
    size_t longest = 0;
    for (const std::string & stop : stops) {
        const size_t max_len = std::min(stop.size() - 1, s.size() - from);
        for (size_t len = max_len; len > longest; --len) {
            if (s.compare(s.size() - len, len, stop, 0, len) == 0) {
                longest = len;
                break;
            }
        }
    }
    return longest;
}

}  // namespace

bool SequenceText::append(const llama_vocab * vocab, llama_token token, const std::vector<std::string> & stops) {
    const size_t before = text_.size();
    text_ += piece(vocab, token, first_);
    first_ = false;
    size_t cut = std::string::npos;
    for (const std::string & stop : stops) {
        // only where the new piece can complete a match
        const size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
        const size_t at = text_.find(stop, std::max(from, taken_));
        cut = std::min(cut, at);
    }
    if (cut == std::string::npos) {
        return false;
    }
    text_.resize(cut);
    return true;
}

std::string SequenceText::take(const std::vector<std::string> & stops, bool finished) {
    size_t end = text_.size();
    if (!finished) {
        end -= std::max(incomplete_utf8_tail(text_), stop_prefix_tail(text_, taken_, stops));
    }
    if (end <= taken_) {
        return {};
    }
    std::string out = text_.substr(taken_, end - taken_);
    taken_ = end;
    return out;
}

}  // namespace llama_mtp
