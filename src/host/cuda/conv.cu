// kiln's CUDA kernels: convolutions and fully connected layers, int8 and float32. Compiled after the generated declarations
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
