// kiln's int8 kernels in CUDA C: the arithmetic of src/kernels/*.rs (TFLite
// Micro's reference semantics) bit for bit, batched: every launch runs one op
// for every sample, one thread per output element (per row for SOFTMAX).
//
// Memory: W holds the model's weights (uploaded once); A holds one arena of
// `arena_bytes` per sample, back to back. Each op's parameters are an int32
// array P whose layout is written by src/host/cuda/plan.rs (the two files
// must agree; tests/cuda.rs runs this file on the CPU to check them).

typedef signed char i8;
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
__device__ __forceinline__ i32 mbqm(i32 x, i32 m, i32 s) {
    i32 ls = s > 0 ? s : 0;
    i32 rs = s > 0 ? 0 : -s;
    return rdbp(srdhm((i32)((u32)x * (1u << ls)), m), rs);
}

// fixed_point.rs
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

__device__ __forceinline__ const i32* weights_i32(const u8* W, i32 at) { return (const i32*)(W + at); }

// The input coordinate filter tap `k` of output coordinate `o` reads, if any:
// `o * stride - pad + k * dilation` for a convolution; for a transposed one
// the input pixel whose scatter `i * stride - pad + k * dilation` lands on
// `o` (the gather form of kernels/transpose_conv2d.rs).
template <bool Transposed>
__device__ __forceinline__ bool conv_source(i32 o, i32 k, i32 stride, i32 dilation, i32 pad, i32 extent, i32* i) {
    if (!Transposed) {
        *i = o * stride - pad + k * dilation;
        return *i >= 0 && *i < extent;
    }
    const i32 t = o + pad - k * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= extent) return false;
    *i = t / stride;
    return true;
}

// Every (grouped, plain or transposed) convolution kernel's walk over the
// words of plan.rs's conv_words: one thread per output element;
// `dot(acc, x, w, fc)` adds one tap's channels, `finish(output, index, oc,
// acc)` writes the output. Taps are visited in the Rust kernels' order, so
// float sums round alike.
template <bool Transposed, typename T, typename Acc, typename Dot, typename Finish>
__device__ __forceinline__ void conv_gather(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples, Dot dot, Finish finish) {
    const i32 batches = P[0], in_h = P[1], in_w = P[2], in_c = P[3], out_h = P[4], out_w = P[5], out_c = P[6];
    const i32 fh = P[7], fw = P[8], fc = P[9], sh = P[10], sw = P[11], dh = P[12], dw = P[13], pt = P[14], pl = P[15];
    const T* filter = (const T*)(W + P[21]);
    const i32 per_group = out_c / (in_c / fc);
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const T* input = (const T*)(A + s * arena_bytes + P[20]);
        const i32 ic0 = (oc / per_group) * fc;
        Acc acc = 0;
        for (i32 ky = 0; ky < fh; ky++) {
            i32 iy;
            if (!conv_source<Transposed>(oy, ky, sh, dh, pt, in_h, &iy)) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                i32 ix;
                if (!conv_source<Transposed>(ox, kx, sw, dw, pl, in_w, &ix)) continue;
                dot(acc, input + (((i64)b * in_h + iy) * in_w + ix) * in_c + ic0,
                    filter + (((i64)oc * fh + ky) * fw + kx) * fc, fc);
            }
        }
        finish(A + s * arena_bytes + P[25], (((i64)b * out_h + oy) * out_w + ox) * out_c + oc, oc, acc);
    }
}

// int8 CONV_2D and TRANSPOSE_CONV: int32 sums of (input + offset) * filter,
// then the per-channel requantization.
template <bool Transposed>
__device__ __forceinline__ void conv_s8(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 in_off = P[16], out_off = P[17], act_min = P[18], act_max = P[19];
    const i32* bias = P[22] >= 0 ? weights_i32(W, P[22]) : 0;
    const i32* mult = weights_i32(W, P[23]);
    const i32* shift = weights_i32(W, P[24]);
    conv_gather<Transposed, i8, i32>(P, W, A, arena_bytes, samples,
        [=](i32& acc, const i8* x, const i8* w, i32 fc) {
            for (i32 c = 0; c < fc; c++) acc += (i32)w[c] * ((i32)x[c] + in_off);
        },
        [=](u8* output, i64 at, i32 oc, i32 acc) {
            if (bias) acc = wadd(acc, bias[oc]);
            const i32 v = sat_add(mbqm(acc, mult[oc], shift[oc]), out_off);
            ((i8*)output)[at] = (i8)clamp_i32(v, act_min, act_max);
        });
}

