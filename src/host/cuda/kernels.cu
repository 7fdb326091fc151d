// kiln's kernels in CUDA C: the arithmetic of src/kernels/*.rs (TFLite
// Micro's reference semantics) bit for bit, batched: every launch runs one op
// for every sample, one thread per output element (per row for SOFTMAX).
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

// Every (grouped, plain or transposed) convolution kernel's walk over
// geometry `g` with the operands of `o` (a Conv2dS8 or Conv2dF32): one
// thread per output element; `dot(acc, x, w, fc)` adds one tap's channels,
// `finish(output, index, oc, acc)` writes the output. Taps are visited in
// the Rust kernels' order, so float sums round alike.
template <bool Transposed, typename T, typename Acc, typename Conv, typename Dot, typename Finish>
__device__ __forceinline__ void conv_gather(const ConvGeometry& g, const Conv& o, const u8* W, u8* A, i64 arena_bytes, i32 samples, Dot dot, Finish finish) {
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, in_c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width, out_c = g.output.channels;
    const i32 fh = g.filter_height, fw = g.filter_width, fc = g.filter_channels, sh = g.stride_height, sw = g.stride_width;
    const i32 dh = g.dilation_height, dw = g.dilation_width, pt = g.padding_top, pl = g.padding_left;
    const T* filter = (const T*)(W + o.filter.offset);
    const i32 per_group = out_c / (in_c / fc);
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const T* input = (const T*)arena(A, arena_bytes, s, o.input);
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
        finish(arena(A, arena_bytes, s, o.output), (((i64)b * out_h + oy) * out_w + ox) * out_c + oc, oc, acc);
    }
}

// int8 CONV_2D and TRANSPOSE_CONV: int32 sums of (input + offset) * filter,
// then the per-channel requantization.
template <bool Transposed>
__device__ __forceinline__ void conv_s8(const Conv2dS8& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 in_off = o.params.input_offset, out_off = o.params.output_offset;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    const i32* bias = o.bias.len ? weights_i32(W, o.bias.offset) : 0;
    const i32* mult = weights_i32(W, o.multiplier.offset);
    const i32* shift = weights_i32(W, o.shift.offset);
    conv_gather<Transposed, i8, i32>(o.params.geometry, o, W, A, arena_bytes, samples,
        [=](i32& acc, const i8* x, const i8* w, i32 fc) {
            for (i32 c = 0; c < fc; c++) acc += (i32)w[c] * ((i32)x[c] + in_off);
        },
        [=](u8* output, i64 at, i32 oc, i32 acc) {
            if (bias) acc = wadd(acc, bias[oc]);
            const i32 v = sat_add(mbqm(acc, mult[oc], shift[oc]), out_off);
            ((i8*)output)[at] = (i8)clamp_i32(v, act_min, act_max);
        });
}

