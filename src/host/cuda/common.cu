// kiln's kernels in CUDA C: the arithmetic of src/kernels/*.rs (TFLite
// Micro's reference semantics) bit for bit, batched: every launch runs one op
// for every sample, one thread per output element (per row for SOFTMAX).
// This file holds what every kernel shares (types, the integer arithmetic of
// quant.rs and fixed_point.rs, the kernel declaration); the kernels are in
// conv.cu (convolutions, matrix products, SVDF), elementwise.cu and
// layout.cu, compiled after it in one unit
// (host::cuda::SOURCES).
//
// Every op has its own kernel, named by its descriptor's CUDA_KERNEL in
// src/ops. A kernel is declared with KILN_KERNEL(name) and receives
// (P, W, A, arena_bytes, samples): P points at its op's descriptor, which
// its body sees as `op`, of the C struct src/host/cuda/header.rs generates
// from the Rust type (typedef'd as name##_descriptor); plan.rs writes the
// descriptor's bytes with Op::write_c, 16-byte aligned. W holds the model's
// weights (uploaded once); A holds one arena of `arena_bytes` per sample,
// back to back. Spans are byte offsets into an arena (activations) or W
// (constants); an empty span is an absent operand (no bias). The header's
// static_asserts check that C lays every struct out as Rust does, and
// codegen/tests/cuda.rs runs this file on the CPU against the Rust kernels.
// Read u32 fields into i32 locals before doing arithmetic with them, as the
// Rust kernels' index math is signed.

typedef signed char i8;
typedef short i16;
typedef unsigned char u8;
typedef int i32;
typedef unsigned int u32;
typedef long long i64;

#define KILN_I32_MAX 2147483647
#define KILN_I32_MIN (-2147483647 - 1)

#define FOR_EACH(idx, total) \
    for (i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x; idx < (total); idx += (i64)blockDim.x * gridDim.x)

__device__ __forceinline__ i32 wadd(i32 a, i32 b) { return (i32)((u32)a + (u32)b); }
__device__ __forceinline__ i32 wsub(i32 a, i32 b) { return (i32)((u32)a - (u32)b); }
__device__ __forceinline__ i32 wneg(i32 a) { return (i32)(0u - (u32)a); }
__device__ __forceinline__ i32 clamp_i32(i32 x, i32 lo, i32 hi) { return x < lo ? lo : (x > hi ? hi : x); }
__device__ __forceinline__ i32 sat_add(i32 a, i32 b) {
    i64 s = (i64)a + (i64)b;
    return s > KILN_I32_MAX ? KILN_I32_MAX : (s < KILN_I32_MIN ? KILN_I32_MIN : (i32)s);
}

// quant.rs
__device__ __forceinline__ i32 srdhm(i32 a, i32 b) {
    if (a == KILN_I32_MIN && b == KILN_I32_MIN) return KILN_I32_MAX;
    i64 ab = (i64)a * (i64)b;
    i64 nudge = ab >= 0 ? (1LL << 30) : (1LL - (1LL << 30));
    return (i32)((ab + nudge) / (1LL << 31));
}
__device__ __forceinline__ i32 rdbp(i32 x, i32 e) {
    i32 mask = (i32)((1LL << e) - 1);
    i32 rem = x & mask;
    i32 thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}
// quant.rs's rounding_divide_by_pot_wide: TFLM's x86 arithmetic past 31.
__device__ __forceinline__ i32 rdbp_wide(i32 x, i32 e) {
    e = e < 0 ? 0 : (e > 62 ? 62 : e);
    const i32 mask = (i32)((1LL << e) - 1);
    const i32 rem = x & mask;
    const i32 thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> (e & 31)) + (rem > thr ? 1 : 0);
}
__device__ __forceinline__ i32 mbqm(i32 x, i32 m, i32 s) {
    i32 ls = s > 0 ? s : 0;
    i32 rs = s > 0 ? 0 : -s;
    return rdbp(srdhm((i32)((u32)x * (1u << ls)), m), rs);
}