extern "C" __global__ void kiln_conv2d(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    conv_s8<false>(P, W, A, arena_bytes, samples);
}

extern "C" __global__ void kiln_transpose_conv2d(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    conv_s8<true>(P, W, A, arena_bytes, samples);
}

extern "C" __global__ void kiln_depthwise_conv2d(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 batches = P[0], in_h = P[1], in_w = P[2], in_c = P[3], out_h = P[4], out_w = P[5], out_c = P[6];
    const i32 fh = P[7], fw = P[8], dm = P[9], sh = P[10], sw = P[11], dh = P[12], dw = P[13], pt = P[14], pl = P[15];
    const i32 in_off = P[16], out_off = P[17], act_min = P[18], act_max = P[19];
    const i8* filter = (const i8*)(W + P[21]);
    const i32* bias = P[22] >= 0 ? weights_i32(W, P[22]) : 0;
    const i32* mult = weights_i32(W, P[23]);
    const i32* shift = weights_i32(W, P[24]);
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i32 ic = oc / dm;
        const i8* input = (const i8*)(A + s * arena_bytes + P[20]);
        i8* output = (i8*)(A + s * arena_bytes + P[25]);
        i32 acc = 0;
        for (i32 ky = 0; ky < fh; ky++) {
            const i32 iy = oy * sh - pt + ky * dh;
            if (iy < 0 || iy >= in_h) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                const i32 ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= in_w) continue;
                const i32 x = input[(((i64)b * in_h + iy) * in_w + ix) * in_c + ic];
                const i32 w = filter[((i64)ky * fw + kx) * out_c + oc];
                acc += w * (x + in_off);
            }
        }
        if (bias) acc = wadd(acc, bias[oc]);
        const i32 v = sat_add(mbqm(acc, mult[oc], shift[oc]), out_off);
        output[(((i64)b * out_h + oy) * out_w + ox) * out_c + oc] = (i8)clamp_i32(v, act_min, act_max);
    }
}

extern "C" __global__ void kiln_fully_connected(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 batches = P[0], depth = P[1], out_depth = P[2], in_off = P[3], f_off = P[4], out_off = P[5];
    const i32 act_min = P[6], act_max = P[7], per_channel = P[13];
    const i8* filter = (const i8*)(W + P[9]);
    const i32* bias = P[10] >= 0 ? weights_i32(W, P[10]) : 0;
    const i32* mult = weights_i32(W, P[11]);
    const i32* shift = weights_i32(W, P[12]);
    const i64 per_sample = (i64)batches * out_depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_depth);
        const i32 b = (i32)(e / out_depth);
        const i8* x = (const i8*)(A + s * arena_bytes + P[8]) + (i64)b * depth;
        const i8* w = filter + (i64)oc * depth;
        i32 acc = 0;
        for (i32 d = 0; d < depth; d++) acc += ((i32)w[d] + f_off) * ((i32)x[d] + in_off);
        if (bias) acc = wadd(acc, bias[oc]);
        const i32 q = per_channel ? oc : 0;
        const i32 v = sat_add(mbqm(acc, mult[q], shift[q]), out_off);
        ((i8*)(A + s * arena_bytes + P[14]))[e] = (i8)clamp_i32(v, act_min, act_max);
    }
}