KILN_KERNEL(kiln_conv2d) {
    conv_s8<false>(op.conv, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_transpose_conv2d) {
    conv_s8<true>(op.conv, W, A, arena_bytes, samples);
}

// Depthwise: the geometry's filter_channels is 1; the depth multiplier is
// output channels / input channels.
KILN_KERNEL(kiln_depthwise_conv2d) {
    const Conv2dS8& o = op.conv;
    const ConvGeometry& g = o.params.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, in_c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width, out_c = g.output.channels;
    const i32 fh = g.filter_height, fw = g.filter_width, dm = out_c / (in_c > 1 ? in_c : 1);
    const i32 sh = g.stride_height, sw = g.stride_width, dh = g.dilation_height, dw = g.dilation_width;
    const i32 pt = g.padding_top, pl = g.padding_left;
    const i32 in_off = o.params.input_offset, out_off = o.params.output_offset;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    const i8* filter = (const i8*)(W + o.filter.offset);
    const i32* bias = o.bias.len ? weights_i32(W, o.bias.offset) : 0;
    const i32* mult = weights_i32(W, o.multiplier.offset);
    const i32* shift = weights_i32(W, o.shift.offset);
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i32 ic = oc / dm;
        const i8* input = (const i8*)arena(A, arena_bytes, s, o.input);
        i8* output = (i8*)arena(A, arena_bytes, s, o.output);
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

// Per-tensor requantization (one multiplier and shift) unless the
// multiplier span holds more than one.
KILN_KERNEL(kiln_fully_connected) {
    const FullyConnectedParams& p = op.params;
    const i32 batches = p.shape.batches, depth = p.shape.input_depth, out_depth = p.shape.output_depth;
    const i32 in_off = p.input_offset, f_off = p.filter_offset, out_off = p.output_offset;
    const i32 act_min = p.activation_min, act_max = p.activation_max, per_channel = op.multiplier.len > 4;
    const i8* filter = (const i8*)(W + op.filter.offset);
    const i32* bias = op.bias.len ? weights_i32(W, op.bias.offset) : 0;
    const i32* mult = weights_i32(W, op.multiplier.offset);
    const i32* shift = weights_i32(W, op.shift.offset);
    const i64 per_sample = (i64)batches * out_depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_depth);
        const i32 b = (i32)(e / out_depth);
        const i8* x = (const i8*)arena(A, arena_bytes, s, op.input) + (i64)b * depth;
        const i8* w = filter + (i64)oc * depth;
        i32 acc = 0;
        for (i32 d = 0; d < depth; d++) acc += ((i32)w[d] + f_off) * ((i32)x[d] + in_off);
        if (bias) acc = wadd(acc, bias[oc]);
        const i32 q = per_channel ? oc : 0;
        const i32 v = sat_add(mbqm(acc, mult[q], shift[q]), out_off);
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = (i8)clamp_i32(v, act_min, act_max);
    }
}