// fixed_point.rs
// quant.rs's multiply_by_quantized_multiplier_wide (the 16x8 layers).
__device__ __forceinline__ i32 mbqm_wide(i64 x, i32 m, i32 s) {
    const i64 reduced = m < 0x7FFF0000 ? (i64)((m + (1 << 15)) >> 16) : 0x7FFF;
    i32 total = 15 - s;
    total = total < 1 ? 1 : (total > 62 ? 62 : total);
    // Wrapping, as the Rust kernel's i64 arithmetic.
    const unsigned long long rounded = (unsigned long long)x * (unsigned long long)reduced + (1ULL << (total - 1));
    return (i32)(u32)(unsigned long long)((i64)rounded >> total);
}
__device__ __forceinline__ i32 sat_mul_pot(i32 x, i32 e) {
    if (e > 0) {
        i32 thr = (i32)((1LL << (31 - e)) - 1);
        if (x > thr) return KILN_I32_MAX;
        if (x < -thr) return KILN_I32_MIN;
        return (i32)((u32)x << e);
    }
    if (e < 0) return rdbp(x, -e);
    return x;
}
__device__ __forceinline__ i32 rescale(i32 x, i32 src, i32 dst) { return sat_mul_pot(x, src - dst); }
__device__ __forceinline__ i32 fp_one(i32 ib) { return ib == 0 ? KILN_I32_MAX : (1 << (31 - ib)); }
__device__ __forceinline__ i32 constant_pot(i32 ib, i32 e) { return (i32)(1u << (31 - ib + e)); }
__device__ __forceinline__ i32 rounding_half_sum(i32 a, i32 b) {
    i64 sum = (i64)a + (i64)b;
    i64 sign = sum >= 0 ? 1 : -1;
    return (i32)((sum + sign) / 2);
}
__device__ i32 exp_interval(i32 a) {
    const i32 c = 1895147668;
    const i32 third = 715827883;
    i32 x = wadd(a, constant_pot(0, -3));
    i32 x2 = srdhm(x, x);
    i32 x3 = srdhm(x2, x);
    i32 x4 = srdhm(x2, x2);
    i32 x4_over_4 = sat_mul_pot(x4, -2);
    i32 poly = sat_mul_pot(wadd(srdhm(wadd(x4_over_4, x3), third), x2), -1);
    return wadd(c, srdhm(c, wadd(x, poly)));
}
__device__ i32 exp_on_negative_values(i32 a, i32 ib) {
    i32 fb = 31 - ib;
    i32 quarter = constant_pot(ib, -2);
    i32 mask = quarter - 1;
    i32 r = wsub(a & mask, quarter);
    i32 result = exp_interval(rescale(r, ib, 0));
    i32 remainder = wsub(r, a);
    const i32 exps[7] = {-2, -1, 0, 1, 2, 3, 4};
    const i32 mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int k = 0; k < 7; k++) {
        if (ib > exps[k]) {
            i32 shift = fb + exps[k];
            if (remainder & (i32)(1u << shift)) result = srdhm(result, mults[k]);
        }
    }
    if (ib > 5) {
        i32 clampv = -(1 << (36 - ib));
        if (a < clampv) result = 0;
    }
    if (a == 0) result = fp_one(0);
    return result;
}
__device__ i32 newton_reciprocal_q2(i32 half_denominator) {
    i32 x = wadd(1515870810, srdhm(half_denominator, -1010580540));
    for (int i = 0; i < 3; i++) {
        i32 hx = srdhm(half_denominator, x);
        i32 one_minus = wsub(fp_one(2), hx);
        x = wadd(x, rescale(srdhm(x, one_minus), 4, 2));
    }
    return x;
}
__device__ i32 one_over_one_plus_x(i32 a) {
    return rescale(newton_reciprocal_q2(rounding_half_sum(a, fp_one(0))), 1, 0);
}
__device__ i32 one_minus_x_over_one_plus_x(i32 a) {
    i32 x = newton_reciprocal_q2(rounding_half_sum(a, fp_one(0)));
    return rescale(wsub(x, fp_one(2)), 2, 0);
}
__device__ i32 fp_logistic(i32 a, i32 ib) {
    if (a == 0) return 1 << 30;
    i32 abs_a = a > 0 ? a : wneg(a);
    i32 positive = one_over_one_plus_x(exp_on_negative_values(wneg(abs_a), ib));
    return a > 0 ? positive : wsub(fp_one(0), positive);
}
__device__ i32 fp_tanh(i32 a, i32 ib) {
    if (a == 0) return 0;
    i32 negative_abs = a < 0 ? a : wneg(a);
    i32 t = one_minus_x_over_one_plus_x(exp_on_negative_values(negative_abs, ib + 1));
    return a < 0 ? wneg(t) : t;
}


__device__ __forceinline__ const i32* weights_i32(const u8* W, u32 at) { return (const i32*)(W + at); }

// The bytes at `span` in sample `s`'s arena.
__device__ __forceinline__ u8* arena(u8* A, i64 arena_bytes, i64 s, Span span) { return A + s * arena_bytes + span.offset; }

// A kernel: its body sees its op's descriptor as `op`.
#define KILN_KERNEL(name)                                                                                          \
    __device__ __forceinline__ void name##_body(const name##_descriptor& op, const u8* W, u8* A, i64 arena_bytes, \
                                                i32 samples);                                                      \
    extern "C" __global__ void name(const u8* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {             \
        name##_body(*(const name##_descriptor*)P, W, A, arena_bytes, samples);                                     \
    }                                                                                                              \
    __device__ __forceinline__ void name##_body(const name##_descriptor& op, const u8* W, u8* A, i64 arena_bytes, \
                                                i32 samples)

// ---- float32 kernels: the order of operations of src/kernels/*_f32 (and
// TFLM's float reference); compiled without FMA contraction so products and
// sums round as on the CPU.

__device__ __forceinline__ float clampf(float v, FloatRange range) {
    const float lo = range.min, hi = range.max;
    const float w = v < lo ? lo : v;
    return w > hi ? hi : w;
}