__device__ void pool(const i32* P, u8* A, i64 arena_bytes, i32 samples, int average) {
    const i32 batches = P[0], in_h = P[1], in_w = P[2], c = P[3], out_h = P[4], out_w = P[5];
    const i32 fh = P[6], fw = P[7], sh = P[8], sw = P[9], pt = P[10], pl = P[11], act_min = P[12], act_max = P[13];
    const i64 per_sample = (i64)batches * out_h * out_w * c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 ch = (i32)(e % c); e /= c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i8* input = (const i8*)(A + s * arena_bytes + P[14]);
        i8* output = (i8*)(A + s * arena_bytes + P[15]);
        const i32 y_origin = oy * sh - pt, x_origin = ox * sw - pl;
        const i32 y0 = y_origin < 0 ? 0 : y_origin;
        const i32 x0 = x_origin < 0 ? 0 : x_origin;
        i32 y1 = y_origin + fh; y1 = y1 < 0 ? 0 : (y1 > in_h ? in_h : y1); if (y1 < y0) y1 = y0;
        i32 x1 = x_origin + fw; x1 = x1 < 0 ? 0 : (x1 > in_w ? in_w : x1); if (x1 < x0) x1 = x0;
        i32 sum = 0, count = 0, best = -2147483647;
        int any = 0;
        for (i32 y = y0; y < y1; y++) {
            for (i32 x = x0; x < x1; x++) {
                const i32 v = input[(((i64)b * in_h + y) * in_w + x) * c + ch];
                sum += v;
                count++;
                if (!any || v > best) best = v;
                any = 1;
            }
        }
        i32 v;
        if (average) {
            v = count == 0 ? 0 : (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
        } else {
            v = any ? best : -128;
        }
        output[(((i64)b * out_h + oy) * out_w + ox) * c + ch] = (i8)clamp_i32(v, act_min, act_max);
    }
}

extern "C" __global__ void kiln_average_pool2d(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    pool(P, A, arena_bytes, samples, 1);
}

extern "C" __global__ void kiln_max_pool2d(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    pool(P, A, arena_bytes, samples, 0);
}

// Output index to the two inputs' indices through the broadcast strides.
__device__ void broadcast_indices(const i32* P, i64 e, i64* a, i64* b) {
    i64 ia = 0, ib = 0;
    for (int d = 5; d >= 0; d--) {
        const i64 coord = e % P[d];
        e /= P[d];
        ia += coord * P[6 + d];
        ib += coord * P[12 + d];
    }
    *a = ia;
    *b = ib;
}

__device__ i64 broadcast_elements(const i32* P) {
    i64 n = 1;
    for (int d = 0; d < 6; d++) n *= P[d];
    return n;
}

// Every broadcasting binary kernel's walk: operands at words 18 and 19, the
// output at 20 (plan.rs's broadcast layout); `constant` says which operand,
// if any, lies in the weights (0 neither, 1 the first, 2 the second);
// `f(a, b)` is the output element.
template <typename T, typename F>
__device__ __forceinline__ void broadcast_binary(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples, i32 constant, F f) {
    const i64 per_sample = broadcast_elements(P);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        i64 ia, ib;
        broadcast_indices(P, e, &ia, &ib);
        const u8* arena = A + s * arena_bytes;
        const T a = ((const T*)((constant == 1 ? W : arena) + P[18]))[ia];
        const T b = ((const T*)((constant == 2 ? W : arena) + P[19]))[ib];
        ((T*)(A + s * arena_bytes + P[20]))[e] = f(a, b);
    }
}

// ADD, or SUB when word 34 is 1; word 33 the constant operand.
extern "C" __global__ void kiln_add(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    broadcast_binary<i8>(P, W, A, arena_bytes, samples, P[33], [=](i8 a, i8 b) {
        const i32 s1 = mbqm(((i32)a + P[21]) * (1 << P[23]), P[24], P[25]);
        const i32 s2 = mbqm(((i32)b + P[22]) * (1 << P[23]), P[26], P[27]);
        const i32 v = sat_add(mbqm(P[34] ? wsub(s1, s2) : wadd(s1, s2), P[28], P[29]), P[30]);
        return (i8)clamp_i32(v, P[31], P[32]);
    });
}

// MUL; word 28 the constant operand.
extern "C" __global__ void kiln_mul(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    broadcast_binary<i8>(P, W, A, arena_bytes, samples, P[28], [=](i8 a, i8 b) {
        const i32 product = ((i32)a + P[21]) * ((i32)b + P[22]);
        return (i8)clamp_i32(sat_add(mbqm(product, P[23], P[24]), P[25]), P[26], P[27]);
    });
}