__device__ void pool(const Pool2dS8& o, u8* A, i64 arena_bytes, i32 samples, int average) {
    const PoolGeometry& g = o.params.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width;
    const i32 fh = g.filter_height, fw = g.filter_width, sh = g.stride_height, sw = g.stride_width;
    const i32 pt = g.padding_top, pl = g.padding_left;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    const i64 per_sample = (i64)batches * out_h * out_w * c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 ch = (i32)(e % c); e /= c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i8* input = (const i8*)arena(A, arena_bytes, s, o.input);
        i8* output = (i8*)arena(A, arena_bytes, s, o.output);
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

KILN_KERNEL(kiln_average_pool2d) {
    pool(op.pool, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_max_pool2d) {
    pool(op.pool, A, arena_bytes, samples, 0);
}

// Output index to the two inputs' indices through the broadcast strides
// (the output index itself when both inputs have the output's shape).
__device__ void broadcast_indices(const Broadcast& b, i64 e, i64* a, i64* c) {
    if (b.same_shape) {
        *a = e;
        *c = e;
        return;
    }
    i64 ia = 0, ic = 0;
    for (int d = 5; d >= 0; d--) {
        const i64 coord = e % (i32)b.output_dims[d];
        e /= (i32)b.output_dims[d];
        ia += coord * (i32)b.input1_strides[d];
        ic += coord * (i32)b.input2_strides[d];
    }
    *a = ia;
    *c = ic;
}

__device__ i64 broadcast_elements(const Broadcast& b) {
    i64 n = 1;
    for (int d = 0; d < 6; d++) n *= (i32)b.output_dims[d];
    return n;
}

// Every broadcasting binary kernel's walk: `first` and `second` are the
// operands, one of which may lie in the weights (`constant`); `f(a, b)` is
// the output element.
template <typename T, typename F>
__device__ __forceinline__ void broadcast_binary(const Broadcast& b, ConstantOperand constant, Span first, Span second, Span output,
                                                 const u8* W, u8* A, i64 arena_bytes, i32 samples, F f) {
    const i64 per_sample = broadcast_elements(b);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        i64 ia, ib;
        broadcast_indices(b, e, &ia, &ib);
        const u8* sample = A + s * arena_bytes;
        const T x = ((const T*)((constant == ConstantOperand_First ? W : sample) + first.offset))[ia];
        const T y = ((const T*)((constant == ConstantOperand_Second ? W : sample) + second.offset))[ib];
        ((T*)(A + s * arena_bytes + output.offset))[e] = f(x, y);
    }
}

// int8 ADD and SUB: both inputs rescaled to a common scale, added or
// subtracted, rescaled to the output.
template <bool Sub>
__device__ __forceinline__ void add_sub_s8(const AddSubS8& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const AddParams* p = &o.params;
    broadcast_binary<i8>(p->broadcast, o.constant, o.input1, o.input2, o.output, W, A, arena_bytes, samples, [=](i8 a, i8 b) {
        const i32 s1 = mbqm(((i32)a + p->input1_offset) * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
        const i32 s2 = mbqm(((i32)b + p->input2_offset) * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
        const i32 v = sat_add(mbqm(Sub ? wsub(s1, s2) : wadd(s1, s2), p->output_multiplier, p->output_shift), p->output_offset);
        return (i8)clamp_i32(v, p->activation_min, p->activation_max);
    });
}

KILN_KERNEL(kiln_add) {
    add_sub_s8<false>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_sub) {
    add_sub_s8<true>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_mul) {
    const MulParams* p = &op.params;
    broadcast_binary<i8>(p->broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples, [=](i8 a, i8 b) {
        const i32 product = ((i32)a + p->input1_offset) * ((i32)b + p->input2_offset);
        return (i8)clamp_i32(sat_add(mbqm(product, p->output_multiplier, p->output_shift), p->output_offset),
                             p->activation_min, p->activation_max);
    });
}

// PRELU: the identity rescaling where the input is not negative, the input
// times the (broadcast) slope rescaled where it is.
KILN_KERNEL(kiln_prelu) {
    const PReluParams* p = &op.params;
    broadcast_binary<i8>(p->broadcast, op.constant, op.input, op.alpha, op.output, W, A, arena_bytes, samples, [=](i8 input, i8 alpha) {
        const i32 x = (i32)input + p->input_offset;
        const i32 v = x >= 0 ? mbqm(x, p->identity_multiplier, p->identity_shift)
                             : mbqm(x * ((i32)alpha + p->alpha_offset), p->alpha_multiplier, p->alpha_shift);
        return (i8)clamp_i32(sat_add(v, p->output_offset), -128, 127);
    });
}

KILN_KERNEL(kiln_softmax) {
    const SoftmaxParams& p = op.params;
    const i32 outer = p.outer, depth = p.depth, multiplier = p.input_multiplier, left_shift = p.input_left_shift;
    const i32 diff_min = p.diff_min;
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const i8* x = (const i8*)arena(A, arena_bytes, s, op.input) + row * depth;
        i8* y = (i8*)arena(A, arena_bytes, s, op.output) + row * depth;
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

__device__ void sigmoid_like(const SigmoidS8& o, u8* A, i64 arena_bytes, i32 samples, int is_tanh) {
    const SigmoidParams& p = o.params;
    const i32 n = o.input.len, zp = p.input_zero_point, radius = p.input_range_radius;
    const i32 multiplier = p.input_multiplier, shift = p.input_left_shift;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)arena(A, arena_bytes, s, o.input))[e] - zp;
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
        ((i8*)arena(A, arena_bytes, s, o.output))[e] = (i8)v;
    }
}

KILN_KERNEL(kiln_logistic) {
    sigmoid_like(op.sigmoid, A, arena_bytes, samples, 0);
}

KILN_KERNEL(kiln_tanh) {
    sigmoid_like(op.sigmoid, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_requantize) {
    const RequantizeParams& p = op.params;
    const i32 n = op.input.len;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)arena(A, arena_bytes, s, op.input))[e];
        const i32 v = sat_add(mbqm(x - p.input_zero_point, p.multiplier, p.shift), p.output_zero_point);
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = (i8)clamp_i32(v, p.activation_min, p.activation_max);
    }
}

// LEAKY_RELU: the `positive` rescaling for inputs at or above the zero
// point, the `negative` one for those below (both read the same input zero
// point).
KILN_KERNEL(kiln_leaky_relu) {
    const i32 n = op.input.len, zp = op.positive.input_zero_point;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const i8*)arena(A, arena_bytes, s, op.input))[e] - zp;
        const RequantizeParams& r = x >= 0 ? op.positive : op.negative;
        const i32 v = sat_add(mbqm(x, r.multiplier, r.shift), r.output_zero_point);
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = (i8)clamp_i32(v, r.activation_min, r.activation_max);
    }
}

