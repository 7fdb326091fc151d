// Runs kiln's CUDA kernels (src/host/cuda/*.cu) on the CPU: every
// launch becomes a loop over all its threads, one after the other, in a grid
// of 3 blocks of 5 threads, so that the kernels' grid-stride loops split
// every index range among several thread and block indices as on a GPU
// (sequentially: this checks the index arithmetic, not races). Used by
// codegen/tests/cuda.rs to check the CUDA arithmetic against the Rust
// kernels on machines without a GPU. The test writes kiln_kernels.cu (what
// NVRTC compiles: the C declarations src/host/cuda/header.rs generates, then
// every kernel file) into a folder on the include path, so g++ also checks
// every descriptor's size and field offsets.
//
// Job file (little-endian): u64 arena_bytes, u64 samples, u64 n_params,
// u8 params[n_params] (every op's descriptor, as plan.rs lays them out),
// u64 n_weights, u8 weights[n_weights], u64 n_launches, then per launch:
// u64 name_len, name, u64 params_offset (where its descriptor starts); then
// the arenas (samples * arena_bytes bytes). The arenas are written back to
// the output.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

struct Dim3 { unsigned x; };
static Dim3 blockIdx = {0}, threadIdx = {0}, blockDim = {5}, gridDim = {3};
#define __global__
#define __device__
#define __forceinline__ inline
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
using std::round;

#include "kiln_kernels.cu"

typedef void (*Kernel)(const u8*, const u8*, u8*, i64, i32);

static uint64_t read_u64(FILE* f) { uint64_t v = 0; if (fread(&v, 8, 1, f) != 1) exit(3); return v; }

int main(int argc, char** argv) {
    if (argc != 3) return 2;
#define KILN_KERNEL_ENTRY(name) {#name, name},
    const std::map<std::string, Kernel> kernels = {KILN_FOR_EACH_KERNEL(KILN_KERNEL_ENTRY)};
    FILE* in = fopen(argv[1], "rb");
    if (!in) return 4;
    const uint64_t arena_bytes = read_u64(in), samples = read_u64(in), n_params = read_u64(in);
    std::vector<uint64_t> param_words(n_params / 8 + 1);  // 8-byte aligned storage
    u8* params = reinterpret_cast<u8*>(param_words.data());
    if (n_params && fread(params, 1, n_params, in) != n_params) return 5;
    const uint64_t n_weights = read_u64(in);
    std::vector<uint32_t> weight_words(n_weights / 4 + 4);  // 4-byte aligned storage
    u8* weights = reinterpret_cast<u8*>(weight_words.data());
    if (n_weights && fread(weights, 1, n_weights, in) != n_weights) return 6;
    const uint64_t n_launches = read_u64(in);
    std::vector<std::pair<Kernel, uint64_t>> launches;
    for (uint64_t i = 0; i < n_launches; i++) {
        const uint64_t len = read_u64(in);
        std::string name(len, '\0');
        if (fread(&name[0], 1, len, in) != len) return 7;
        const uint64_t start = read_u64(in);
        const auto kernel = kernels.find(name);
        if (kernel == kernels.end()) { fprintf(stderr, "unknown kernel %s\n", name.c_str()); return 8; }
        if (start % 16 != 0 || start >= n_params) { fprintf(stderr, "%s: bad params offset %llu\n", name.c_str(), (unsigned long long)start); return 8; }
        launches.push_back({kernel->second, start});
    }
    std::vector<uint32_t> arena_words(arena_bytes * samples / 4 + 4);
    u8* arenas = reinterpret_cast<u8*>(arena_words.data());
    if (fread(arenas, 1, arena_bytes * samples, in) != arena_bytes * samples) return 9;
    fclose(in);
    for (auto& l : launches)
        for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++)
            for (threadIdx.x = 0; threadIdx.x < blockDim.x; threadIdx.x++)
                l.first(params + l.second, weights, arenas, (i64)arena_bytes, (i32)samples);
    FILE* out = fopen(argv[2], "wb");
    if (!out || fwrite(arenas, 1, arena_bytes * samples, out) != arena_bytes * samples) return 10;
    fclose(out);
    return 0;
}