// PRELU: words 21 to 27 the input, alpha and output offsets and the
// identity and alpha rescalings; word 28 the constant operand.
extern "C" __global__ void kiln_prelu(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    broadcast_binary<i8>(P, W, A, arena_bytes, samples, P[28], [=](i8 input, i8 alpha) {
        const i32 x = (i32)input + P[21];
        const i32 v = x >= 0 ? mbqm(x, P[23], P[24]) : mbqm(x * ((i32)alpha + P[22]), P[25], P[26]);
        return (i8)clamp_i32(sat_add(v, P[27]), -128, 127);
    });
}

extern "C" __global__ void kiln_softmax(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 outer = P[0], depth = P[1], multiplier = P[2], left_shift = P[3], diff_min = P[4];
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const i8* x = (const i8*)(A + s * arena_bytes + P[5]) + row * depth;
        i8* y = (i8*)(A + s * arena_bytes + P[6]) + row * depth;
        i32 max = -128;
        for (i32 c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
        i32 sum = 0;
        for (i32 c = 0; c < depth; c++) {
            const i32 diff = (i32)x[c] - max;
            if (diff >= diff_min) {
                const i32 scaled = srdhm((i32)((u32)diff * (1u << left_shift)), multiplier);
                sum = wadd(sum, rescale(exp_on_negative_values(scaled, 5), 0, 12));
            }
        }
        const i32 headroom = sum == 0 ? 32 : __clz(sum);
        const i32 bits_over_unit = 12 - headroom;
        const i32 shifted_minus_one = (i32)(((u32)sum << (headroom & 31)) - (1u << 31));
        const i32 scale = one_over_one_plus_x(shifted_minus_one);
        for (i32 c = 0; c < depth; c++) {
            const i32 diff = (i32)x[c] - max;
            if (diff >= diff_min) {
                const i32 scaled = srdhm((i32)((u32)diff * (1u << left_shift)), multiplier);
                const i32 e = exp_on_negative_values(scaled, 5);
                const i32 unsat = rdbp(srdhm(scale, e), bits_over_unit + 31 - 8);
                y[c] = (i8)clamp_i32(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

__device__ void sigmoid_like(const i32* P, u8* A, i64 arena_bytes, i32 samples, int is_tanh) {
    const i32 n = P[0], zp = P[1], radius = P[2], multiplier = P[3], shift = P[4];
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)(A + s * arena_bytes + P[5]))[e] - zp;
        i32 v;
        if (x <= -radius) {
            v = -128;
        } else if (x >= radius) {
            v = 127;
        } else {
            const i32 q4 = mbqm(x, multiplier, shift);
            v = is_tanh ? clamp_i32(rdbp(fp_tanh(q4, 4), 31 - 7), -128, 127)
                        : clamp_i32(rdbp(fp_logistic(q4, 4), 31 - 8) - 128, -128, 127);
        }
        ((i8*)(A + s * arena_bytes + P[6]))[e] = (i8)v;
    }
}

extern "C" __global__ void kiln_logistic(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    sigmoid_like(P, A, arena_bytes, samples, 0);
}

extern "C" __global__ void kiln_tanh(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    sigmoid_like(P, A, arena_bytes, samples, 1);
}

extern "C" __global__ void kiln_requantize(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0];
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)(A + s * arena_bytes + P[7]))[e];
        const i32 v = sat_add(mbqm(x - P[1], P[3], P[4]), P[2]);
        ((i8*)(A + s * arena_bytes + P[8]))[e] = (i8)clamp_i32(v, P[5], P[6]);
    }
}

// LEAKY_RELU: kiln_requantize's words (its rescaling for inputs at or above
// the zero point), then the multiplier and shift for those below.
extern "C" __global__ void kiln_leaky_relu(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0];
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)(A + s * arena_bytes + P[7]))[e] - P[1];
        const i32 v = x >= 0 ? mbqm(x, P[3], P[4]) : mbqm(x, P[9], P[10]);
        ((i8*)(A + s * arena_bytes + P[8]))[e] = (i8)clamp_i32(sat_add(v, P[2]), P[5], P[6]);
    }
}