// HARD_SWISH in TFLM's 16-bit fixed point.
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
KILN_KERNEL(kiln_hard_swish) {
    const HardSwishParams& p = op.params;
    const i32 n = op.input.len, rexp = p.reluish_exponent, oexp = p.output_exponent;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 hires = (i32)(short)((((const i8*)arena(A, arena_bytes, s, op.input))[e] - p.input_zero_point) * 128);
        const i32 on_output = hi_mul_i16(hires, p.output_multiplier, true);
        i32 r = hires;
        if (rexp > 0) r = sat_shl_i16(r, rexp - 1);
        r = hi_mul_i16(r, p.reluish_multiplier, true);
        if (rexp > 0) r = sat_shl_i16(r, 1);
        if (rexp < 0) r = (i32)(short)rdbp(r, -rexp);
        r = (i32)(short)((r + (1 << 15)) >> 1);
        const i32 scaled = hi_mul_i16(r, on_output, false);
        const i32 out = (i32)(short)((short)rdbp(scaled, -oexp) + (short)p.output_zero_point);
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = (i8)clamp_i32(out, -128, 127);
    }
}

// Rows of the first `count` inputs side by side, byte by byte.
KILN_KERNEL(kiln_concatenation) {
    const i32 outer = op.outer, count = op.count, out_len = op.output.len;
    const i32 out_row = out_len / outer;
    FOR_EACH(idx, (i64)out_len * samples) {
        const i64 s = idx / out_len;
        const i32 e = (i32)(idx % out_len);
        const i32 row = e / out_row;
        i32 col = e % out_row;
        for (i32 k = 0; k < count; k++) {
            const i32 in_row = (i32)op.inputs[k].len / outer;
            if (col < in_row) {
                arena(A, arena_bytes, s, op.output)[e] = arena(A, arena_bytes, s, op.inputs[k])[(i64)row * in_row + col];
                break;
            }
            col -= in_row;
        }
    }
}

// PAD of int8 or float32 values with `value`.
template <typename T>
__device__ __forceinline__ void pad(const PadParams& p, T value, Span input, Span output, u8* A, i64 arena_bytes, i32 samples) {
    const i32 out_elements = output.len / sizeof(T);
    FOR_EACH(idx, (i64)out_elements * samples) {
        const i64 s = idx / out_elements;
        i64 e = idx % out_elements;
        const i64 out_index = e;
        i64 src = 0, stride = 1;
        int inside = 1;
        for (int d = 5; d >= 0; d--) {
            const i32 in_dim = p.input_dims[d], before = p.before[d];
            const i32 out_dim = in_dim + before + (i32)p.after[d];
            const i32 coord = (i32)(e % out_dim) - before;
            e /= out_dim;
            if (coord < 0 || coord >= in_dim) inside = 0;
            src += (i64)coord * stride;
            stride *= in_dim;
        }
        const T* in = (const T*)arena(A, arena_bytes, s, input);
        T* out = (T*)arena(A, arena_bytes, s, output);
        out[out_index] = inside ? in[src] : value;
    }
}

