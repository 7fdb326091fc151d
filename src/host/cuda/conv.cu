// kiln's CUDA kernels: convolutions and fully connected layers, int8, int16 and float32. Compiled after the generated declarations
// and common.cu (see common.cu for the contract every kernel keeps).

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
// geometry `g` with the operands of `o` (a Conv2dS8, Conv2dS16 or Conv2dF32),
// inputs of type T and filter values of type F: one
// thread per output element; `dot(acc, x, w, fc)` adds one tap's channels,
// `finish(output, index, oc, acc)` writes the output. Taps are visited in
// the Rust kernels' order, so float sums round alike.
template <bool Transposed, typename T, typename F, typename Acc, typename Conv, typename Dot, typename Finish>
__device__ __forceinline__ void conv_gather(const ConvGeometry& g, const Conv& o, const u8* W, u8* A, i64 arena_bytes, i32 samples, Dot dot, Finish finish) {
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, in_c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width, out_c = g.output.channels;
    const i32 fh = g.filter_height, fw = g.filter_width, fc = g.filter_channels, sh = g.stride_height, sw = g.stride_width;
    const i32 dh = g.dilation_height, dw = g.dilation_width, pt = g.padding_top, pl = g.padding_left;
    const F* filter = (const F*)(W + o.filter.offset);
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
    conv_gather<Transposed, i8, i8, i32>(o.params.geometry, o, W, A, arena_bytes, samples,
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

// Every depthwise kernel's walk (filter_channels 1; the depth multiplier is
// output channels / input channels) over the operands of `o`: one thread per
// output element; `product(acc, x, w)` adds one tap, `finish(output, index,
// oc, acc)` writes the output. Taps in the Rust kernels' order.
template <typename T, typename F, typename Acc, typename Conv, typename Product, typename Finish>
__device__ __forceinline__ void depthwise_gather(const ConvGeometry& g, const Conv& o, const u8* W, u8* A, i64 arena_bytes, i32 samples, Product product, Finish finish) {
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, in_c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width, out_c = g.output.channels;
    const i32 fh = g.filter_height, fw = g.filter_width, dm = out_c / (in_c > 1 ? in_c : 1);
    const i32 sh = g.stride_height, sw = g.stride_width, dh = g.dilation_height, dw = g.dilation_width;
    const i32 pt = g.padding_top, pl = g.padding_left;
    const F* filter = (const F*)(W + o.filter.offset);
    const i64 per_sample = (i64)batches * out_h * out_w * out_c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_c); e /= out_c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const i32 ic = oc / dm;
        const T* input = (const T*)arena(A, arena_bytes, s, o.input);
        Acc acc = 0;
        for (i32 ky = 0; ky < fh; ky++) {
            const i32 iy = oy * sh - pt + ky * dh;
            if (iy < 0 || iy >= in_h) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                const i32 ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= in_w) continue;
                product(acc, input[(((i64)b * in_h + iy) * in_w + ix) * in_c + ic], filter[((i64)ky * fw + kx) * out_c + oc]);
            }
        }
        finish(arena(A, arena_bytes, s, o.output), (((i64)b * out_h + oy) * out_w + ox) * out_c + oc, oc, acc);
    }
}

KILN_KERNEL(kiln_depthwise_conv2d) {
    const Conv2dS8& o = op.conv;
    const i32 in_off = o.params.input_offset, out_off = o.params.output_offset;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    const i32* bias = o.bias.len ? weights_i32(W, o.bias.offset) : 0;
    const i32* mult = weights_i32(W, o.multiplier.offset);
    const i32* shift = weights_i32(W, o.shift.offset);
    depthwise_gather<i8, i8, i32>(o.params.geometry, o, W, A, arena_bytes, samples,
        [=](i32& acc, i8 x, i8 w) { acc += (i32)w * ((i32)x + in_off); },
        [=](u8* output, i64 at, i32 oc, i32 acc) {
            if (bias) acc = wadd(acc, bias[oc]);
            const i32 v = sat_add(mbqm(acc, mult[oc], shift[oc]), out_off);
            ((i8*)output)[at] = (i8)clamp_i32(v, act_min, act_max);
        });
}