// HARD_SWISH in TFLM's 16-bit fixed point. Words: n, input zero point,
// output zero point, reluish multiplier, reluish exponent, output
// multiplier, output exponent, input, output.
__device__ __forceinline__ i32 hi_mul_i16(i32 a, i32 b, bool round) {
    if (a == -32768 && b == -32768) return 32767;
    const i32 ab = a * b;
    const i32 nudge = round ? (ab >= 0 ? (1 << 14) : 1 - (1 << 14)) : 0;
    return (i32)(short)((ab + nudge) / (1 << 15));
}
__device__ __forceinline__ i32 sat_shl_i16(i32 v, i32 amount) {
    const long long r = (long long)v * (1ll << amount);
    return (i32)(r > 32767 ? 32767 : (r < -32768 ? -32768 : r));
}
extern "C" __global__ void kiln_hard_swish(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0], rexp = P[4], oexp = P[6];
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 hires = (i32)(short)((((const i8*)(A + s * arena_bytes + P[7]))[e] - P[1]) * 128);
        const i32 on_output = hi_mul_i16(hires, P[5], true);
        i32 r = hires;
        if (rexp > 0) r = sat_shl_i16(r, rexp - 1);
        r = hi_mul_i16(r, P[3], true);
        if (rexp > 0) r = sat_shl_i16(r, 1);
        if (rexp < 0) r = (i32)(short)rdbp(r, -rexp);
        r = (i32)(short)((r + (1 << 15)) >> 1);
        const i32 scaled = hi_mul_i16(r, on_output, false);
        const i32 out = (i32)(short)((short)rdbp(scaled, -oexp) + (short)P[2]);
        ((i8*)(A + s * arena_bytes + P[8]))[e] = (i8)clamp_i32(out, -128, 127);
    }
}

extern "C" __global__ void kiln_concatenation(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 outer = P[0], count = P[1], out_len = P[3];
    const i32 out_row = out_len / outer;
    FOR_EACH(idx, (i64)out_len * samples) {
        const i64 s = idx / out_len;
        const i32 e = (i32)(idx % out_len);
        const i32 row = e / out_row;
        i32 col = e % out_row;
        for (i32 k = 0; k < count; k++) {
            const i32 in_row = P[5 + 2 * k] / outer;
            if (col < in_row) {
                (A + s * arena_bytes + P[2])[e] = (A + s * arena_bytes + P[4 + 2 * k])[(i64)row * in_row + col];
                break;
            }
            col -= in_row;
        }
    }
}

// Words: input dims, before, after (6 each), pad value (int8, or float bits),
// input, output, output elements, element size (1 or 4).
extern "C" __global__ void kiln_pad(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 out_elements = P[21];
    FOR_EACH(idx, (i64)out_elements * samples) {
        const i64 s = idx / out_elements;
        i64 e = idx % out_elements;
        const i64 out_index = e;
        i64 src = 0, stride = 1;
        int inside = 1;
        for (int d = 5; d >= 0; d--) {
            const i32 out_dim = P[d] + P[6 + d] + P[12 + d];
            const i32 coord = (i32)(e % out_dim) - P[6 + d];
            e /= out_dim;
            if (coord < 0 || coord >= P[d]) inside = 0;
            src += (i64)coord * stride;
            stride *= P[d];
        }
        const u8* in = A + s * arena_bytes + P[19];
        u8* out = A + s * arena_bytes + P[20];
        if (P[22] == 4) {  // float32; P[18] holds the pad value's bits
            ((float*)out)[out_index] = inside ? ((const float*)in)[src] : __int_as_float(P[18]);
        } else {
            ((i8*)out)[out_index] = inside ? ((const i8*)in)[src] : (i8)P[18];
        }
    }
}