KILN_KERNEL(kiln_pad) {
    pad<i8>(op.params, op.value, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_pad_f32) {
    pad<float>(op.params, op.value, op.input, op.output, A, arena_bytes, samples);
}

// MEAN over the reduced dimensions of `r`: int8 (`q` its requantization)
// or float32 (q null), which sums in float and divides by the count.
template <bool Float>
__device__ __forceinline__ void mean(const Reduction& r, const MeanParams* q, Span input, Span output, u8* A, i64 arena_bytes, i32 samples) {
    const i32 out_elements = output.len / (Float ? 4 : 1);
    i64 strides[6];
    i64 st = 1;
    for (int d = 5; d >= 0; d--) {
        strides[d] = st;
        st *= (i32)r.input_dims[d];
    }
    i32 count = 1;
    for (int d = 0; d < 6; d++) if (r.reduce[d]) count *= (i32)r.input_dims[d];
    FOR_EACH(idx, (i64)out_elements * samples) {
        const i64 s = idx / out_elements;
        i64 e = idx % out_elements;
        const i64 out_index = e;
        // Coordinates of the kept dimensions, last dimension fastest.
        i64 base = 0;
        for (int d = 5; d >= 0; d--) {
            if (r.reduce[d]) continue;
            base += (e % (i32)r.input_dims[d]) * strides[d];
            e /= (i32)r.input_dims[d];
        }
        const u8* x = arena(A, arena_bytes, s, input);
        i32 sum = 0;
        float fsum = 0.0f;
        for (i32 k = 0; k < count; k++) {
            i64 rem = k, off = 0;
            for (int d = 5; d >= 0; d--) {
                if (!r.reduce[d]) continue;
                off += (rem % (i32)r.input_dims[d]) * strides[d];
                rem /= (i32)r.input_dims[d];
            }
            // The same order as the Rust kernel: k counts the innermost
            // reduced dimension fastest.
            if (Float) fsum += ((const float*)x)[base + off];
            else sum += ((const i8*)x)[base + off];
        }
        if (Float) {
            ((float*)arena(A, arena_bytes, s, output))[out_index] = fsum / (float)count;
        } else {
            const i32 v = sat_add(mbqm(sum - q->input_zero_point * count, q->multiplier, q->shift), q->output_zero_point);
            ((i8*)arena(A, arena_bytes, s, output))[out_index] = (i8)clamp_i32(v, -128, 127);
        }
    }
}

KILN_KERNEL(kiln_mean) {
    mean<false>(op.params.reduction, &op.params, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_mean_f32) {
    mean<true>(op.reduction, 0, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_quantize) {
    const i32 n = op.output.len, zp = op.params.zero_point;
    const double scale = (double)op.params.scale;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const float v = ((const float*)arena(A, arena_bytes, s, op.input))[e];
        const double q = round((double)v / scale);
        i32 qi = q != q ? 0 : (q >= 2147483647.0 ? KILN_I32_MAX : (q <= -2147483648.0 ? KILN_I32_MIN : (i32)q));
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = (i8)clamp_i32(sat_add(qi, zp), -128, 127);
    }
}

KILN_KERNEL(kiln_dequantize) {
    const i32 n = op.input.len, zp = op.params.zero_point;
    const double scale = (double)op.params.scale;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 v = ((const i8*)arena(A, arena_bytes, s, op.input))[e];
        ((float*)arena(A, arena_bytes, s, op.output))[e] = (float)(scale * (double)(v - zp));
    }
}

// ---- float32 kernels: the order of operations of src/kernels/*_f32 (and
// TFLM's float reference); compiled without FMA contraction so products and
// sums round as on the CPU.

__device__ __forceinline__ float clampf(float v, FloatRange range) {
    const float lo = range.min, hi = range.max;
    const float w = v < lo ? lo : v;
    return w > hi ? hi : w;
}

// Float32 convolutions: float32 weights, bias and activations, then the
// activation's clamp.
template <bool Transposed>
__device__ __forceinline__ void conv_f32(const Conv2dF32& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const float* bias = o.bias.len ? (const float*)(W + o.bias.offset) : 0;
    const FloatRange activation = o.activation;
    conv_gather<Transposed, float, float>(o.geometry, o, W, A, arena_bytes, samples,
        [](float& total, const float* x, const float* w, i32 fc) {
            for (i32 c = 0; c < fc; c++) total += x[c] * w[c];
        },
        [=](u8* output, i64 at, i32 oc, float total) {
            ((float*)output)[at] = clampf(total + (bias ? bias[oc] : 0.0f), activation);
        });
}

KILN_KERNEL(kiln_conv2d_f32) {
    conv_f32<false>(op.conv, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_transpose_conv2d_f32) {
    conv_f32<true>(op.conv, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_depthwise_conv2d_f32) {
    const Conv2dF32& o = op.conv;
    const ConvGeometry& g = o.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, in_c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width, out_c = g.output.channels;
    const i32 fh = g.filter_height, fw = g.filter_width, dm = out_c / (in_c > 1 ? in_c : 1);
    const i32 sh = g.stride_height, sw = g.stride_width, dh = g.dilation_height, dw = g.dilation_width;
    const i32 pt = g.padding_top, pl = g.padding_left;
    const float* filter = (const float*)(W + o.filter.offset);
    const float* bias = o.bias.len ? (const float*)(W + o.bias.offset) : 0;
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i32 ic = oc / dm;
        const float* input = (const float*)arena(A, arena_bytes, s, o.input);
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
        ((float*)arena(A, arena_bytes, s, o.output))[(((i64)b * out_h + oy) * out_w + ox) * out_c + oc] = clampf(v, o.activation);
    }
}

KILN_KERNEL(kiln_fully_connected_f32) {
    const i32 batches = op.shape.batches, depth = op.shape.input_depth, out_depth = op.shape.output_depth;
    const float* filter = (const float*)(W + op.filter.offset);
    const float* bias = op.bias.len ? (const float*)(W + op.bias.offset) : 0;
    const i64 per_sample = (i64)batches * out_depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_depth);
        const i32 b = (i32)(e / out_depth);
        const float* x = (const float*)arena(A, arena_bytes, s, op.input) + (i64)b * depth;
        const float* w = filter + (i64)oc * depth;
        float total = 0.0f;
        for (i32 d = 0; d < depth; d++) total += x[d] * w[d];
        const float v = total + (bias ? bias[oc] : 0.0f);
        ((float*)arena(A, arena_bytes, s, op.output))[e] = clampf(v, op.activation);
    }
}

