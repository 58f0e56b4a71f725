#pragma once
// Medians of a handful of measurements (the controllers' robust estimates).
#include <algorithm>
#include <vector>

namespace llama_mtp {

// The median; of an even count, the mean of the middle two. v must not be empty.
inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The lower of the middle two of an even count (a value that was measured). v must not be empty.
inline double lower_median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[(v.size() - 1) / 2];
}

}  // namespace llama_mtp