// Words: input dims (6), reduced flags (6), input and output zero points,
// multiplier, shift, input, output, output elements, element size (1 for
// int8, 4 for float32, which sums in float and divides by the count).
extern "C" __global__ void kiln_mean(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 out_elements = P[18];
    i64 strides[6];
    i64 st = 1;
    for (int d = 5; d >= 0; d--) {
        strides[d] = st;
        st *= P[d];
    }
    i32 count = 1;
    for (int d = 0; d < 6; d++) if (P[6 + d]) count *= P[d];
    FOR_EACH(idx, (i64)out_elements * samples) {
        const i64 s = idx / out_elements;
        i64 e = idx % out_elements;
        const i64 out_index = e;
        // Coordinates of the kept dimensions, last dimension fastest.
        i64 base = 0;
        for (int d = 5; d >= 0; d--) {
            if (P[6 + d]) continue;
            base += (e % P[d]) * strides[d];
            e /= P[d];
        }
        const u8* x = A + s * arena_bytes + P[16];
        i32 sum = 0;
        float fsum = 0.0f;
        for (i32 r = 0; r < count; r++) {
            i64 rem = r, off = 0;
            for (int d = 5; d >= 0; d--) {
                if (!P[6 + d]) continue;
                off += (rem % P[d]) * strides[d];
                rem /= P[d];
            }
            // The same order as the Rust kernel: r counts the innermost
            // reduced dimension fastest.
            if (P[19] == 4) fsum += ((const float*)x)[base + off];
            else sum += ((const i8*)x)[base + off];
        }
        if (P[19] == 4) {
            ((float*)(A + s * arena_bytes + P[17]))[out_index] = fsum / (float)count;
        } else {
            const i32 v = sat_add(mbqm(sum - P[12] * count, P[14], P[15]), P[13]);
            ((i8*)(A + s * arena_bytes + P[17]))[out_index] = (i8)clamp_i32(v, -128, 127);
        }
    }
}

extern "C" __global__ void kiln_quantize(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0], zp = P[2];
    const double scale = (double)__int_as_float(P[1]);
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const float v = ((const float*)(A + s * arena_bytes + P[3]))[e];
        const double q = round((double)v / scale);
        i32 qi = q != q ? 0 : (q >= 2147483647.0 ? KILN_I32_MAX : (q <= -2147483648.0 ? KILN_I32_MIN : (i32)q));
        ((i8*)(A + s * arena_bytes + P[4]))[e] = (i8)clamp_i32(sat_add(qi, zp), -128, 127);
    }
}

extern "C" __global__ void kiln_dequantize(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0], zp = P[2];
    const double scale = (double)__int_as_float(P[1]);
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 v = ((const i8*)(A + s * arena_bytes + P[3]))[e];
        ((float*)(A + s * arena_bytes + P[4]))[e] = (float)(scale * (double)(v - zp));
    }
}

// ---- float32 kernels: the order of operations of src/kernels/*_f32 (and
// TFLM's float reference); compiled without FMA contraction so products and
// sums round as on the CPU.

__device__ __forceinline__ float clampf(float v, const i32* range) {
    const float lo = __int_as_float(range[0]), hi = __int_as_float(range[1]);
    const float w = v < lo ? lo : v;
    return w > hi ? hi : w;
}

// Float32 convolutions: kiln_conv2d's words, with the activation range as
// float bits in words 18 and 19, and float32 weights, bias and activations.
template <bool Transposed>
__device__ __forceinline__ void conv_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const float* bias = P[22] >= 0 ? (const float*)(W + P[22]) : 0;
    conv_gather<Transposed, float, float>(P, W, A, arena_bytes, samples,
        [](float& total, const float* x, const float* w, i32 fc) {
            for (i32 c = 0; c < fc; c++) total += x[c] * w[c];
        },
        [=](u8* output, i64 at, i32 oc, float total) {
            ((float*)output)[at] = clampf(total + (bias ? bias[oc] : 0.0f), P + 18);
        });
}

extern "C" __global__ void kiln_conv2d_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    conv_f32<false>(P, W, A, arena_bytes, samples);
}

extern "C" __global__ void kiln_transpose_conv2d_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    conv_f32<true>(P, W, A, arena_bytes, samples);
}