__device__ void pool_f32(const Pool2dF32& o, u8* A, i64 arena_bytes, i32 samples, int average) {
    const PoolGeometry& g = o.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width;
    const i32 fh = g.filter_height, fw = g.filter_width, sh = g.stride_height, sw = g.stride_width;
    const i32 pt = g.padding_top, pl = g.padding_left;
    const i64 per_sample = (i64)batches * out_h * out_w * c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 ch = (i32)(e % c); e /= c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const float* input = (const float*)arena(A, arena_bytes, s, o.input);
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
        ((float*)arena(A, arena_bytes, s, o.output))[(((i64)b * out_h + oy) * out_w + ox) * c + ch] = clampf(v, o.activation);
    }
}

KILN_KERNEL(kiln_average_pool2d_f32) {
    pool_f32(op.pool, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_max_pool2d_f32) {
    pool_f32(op.pool, A, arena_bytes, samples, 0);
}

// ADD, SUB, MUL and DIV in float32: `f(a, b)`, then the activation's clamp.
template <typename F>
__device__ __forceinline__ void binary_f32(const BinaryF32& o, const u8* W, u8* A, i64 arena_bytes, i32 samples, F f) {
    const FloatRange activation = o.activation;
    broadcast_binary<float>(o.broadcast, o.constant, o.input1, o.input2, o.output, W, A, arena_bytes, samples,
                            [=](float a, float b) { return clampf(f(a, b), activation); });
}

KILN_KERNEL(kiln_add_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return a + b; });
}

KILN_KERNEL(kiln_sub_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return a - b; });
}

KILN_KERNEL(kiln_mul_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return a * b; });
}

KILN_KERNEL(kiln_div_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return a / b; });
}

// PRELU in float32: `alpha` is the (broadcast) slope of negative inputs.
KILN_KERNEL(kiln_prelu_f32) {
    broadcast_binary<float>(op.broadcast, op.constant, op.input, op.alpha, op.output, W, A, arena_bytes, samples,
                            [](float a, float b) { return a < 0.0f ? a * b : a; });
}

KILN_KERNEL(kiln_softmax_f32) {
    const i32 outer = op.outer, depth = op.depth;
    const float beta = op.beta;
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const float* x = (const float*)arena(A, arena_bytes, s, op.input) + row * depth;
        float* y = (float*)arena(A, arena_bytes, s, op.output) + row * depth;
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

// The float32 elementwise functions: `f(v)` of every input value.
template <typename F>
__device__ __forceinline__ void unary_f32(Span input, Span output, u8* A, i64 arena_bytes, i32 samples, F f) {
    const i32 n = input.len / 4;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const float v = ((const float*)arena(A, arena_bytes, s, input))[e];
        ((float*)arena(A, arena_bytes, s, output))[e] = f(v);
    }
}