// A 16x8 layer's (Conv2dS16's or FullyConnectedS16Op's) exact int64 sum for
// output channel `oc`, biased and requantized by multiplier `q` as TFLM's
// accumulator type does it (kernels::fully_connected::Bias16x8); additions
// wrap, as Rust's.
template <typename Op>
__device__ __forceinline__ i32 requantize_16x8(const Op& o, const u8* W, i32 oc, i32 q, i64 acc) {
    const i32 m = weights_i32(W, o.multiplier.offset)[q], sh = weights_i32(W, o.shift.offset)[q];
    if (o.int64_accumulator) {
        if (o.bias.len) acc = (i64)((unsigned long long)acc + (unsigned long long)((const i64*)(W + o.bias.offset))[oc]);
        return mbqm_wide(acc, m, sh);
    }
    const i32 narrow = (i32)(u32)(unsigned long long)acc;
    return mbqm(wadd(narrow, o.bias.len ? weights_i32(W, o.bias.offset)[oc] : 0), m, sh);
}

// int16 (16x8) CONV_2D and TRANSPOSE_CONV: exact int64 sums, biased and
// requantized as the bias type sets (a transposed one always sums in int64).
template <bool Transposed>
__device__ __forceinline__ void conv_s16(const Conv2dS16& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    conv_gather<Transposed, i16, i8, i64>(o.params.geometry, o, W, A, arena_bytes, samples,
        [](i64& acc, const i16* x, const i8* w, i32 fc) {
            for (i32 c = 0; c < fc; c++) acc += (i64)((i32)w[c] * (i32)x[c]);
        },
        [=](u8* output, i64 at, i32 oc, i64 acc) {
            ((i16*)output)[at] = (i16)clamp_i32(requantize_16x8(o, W, oc, oc, acc), act_min, act_max);
        });
}