extern "C" __global__ void kiln_depthwise_conv2d_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 batches = P[0], in_h = P[1], in_w = P[2], in_c = P[3], out_h = P[4], out_w = P[5], out_c = P[6];
    const i32 fh = P[7], fw = P[8], dm = P[9], sh = P[10], sw = P[11], dh = P[12], dw = P[13], pt = P[14], pl = P[15];
    const float* filter = (const float*)(W + P[21]);
    const float* bias = P[22] >= 0 ? (const float*)(W + P[22]) : 0;
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i32 ic = oc / dm;
        const float* input = (const float*)(A + s * arena_bytes + P[20]);
        float total = 0.0f;
        for (i32 ky = 0; ky < fh; ky++) {
            const i32 iy = oy * sh - pt + ky * dh;
            if (iy < 0 || iy >= in_h) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                const i32 ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= in_w) continue;
                total += input[(((i64)b * in_h + iy) * in_w + ix) * in_c + ic] * filter[((i64)ky * fw + kx) * out_c + oc];
            }
        }
        const float v = total + (bias ? bias[oc] : 0.0f);
        ((float*)(A + s * arena_bytes + P[25]))[(((i64)b * out_h + oy) * out_w + ox) * out_c + oc] = clampf(v, P + 18);
    }
}

// Same layout as kiln_fully_connected; words 6 and 7 hold the float range.
extern "C" __global__ void kiln_fully_connected_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 batches = P[0], depth = P[1], out_depth = P[2];
    const float* filter = (const float*)(W + P[9]);
    const float* bias = P[10] >= 0 ? (const float*)(W + P[10]) : 0;
    const i64 per_sample = (i64)batches * out_depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_depth);
        const i32 b = (i32)(e / out_depth);
        const float* x = (const float*)(A + s * arena_bytes + P[8]) + (i64)b * depth;
        const float* w = filter + (i64)oc * depth;
        float total = 0.0f;
        for (i32 d = 0; d < depth; d++) total += x[d] * w[d];
        const float v = total + (bias ? bias[oc] : 0.0f);
        ((float*)(A + s * arena_bytes + P[14]))[e] = clampf(v, P + 6);
    }
}

// Same layout as the int8 pools; words 12 and 13 hold the float range.
__device__ void pool_f32(const i32* P, u8* A, i64 arena_bytes, i32 samples, int average) {
    const i32 batches = P[0], in_h = P[1], in_w = P[2], c = P[3], out_h = P[4], out_w = P[5];
    const i32 fh = P[6], fw = P[7], sh = P[8], sw = P[9], pt = P[10], pl = P[11];
    const i64 per_sample = (i64)batches * out_h * out_w * c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 ch = (i32)(e % c); e /= c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const float* input = (const float*)(A + s * arena_bytes + P[14]);
        const i32 y_origin = oy * sh - pt, x_origin = ox * sw - pl;
        const i32 y0 = y_origin < 0 ? 0 : y_origin;
        const i32 x0 = x_origin < 0 ? 0 : x_origin;
        i32 y1 = y_origin + fh; y1 = y1 < 0 ? 0 : (y1 > in_h ? in_h : y1); if (y1 < y0) y1 = y0;
        i32 x1 = x_origin + fw; x1 = x1 < 0 ? 0 : (x1 > in_w ? in_w : x1); if (x1 < x0) x1 = x0;
        float total = 0.0f, best = -3.402823466e38f;
        u32 count = 0;
        for (i32 y = y0; y < y1; y++) {
            for (i32 x = x0; x < x1; x++) {
                const float v = input[(((i64)b * in_h + y) * in_w + x) * c + ch];
                total += v;
                best = v > best ? v : best;
                count++;
            }
        }
        const float v = average ? total / (float)(count > 0 ? count : 1) : best;
        ((float*)(A + s * arena_bytes + P[15]))[(((i64)b * out_h + oy) * out_w + ox) * c + ch] = clampf(v, P + 12);
    }
}

extern "C" __global__ void kiln_average_pool2d_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    pool_f32(P, A, arena_bytes, samples, 1);
}

extern "C" __global__ void kiln_max_pool2d_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    pool_f32(P, A, arena_bytes, samples, 0);
}