// clamp(alpha * v + beta, 0, 1).
__device__ __forceinline__ float hard_sigmoid(float v, float alpha, float beta) {
    float hs = alpha * v + beta;
    return hs < 0.0f ? 0.0f : (hs > 1.0f ? 1.0f : hs);
}

KILN_KERNEL(kiln_logistic_f32) {
    unary_f32(op.input, op.output, A, arena_bytes, samples, [](float v) { return 1.0f / (1.0f + expf(-v)); });
}

KILN_KERNEL(kiln_tanh_f32) {
    unary_f32(op.input, op.output, A, arena_bytes, samples, [](float v) { return tanhf(v); });
}

KILN_KERNEL(kiln_clamp_f32) {
    const FloatRange range = op.range;
    unary_f32(op.input, op.output, A, arena_bytes, samples, [=](float v) { return clampf(v, range); });
}

KILN_KERNEL(kiln_leaky_relu_f32) {
    const float alpha = op.alpha;
    unary_f32(op.input, op.output, A, arena_bytes, samples, [=](float v) { return v >= 0.0f ? v : alpha * v; });
}

KILN_KERNEL(kiln_hard_sigmoid_f32) {
    const float alpha = op.alpha, beta = op.beta;
    unary_f32(op.input, op.output, A, arena_bytes, samples, [=](float v) { return hard_sigmoid(v, alpha, beta); });
}

// ONNX HardSwish: v * hard_sigmoid(v) with alpha 1/6 and beta 1/2.
KILN_KERNEL(kiln_hard_swish_f32) {
    unary_f32(op.input, op.output, A, arena_bytes, samples, [](float v) { return v * hard_sigmoid(v, 1.0f / 6.0f, 0.5f); });
}

// SLICE: every output element copied from input coordinate
// begin + coordinate * step, `element_size` bytes each.
KILN_KERNEL(kiln_slice) {
    const SliceParams& p = op.params;
    const i32 size = p.element_size;
    i64 elements = 1;
    for (int d = 0; d < 6; d++) elements *= p.output_dims[d];
    i64 in_strides[6];
    i64 st = size;
    for (int d = 5; d >= 0; d--) {
        in_strides[d] = st;
        st *= (i32)p.input_dims[d];
    }
    FOR_EACH(idx, elements * samples) {
        const i64 s = idx / elements;
        i64 e = idx % elements;
        const i64 out_index = e;
        i64 src = 0;
        for (int d = 5; d >= 0; d--) {
            const i64 coord = e % (i32)p.output_dims[d];
            e /= (i32)p.output_dims[d];
            src += ((i64)p.begin[d] + coord * (i32)p.step[d]) * in_strides[d];
        }
        const u8* in = arena(A, arena_bytes, s, op.input) + src;
        u8* out = arena(A, arena_bytes, s, op.output) + out_index * size;
        for (i32 b = 0; b < size; b++) out[b] = in[b];
    }
}

// TRANSPOSE: output dimension d walks input dimension perm[d].
KILN_KERNEL(kiln_transpose) {
    const TransposeParams& p = op.params;
    const i32 size = p.element_size;
    i64 elements = 1;
    for (int d = 0; d < 6; d++) elements *= p.input_dims[d];
    i64 in_strides[6];
    i64 st = size;
    for (int d = 5; d >= 0; d--) {
        in_strides[d] = st;
        st *= (i32)p.input_dims[d];
    }
    FOR_EACH(idx, elements * samples) {
        const i64 s = idx / elements;
        i64 e = idx % elements;
        const i64 out_index = e;
        i64 src = 0;
        for (int d = 5; d >= 0; d--) {
            const i32 in_dim = p.perm[d];
            const i64 out_dim = (i32)p.input_dims[in_dim];
            src += (e % out_dim) * in_strides[in_dim];
            e /= out_dim;
        }
        const u8* in = arena(A, arena_bytes, s, op.input) + src;
        u8* out = arena(A, arena_bytes, s, op.output) + out_index * size;
        for (i32 b = 0; b < size; b++) out[b] = in[b];
    }
}