KILN_KERNEL(kiln_conv2d_s16) {
    conv_s16<false>(op.conv, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_transpose_conv2d_s16) {
    conv_s16<true>(op.conv, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_depthwise_conv2d_s16) {
    const Conv2dS16& o = op.conv;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    depthwise_gather<i16, i8, i64>(o.params.geometry, o, W, A, arena_bytes, samples,
        [](i64& acc, i16 x, i8 w) { acc += (i64)((i32)w * (i32)x); },
        [=](u8* output, i64 at, i32 oc, i64 acc) {
            ((i16*)output)[at] = (i16)clamp_i32(requantize_16x8(o, W, oc, oc, acc), act_min, act_max);
        });
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


// SVDF: one thread per row of each sample, which moves its state one step
// back, writes each filter's projection of the new input as its newest
// value, then sums each unit's time dot products (kernels::svdf).
KILN_KERNEL(kiln_svdf) {
    const SvdfParams& p = op.params;
    const i32 batches = p.shape.batches, size = p.shape.input_size, filters = p.shape.filters;
    const i32 rank = p.shape.rank, memory = p.shape.memory, units = filters / rank;
    const i8* feature = (const i8*)(W + op.feature_weights.offset);
    const i16* time = (const i16*)(W + op.time_weights.offset);
    const i32* bias = op.bias.len ? weights_i32(W, op.bias.offset) : 0;
    FOR_EACH(idx, (i64)batches * samples) {
        const i64 s = idx / batches;
        const i32 b = (i32)(idx % batches);
        const i8* x = (const i8*)arena(A, arena_bytes, s, op.input) + (i64)b * size;
        i16* rows = (i16*)arena(A, arena_bytes, s, op.state) + (i64)b * filters * memory;
        // Within a row the whole-state shift is this row's shift: the value
        // it would take from the next row lands in a newest slot, rewritten.
        for (i64 k = 0; k + 1 < (i64)filters * memory; k++) rows[k] = rows[k + 1];
        for (i32 f = 0; f < filters; f++) {
            const i8* w = feature + (i64)f * size;
            i32 acc = 0;
            for (i32 c = 0; c < size; c++) acc = wadd(acc, (i32)w[c] * ((i32)x[c] + p.input_offset));
            const i32 v = wadd(mbqm(acc, p.feature_multiplier, p.feature_shift), p.state_zero_point);
            rows[(i64)f * memory + memory - 1] = (i16)clamp_i32(v, -32768, 32767);
        }
        i8* out = (i8*)arena(A, arena_bytes, s, op.output) + (i64)b * units;
        for (i32 u = 0; u < units; u++) {
            i32 acc = bias ? bias[u] : 0;
            for (i32 f = u * rank; f < (u + 1) * rank; f++)
                for (i32 m = 0; m < memory; m++)
                    acc = wadd(acc, (i32)time[(i64)f * memory + m] * ((i32)rows[(i64)f * memory + m] - p.state_zero_point));
            out[u] = (i8)clamp_i32(wadd(mbqm(acc, p.output_multiplier, p.output_shift), p.output_offset), -128, 127);
        }
    }
}


// float32 SVDF: kiln_svdf's walk in float32, in TFLM's order of additions.
KILN_KERNEL(kiln_svdf_f32) {
    const SvdfShape& p = op.shape;
    const i32 batches = p.batches, size = p.input_size, filters = p.filters;
    const i32 rank = p.rank, memory = p.memory, units = filters / rank;
    const float* feature = (const float*)(W + op.feature_weights.offset);
    const float* time = (const float*)(W + op.time_weights.offset);
    const float* bias = op.bias.len ? (const float*)(W + op.bias.offset) : 0;
    const FloatRange activation = op.activation;
    FOR_EACH(idx, (i64)batches * samples) {
        const i64 s = idx / batches;
        const i32 b = (i32)(idx % batches);
        const float* x = (const float*)arena(A, arena_bytes, s, op.input) + (i64)b * size;
        float* rows = (float*)arena(A, arena_bytes, s, op.state) + (i64)b * filters * memory;
        for (i64 k = 0; k + 1 < (i64)filters * memory; k++) rows[k] = rows[k + 1];
        for (i32 f = 0; f < filters; f++) {
            const float* w = feature + (i64)f * size;
            float dot = 0.0f;
            for (i32 c = 0; c < size; c++) dot += w[c] * x[c];
            rows[(i64)f * memory + memory - 1] = dot;
        }
        float* out = (float*)arena(A, arena_bytes, s, op.output) + (i64)b * units;
        for (i32 u = 0; u < units; u++) {
            float acc = bias ? bias[u] : 0.0f;
            for (i32 f = u * rank; f < (u + 1) * rank; f++) {
                float dot = 0.0f;
                for (i32 m = 0; m < memory; m++) dot += time[(i64)f * memory + m] * rows[(i64)f * memory + m];
                acc += dot;
            }
            out[u] = clampf(acc, activation);
        }
    }
}


// LSTM (kernels::lstm): one thread per sequence of each sample, stepping
// through time; the int16 LOGISTIC and TANH of common.cu's sigmoid table.
__device__ __forceinline__ i32 sat16(i32 v) { return clamp_i32(v, -32768, 32767); }

__device__ i32 lstm_sigmoid(i32 x) { return logistic_q15(x, 3, 0); }

__device__ i32 lstm_tanh(i32 x, i32 power) {
    const i32 left = 12 + power;
    return left >= 0 ? tanh_q15(x, 3 << left, 0) : tanh_q15(x, 3, -left);
}

// One gate's fully connected layer over one row, as TFLM instantiates it:
// int8 values sum in int32 (wrapping) with an int32 bias, int16 ones in
// int64 with an int64 bias and the 64-bit requantization.
__device__ __forceinline__ i32 lstm_sum(const i8* x, i32 offset, const i8* w, i32 n, i32 bias, i32 m, i32 s) {
    i32 a = 0;
    for (i32 d = 0; d < n; d++) a = wadd(a, (i32)w[d] * ((i32)x[d] + offset));
    return mbqm(wadd(a, bias), m, s);
}

__device__ __forceinline__ i32 lstm_sum(const i16* x, i32 offset, const i8* w, i32 n, i64 bias, i32 m, i32 s) {
    i64 a = 0;
    // Wrapping, as Rust's (signed overflow is undefined in C++).
    for (i32 d = 0; d < n; d++) a = (i64)((unsigned long long)a + (unsigned long long)(i64)((i32)w[d] * ((i32)x[d] + offset)));
    return mbqm_wide((i64)((unsigned long long)a + (unsigned long long)bias), m, s);
}

template <typename T, typename Bias>
__device__ void lstm_gate(const LstmParams& p, const i8* wx, const i8* wh, const Bias* bias, i32 g,
                          const T* x, const T* h, i16* out) {
    const i32 size = p.shape.input_size, units = p.shape.units;
    const LstmGate& q = p.gates[g];
    for (i32 r = 0; r < units; r++) {
        const i64 row = (i64)g * units + r;
        const i32 a = lstm_sum(x, p.input_offset, wx + row * size, size, bias[row], q.input_multiplier, q.input_shift);
        const i32 b = lstm_sum(h, -p.hidden_zero_point, wh + row * units, units, (Bias)0, q.recurrent_multiplier, q.recurrent_shift);
        const i32 pre = sat16(sat16(a) + sat16(b));
        out[r] = (i16)(g == 2 ? lstm_tanh(pre, -12) : lstm_sigmoid(pre));
    }
}

// The integer LSTM over activations T (int8, or int16 with int64 biases).
template <typename T, typename Bias>
__device__ void lstm_integer(const LstmOp& op, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const LstmParams& p = op.params;
    const i32 batches = p.shape.batches, time = p.shape.time, size = p.shape.input_size, units = p.shape.units;
    const i32 lo = sizeof(T) == 1 ? -128 : -32768, hi = sizeof(T) == 1 ? 127 : 32767;
    const i8* wx = (const i8*)(W + op.input_weights.offset);
    const i8* wh = (const i8*)(W + op.recurrent_weights.offset);
    const Bias* bias = (const Bias*)(W + op.bias.offset);
    FOR_EACH(idx, (i64)batches * samples) {
        const i64 s = idx / batches;
        const i32 b = (i32)(idx % batches);
        T* h = (T*)arena(A, arena_bytes, s, op.hidden) + (i64)b * units;
        i16* c = (i16*)arena(A, arena_bytes, s, op.cell) + (i64)b * units;
        i16* gates = (i16*)arena(A, arena_bytes, s, op.scratch) + (i64)b * 4 * units;
        i16 *forget = gates, *input = gates + units, *cell = gates + 2 * units, *output = gates + 3 * units;
        for (i32 t = 0; t < time; t++) {
            const i64 row = p.shape.time_major ? (i64)t * batches + b : (i64)b * time + t;
            const T* x = (const T*)arena(A, arena_bytes, s, op.input) + row * size;
            lstm_gate(p, wx, wh, bias, 1, x, h, forget);
            lstm_gate(p, wx, wh, bias, 0, x, h, input);
            lstm_gate(p, wx, wh, bias, 2, x, h, cell);
            for (i32 r = 0; r < units; r++) {
                const i32 kept = sat16(mbqm((i32)forget[r] * c[r], p.forget_multiplier, p.forget_shift));
                const i32 added = sat16(mbqm((i32)input[r] * cell[r], p.input_multiplier, p.input_shift));
                i32 v = sat16(kept + added);
                if (p.cell_clip > 0) v = clamp_i32(v, -p.cell_clip, p.cell_clip);
                c[r] = (i16)v;
            }
            lstm_gate(p, wx, wh, bias, 3, x, h, output);
            T* out = (T*)arena(A, arena_bytes, s, op.output) + row * units;
            for (i32 r = 0; r < units; r++) {
                const i32 th = lstm_tanh(c[r], p.cell_scale_power);
                h[r] = (T)clamp_i32(wadd(mbqm(th * output[r], p.output_multiplier, p.output_shift), p.hidden_zero_point), lo, hi);
                out[r] = h[r];
            }
        }
    }
}

KILN_KERNEL(kiln_lstm) {
    if (op.activation == DType_I16) lstm_integer<i16, i64>(op, W, A, arena_bytes, samples);
    else lstm_integer<i8, i32>(op, W, A, arena_bytes, samples);
}


// Float32 convolutions: float32 weights, bias and activations, then the
// activation's clamp.
template <bool Transposed>
__device__ __forceinline__ void conv_f32(const Conv2dF32& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const float* bias = o.bias.len ? (const float*)(W + o.bias.offset) : 0;
    const FloatRange activation = o.activation;
    conv_gather<Transposed, float, float, float>(o.geometry, o, W, A, arena_bytes, samples,
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
    const float* bias = o.bias.len ? (const float*)(W + o.bias.offset) : 0;
    const FloatRange activation = o.activation;
    depthwise_gather<float, float, float>(o.geometry, o, W, A, arena_bytes, samples,
        [](float& total, float x, float w) { total += x * w; },
        [=](u8* output, i64 at, i32 oc, float total) {
            ((float*)output)[at] = clampf(total + (bias ? bias[oc] : 0.0f), activation);
        });
}

// int16 (16x8) FULLY_CONNECTED: an int64 bias (or none) accumulates in int64
// and requantizes with TFLite's 64-bit multiply; an int32 bias in int32.
KILN_KERNEL(kiln_fully_connected_s16) {
    const FullyConnectedS16Params& p = op.params;
    const i32 batches = p.shape.batches, depth = p.shape.input_depth, out_depth = p.shape.output_depth;
    const i32 per_channel = op.multiplier.len > 4;
    const i8* filter = (const i8*)(W + op.filter.offset);
    const i64 per_sample = (i64)batches * out_depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i32 oc = (i32)(e % out_depth);
        const i32 b = (i32)(e / out_depth);
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input) + (i64)b * depth;
        const i8* w = filter + (i64)oc * depth;
        i64 acc = 0;
        for (i32 d = 0; d < depth; d++) acc += (i64)((i32)w[d] * (i32)x[d]);
        const i32 v = requantize_16x8(op, W, oc, per_channel ? oc : 0, acc);
        ((i16*)arena(A, arena_bytes, s, op.output))[e] = (i16)clamp_i32(v, p.activation_min, p.activation_max);
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

// BATCH_MATMUL: one thread per output value, the batch dimensions
// broadcast through the operands' strides; int8 or int16 (`q` its zero
// points and requantization; int16 sums in 64 bits) or float32 (q null),
// summed in depth order.
enum MatMulKind { MatMulInt8, MatMulFloat, MatMulInt16 };
template <MatMulKind Kind>
__device__ __forceinline__ void batch_matmul(const MatMulGeometry& g, const BatchMatMulParams* q, ConstantOperand constant, Span lhs, Span rhs, Span output,
                                             const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const i32 rows = g.rows, depth = g.depth, cols = g.cols;
    const i32 b1 = g.batches[1], b2 = g.batches[2];
    const i64 per_sample = (i64)g.batches[0] * b1 * b2 * rows * cols;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i64 out_index = e;
        const i32 c = (i32)(e % cols); e /= cols;
        const i32 r = (i32)(e % rows); e /= rows;
        const i32 k = (i32)(e % b2); e /= b2;
        const i32 j = (i32)(e % b1);
        const i32 i = (i32)(e / b1);
        const i64 lhs_base = (i64)i * g.lhs_strides[0] + (i64)j * g.lhs_strides[1] + (i64)k * g.lhs_strides[2];
        const i64 rhs_base = (i64)i * g.rhs_strides[0] + (i64)j * g.rhs_strides[1] + (i64)k * g.rhs_strides[2];
        const u8* sample = A + s * arena_bytes;
        const u8* l = (constant == ConstantOperand_First ? W : sample) + lhs.offset;
        const u8* x = (constant == ConstantOperand_Second ? W : sample) + rhs.offset;
        i32 total = 0;
        i64 wide = 0;
        float ftotal = 0.0f;
        for (i32 d = 0; d < depth; d++) {
            const i64 li = lhs_base + (g.adj_x ? (i64)d * rows + r : (i64)r * depth + d);
            const i64 ri = rhs_base + (g.adj_y ? (i64)c * depth + d : (i64)d * cols + c);
            if (Kind == MatMulFloat) ftotal += ((const float*)l)[li] * ((const float*)x)[ri];
            else if (Kind == MatMulInt16) wide += (i64)((const i16*)l)[li] * (i64)((const i16*)x)[ri];
            else total = wadd(total, ((i32)((const i8*)l)[li] - q->lhs_zero_point) * ((i32)((const i8*)x)[ri] - q->rhs_zero_point));
        }
        if (Kind == MatMulFloat) {
            ((float*)(A + s * arena_bytes + output.offset))[out_index] = ftotal;
        } else if (Kind == MatMulInt16) {
            const i32 v = sat_add(mbqm_wide(wide, q->multiplier, q->shift), q->output_zero_point);
            ((i16*)(A + s * arena_bytes + output.offset))[out_index] = (i16)clamp_i32(v, -32768, 32767);
        } else {
            const i32 v = sat_add(mbqm(total, q->multiplier, q->shift), q->output_zero_point);
            ((i8*)(A + s * arena_bytes + output.offset))[out_index] = (i8)clamp_i32(v, -128, 127);
        }
    }
}

KILN_KERNEL(kiln_batch_matmul) {
    batch_matmul<MatMulInt8>(op.params.geometry, &op.params, op.constant, op.lhs, op.rhs, op.output, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_batch_matmul_s16) {
    batch_matmul<MatMulInt16>(op.params.geometry, &op.params, op.constant, op.lhs, op.rhs, op.output, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_batch_matmul_f32) {
    batch_matmul<MatMulFloat>(op.geometry, 0, op.constant, op.lhs, op.rhs, op.output, W, A, arena_bytes, samples);
}
