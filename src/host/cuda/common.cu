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

// TFLite's int16 LOGISTIC and TANH (kernels::sigmoid_table): sigmoid(k / 24)
// in 0.16 fixed point, interpolated, for the int16 ops and the LSTM gates.
__device__ const unsigned short kiln_sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

__device__ __forceinline__ i32 sigmoid_table_at(u32 k, i32* step) {
    const u32 i = k < 254 ? k : 254;
    const i32 a = kiln_sigmoid_table[i];
    *step = (i32)kiln_sigmoid_table[i + 1] - a;
    return a;
}

// `x * multiplier` rounded right by `shift`: the table's scale.
__device__ __forceinline__ i32 to_table_scale(i32 x, i32 multiplier, i32 shift) {
    const i32 rounding = shift > 0 ? 1 << (shift - 1) : 0;
    return (x * multiplier + rounding) >> shift;
}

__device__ i32 logistic_q15(i32 x, i32 multiplier, i32 shift) {
    const i32 v = to_table_scale(x, multiplier, shift);
    const u32 a = v < 0 ? (u32)(-v) : (u32)v;
    const u32 k = a >> 9;
    i32 step, r;
    if (k >= 255) {
        r = 0x7FFF << 10;
    } else {
        const i32 base = sigmoid_table_at(k, &step);
        r = (base << 9) + (i32)(a & 0x1FF) * step;
    }
    r = v >= 0 ? r + (1 << 9) : (1 << 25) - r + (1 << 9) - 1;
    return r >> 10;
}

__device__ i32 tanh_q15(i32 x, i32 multiplier, i32 shift) {
    const i32 v = to_table_scale(x, multiplier, shift);
    const u32 a = v < 0 ? (u32)(-v) : (u32)v;
    const u32 k = a >> 8;
    i32 step, r;
    if (k >= 255) {
        r = 0xFFFF << 8;
    } else {
        const i32 base = sigmoid_table_at(k, &step);
        r = (base << 8) + (i32)(a & 0xFF) * step;
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return r >> 8;
}
