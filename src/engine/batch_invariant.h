#pragma once
// Exact mode: while a BatchInvariant scope is on, the graphs this thread computes on the CPU
// backend give every row of a matrix product the result a one-row product would (patch 0005:
// the repacked kernels otherwise switch from gemv to gemm at 4 rows, which rounds differently
// and flips near-ties of quantized models). Other threads' decodes are not affected.
namespace llama_mtp {

class BatchInvariant {
public:
    explicit BatchInvariant(bool on);
    ~BatchInvariant();
    BatchInvariant(const BatchInvariant &) = delete;
    BatchInvariant & operator=(const BatchInvariant &) = delete;

private:
    bool on_;
};

// Whether the loaded CPU backend has the switch (it always does in our builds).
bool batch_invariance_available();

}  // namespace llama_mtp