// Broadcast layout as kiln_add; word 21 is the operation (0 ADD, 1 MUL,
// 2 SUB, 3 DIV, 4 PRELU); 22 and 23 hold the float range; 24 says which operand, if
// any, is a constant in the weights (0 neither, 1 first, 2 second).
extern "C" __global__ void kiln_binary_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    broadcast_binary<float>(P, W, A, arena_bytes, samples, P[24], [=](float a, float b) {
        float r;
        switch (P[21]) {
            case 0: r = a + b; break;
            case 1: r = a * b; break;
            case 2: r = a - b; break;
            case 3: r = a / b; break;
            default: r = a < 0.0f ? a * b : a; break;  // PRelu: b is the slope
        }
        return clampf(r, P + 22);
    });
}

// Words: outer, depth, beta (float bits), input, output.
extern "C" __global__ void kiln_softmax_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 outer = P[0], depth = P[1];
    const float beta = __int_as_float(P[2]);
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const float* x = (const float*)(A + s * arena_bytes + P[3]) + row * depth;
        float* y = (float*)(A + s * arena_bytes + P[4]) + row * depth;
        float max = -3.402823466e38f;
        for (i32 c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
        float sum = 0.0f;
        for (i32 c = 0; c < depth; c++) {
            y[c] = expf((x[c] - max) * beta);
            sum += y[c];
        }
        for (i32 c = 0; c < depth; c++) y[c] /= sum;
    }
}

// Words: n, kind (0 logistic, 1 tanh, 2 clamp, 3 leaky relu, 4 hard sigmoid,
// 5 hard swish), range (2 float bits), input, output, alpha, beta.
extern "C" __global__ void kiln_unary_f32(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = P[0], kind = P[1];
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const float v = ((const float*)(A + s * arena_bytes + P[4]))[e];
        const float alpha = __int_as_float(P[6]), beta = __int_as_float(P[7]);
        float hs = alpha * v + beta;
        hs = hs < 0.0f ? 0.0f : (hs > 1.0f ? 1.0f : hs);
        float r;
        switch (kind) {
            case 0: r = 1.0f / (1.0f + expf(-v)); break;
            case 1: r = tanhf(v); break;
            case 2: r = clampf(v, P + 2); break;
            case 3: r = v >= 0.0f ? v : alpha * v; break;
            case 4: r = hs; break;
            default: r = v * hs; break;
        }
        ((float*)(A + s * arena_bytes + P[5]))[e] = r;
    }
}

// Words: input dims (6), perm (6), element size, input, output, elements.
// Words: input dims, output dims, begin, step (6 each), element size,
// input, output, output elements.
extern "C" __global__ void kiln_slice(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 size = P[24];
    const i64 elements = P[27];
    i64 in_strides[6];
    i64 st = size;
    for (int d = 5; d >= 0; d--) {
        in_strides[d] = st;
        st *= P[d];
    }
    FOR_EACH(idx, elements * samples) {
        const i64 s = idx / elements;
        i64 e = idx % elements;
        const i64 out_index = e;
        i64 src = 0;
        for (int d = 5; d >= 0; d--) {
            const i64 coord = e % P[6 + d];
            e /= P[6 + d];
            src += ((i64)P[12 + d] + coord * P[18 + d]) * in_strides[d];
        }
        const u8* in = A + s * arena_bytes + P[25] + src;
        u8* out = A + s * arena_bytes + P[26] + out_index * size;
        for (i32 b = 0; b < size; b++) out[b] = in[b];
    }
}

extern "C" __global__ void kiln_transpose(const i32* P, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 size = P[12];
    const i64 elements = P[15];
    i64 in_strides[6];
    i64 st = size;
    for (int d = 5; d >= 0; d--) {
        in_strides[d] = st;
        st *= P[d];
    }
    FOR_EACH(idx, elements * samples) {
        const i64 s = idx / elements;
        i64 e = idx % elements;
        const i64 out_index = e;
        i64 src = 0;
        for (int d = 5; d >= 0; d--) {
            const i32 in_dim = P[6 + d];
            const i64 out_dim = P[in_dim];
            src += (e % out_dim) * in_strides[in_dim];
            e /= out_dim;
        }
        const u8* in = A + s * arena_bytes + P[13] + src;
        u8* out = A + s * arena_bytes + P[14] + out_index * size;
        for (i32 b = 0; b < size; b++) out[b] = in[b];
    }
}
