// kiln's CUDA kernels: pools, softmax, and ops that move values (concatenation, pad, mean, slice, transpose), int8, int16 and float32. Compiled after the generated declarations
// and common.cu (see common.cu for the contract every kernel keeps).

// An integer pool (Pool2dS8 of int8 values, Pool2dS16 of int16 ones).
template <typename T, typename Pool>
__device__ void pool(const Pool& o, u8* A, i64 arena_bytes, i32 samples, int average) {
    const PoolGeometry& g = o.params.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width;
    const i32 fh = g.filter_height, fw = g.filter_width, sh = g.stride_height, sw = g.stride_width;
    const i32 pt = g.padding_top, pl = g.padding_left, dh = g.dilation_height, dw = g.dilation_width;
    const i32 act_min = o.params.activation_min, act_max = o.params.activation_max;
    const i64 per_sample = (i64)batches * out_h * out_w * c;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        i64 e = idx % per_sample;
        const i32 ch = (i32)(e % c); e /= c;
        const i32 ox = (i32)(e % out_w); e /= out_w;
        const i32 oy = (i32)(e % out_h);
        const i32 b = (i32)(e / out_h);
        const T* input = (const T*)arena(A, arena_bytes, s, o.input);
        T* output = (T*)arena(A, arena_bytes, s, o.output);
        const i32 y_origin = oy * sh - pt, x_origin = ox * sw - pl;
        i32 sum = 0, count = 0, best = -2147483647;
        int any = 0;
        for (i32 ky = 0; ky < fh; ky++) {
            const i32 y = y_origin + ky * dh;
            if (y < 0 || y >= in_h) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                const i32 x = x_origin + kx * dw;
                if (x < 0 || x >= in_w) continue;
                const i32 v = input[(((i64)b * in_h + y) * in_w + x) * c + ch];
                sum = wadd(sum, v);
                count++;
                if (!any || v > best) best = v;
                any = 1;
            }
        }
        i32 v;
        if (average) {
            v = count == 0 ? 0 : (sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
        } else {
            v = any ? best : act_min;
        }
        output[(((i64)b * out_h + oy) * out_w + ox) * c + ch] = (T)clamp_i32(v, act_min, act_max);
    }
}

KILN_KERNEL(kiln_average_pool2d) {
    pool<i8>(op.pool, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_max_pool2d) {
    pool<i8>(op.pool, A, arena_bytes, samples, 0);
}

KILN_KERNEL(kiln_average_pool2d_s16) {
    pool<i16>(op.pool, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_max_pool2d_s16) {
    pool<i16>(op.pool, A, arena_bytes, samples, 0);
}


// int8 SOFTMAX writing Out (int8 or int16): the output type sets only the
// final rounding shift and the offset (kernels::softmax).
template <typename Out, i32 Bits, i32 Min, i32 Max>
__device__ __forceinline__ void softmax_from_s8(const SoftmaxParams& p, Span input, Span output, u8* A, i64 arena_bytes, i32 samples) {
    const i32 outer = p.outer, depth = p.depth, multiplier = p.input_multiplier, left_shift = p.input_left_shift;
    const i32 diff_min = p.diff_min;
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const i8* x = (const i8*)arena(A, arena_bytes, s, input) + row * depth;
        Out* y = (Out*)arena(A, arena_bytes, s, output) + row * depth;
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
                const i32 unsat = rdbp(srdhm(scale, e), bits_over_unit + 31 - Bits);
                y[c] = (Out)clamp_i32(wadd(unsat, Min), Min, Max);
            } else {
                y[c] = (Out)Min;
            }
        }
    }
}

KILN_KERNEL(kiln_softmax) {
    softmax_from_s8<i8, 8, -128, 127>(op.params, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_softmax_s16) {
    softmax_from_s8<i16, 16, -32768, 32767>(op.params, op.input, op.output, A, arena_bytes, samples);
}

// TFLite's generic_int16_table_lookup: the entry at the top 9 bits plus
// the slope to the next one times the low 7 bits, rounded.
__device__ __forceinline__ i32 int16_table_lookup(i32 value, const i16* table) {
    const i32 index = 256 + (value >> 7), offset = value & 0x7f;
    const i32 base = table[index];
    const i32 slope = (i16)(table[index + 1] - table[index]);
    return (i16)(base + ((slope * offset + 64) >> 7));
}

// int16 SOFTMAX (kernels::softmax::softmax_s16): exponentials from one
// table, the reciprocal of their sum from the other.
KILN_KERNEL(kiln_softmax_int16) {
    const SoftmaxInt16Params& p = op.params;
    const i16* exp_table = (const i16*)(W + op.exp_table.offset);
    const i16* reciprocal_table = (const i16*)(W + op.reciprocal_table.offset);
    const i32 outer = p.outer, depth = p.depth;
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer;
        const i64 row = idx % outer;
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input) + row * depth;
        i16* y = (i16*)arena(A, arena_bytes, s, op.output) + row * depth;
        i32 max = -32768;
        for (i32 c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
        i32 sum = 0;
        for (i32 c = 0; c < depth; c++) {
            const i32 scaled = sat_add(mbqm((i32)x[c] - max, p.input_multiplier, p.input_shift), 32767);
            sum = wadd(sum, int16_table_lookup(clamp_i32(scaled, -32768, 32767), exp_table));
        }
        i32 h = sum == 0 ? 32 : __clz(sum);
        h = h < 1 ? 1 : h > 30 ? 30 : h;
        const i64 shifted = (((i64)sum << (h - 1)) + (1 << 13)) >> 14;
        const i32 symmetric = clamp_i32(wsub((i32)shifted, (1 << 15) + (1 << 16)), -32768, 32767);
        const i64 reciprocal = int16_table_lookup(symmetric, reciprocal_table);
        const i32 right_shift = 31 - h;
        for (i32 c = 0; c < depth; c++) {
            const i32 scaled = sat_add(mbqm((i32)x[c] - max, p.input_multiplier, p.input_shift), 32767);
            const i64 e = int16_table_lookup(clamp_i32(scaled, -32768, 32767), exp_table);
            const i64 v = (e * reciprocal + ((i64)1 << (right_shift - 1))) >> right_shift;
            y[c] = (i16)(v < 0 ? 0 : v > 32767 ? 32767 : v);
        }
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
// The input coordinate border coordinate `i` copies along a dimension of
// `n` values, or -1 for the pad value (kernels::pad::PadMode::source).
__device__ __forceinline__ i32 pad_source(PadMode mode, i32 i, i32 n) {
    if (i >= 0 && i < n) return i;
    if (n <= 0) return -1;
    switch (mode) {
    case PadMode_Edge: return i < 0 ? 0 : n - 1;
    case PadMode_Wrap: { const i32 m = i % n; return m < 0 ? m + n : m; }
    case PadMode_Reflect: {
        if (n == 1) return 0;
        const i32 period = 2 * (n - 1);
        i32 m = i % period; if (m < 0) m += period;
        return m < n ? m : period - m;
    }
    case PadMode_Symmetric: {
        const i32 period = 2 * n;
        i32 m = i % period; if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }
    default: return -1;
    }
}

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
            const i32 coord = pad_source(p.mode, (i32)(e % out_dim) - before, in_dim);
            e /= out_dim;
            if (coord < 0) inside = 0;
            src += (i64)(coord < 0 ? 0 : coord) * stride;
            stride *= in_dim;
        }
        const T* in = (const T*)arena(A, arena_bytes, s, input);
        T* out = (T*)arena(A, arena_bytes, s, output);
        out[out_index] = inside ? in[src] : value;
    }
}

KILN_KERNEL(kiln_pad) {
    switch (op.dtype) {
    case DType_I8: pad<i8>(op.params, (i8)op.value, op.input, op.output, A, arena_bytes, samples); break;
    case DType_I16: pad<i16>(op.params, (i16)op.value, op.input, op.output, A, arena_bytes, samples); break;
    case DType_I32: pad<i32>(op.params, op.value, op.input, op.output, A, arena_bytes, samples); break;
    default: break;
    }
}

KILN_KERNEL(kiln_pad_f32) {
    pad<float>(op.params, op.value, op.input, op.output, A, arena_bytes, samples);
}

// MEAN, SUM and REDUCE_MAX/MIN over the reduced dimensions of `r`: int8 (`q`
// the requantization of MEAN and SUM, one for both) or float32 (q null),
// which sums in float and, for a MEAN, divides by the count.
enum Reducer { REDUCE_MEAN, REDUCE_SUM, REDUCE_MAX };
// Integer values are int8 (T = i8) or, for MEAN and SUM, int16 (T = i16).
template <bool Float, Reducer How, typename T = i8>
__device__ __forceinline__ void reduce(const Reduction& r, const MeanParams* q, Span input, Span output, u8* A, i64 arena_bytes, i32 samples,
                                       bool smallest = false) {
    const i32 out_elements = output.len / (Float ? 4 : (i32)sizeof(T));
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
        // REDUCE_MIN keeps the extreme as REDUCE_MAX does, of the negated
        // order: `best` wins against `v` when it is larger (smaller).
        i32 sum = 0, imax = smallest ? 127 : -128;
        float fsum = 0.0f, fmax = smallest ? 3.402823466e38f : -3.402823466e38f;
        for (i32 k = 0; k < count; k++) {
            i64 rem = k, off = 0;
            for (int d = 5; d >= 0; d--) {
                if (!r.reduce[d]) continue;
                off += (rem % (i32)r.input_dims[d]) * strides[d];
                rem /= (i32)r.input_dims[d];
            }
            // The same order as the Rust kernel: k counts the innermost
            // reduced dimension fastest.
            if (Float) {
                const float v = ((const float*)x)[base + off];
                fsum += v;
                fmax = (smallest ? v < fmax : v > fmax) ? v : fmax;
            } else {
                const i32 v = ((const T*)x)[base + off];
                sum += v;
                imax = (smallest ? v < imax : v > imax) ? v : imax;
            }
        }
        if (Float) {
            ((float*)arena(A, arena_bytes, s, output))[out_index] =
                How == REDUCE_MAX ? fmax : (How == REDUCE_MEAN ? fsum / (float)count : fsum);
        } else if (How == REDUCE_MAX) {
            ((i8*)arena(A, arena_bytes, s, output))[out_index] = (i8)imax;
        } else {
            const i32 v = sat_add(mbqm(sum - q->input_zero_point * count, q->multiplier, q->shift), q->output_zero_point);
            const i32 lo = sizeof(T) == 1 ? -128 : -32768, hi = sizeof(T) == 1 ? 127 : 32767;
            ((T*)arena(A, arena_bytes, s, output))[out_index] = (T)clamp_i32(v, lo, hi);
        }
    }
}

KILN_KERNEL(kiln_mean) {
    reduce<false, REDUCE_MEAN>(op.params.reduction, &op.params, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_mean_s16) {
    reduce<false, REDUCE_MEAN, i16>(op.params.reduction, &op.params, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_mean_f32) {
    reduce<true, REDUCE_MEAN>(op.reduction, 0, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_sum_f32) {
    reduce<true, REDUCE_SUM>(op.reduction, 0, op.input, op.output, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_reduce_extreme) {
    reduce<false, REDUCE_MAX>(op.reduction, 0, op.input, op.output, A, arena_bytes, samples, op.extreme == Extreme_Min);
}

KILN_KERNEL(kiln_reduce_extreme_f32) {
    reduce<true, REDUCE_MAX>(op.reduction, 0, op.input, op.output, A, arena_bytes, samples, op.extreme == Extreme_Min);
}


// `kind`: 0 max, 1 average, 2 L2 (the root of the mean square).
__device__ void pool_f32(const Pool2dF32& o, u8* A, i64 arena_bytes, i32 samples, int kind) {
    const PoolGeometry& g = o.geometry;
    const i32 batches = g.input.batches, in_h = g.input.height, in_w = g.input.width, c = g.input.channels;
    const i32 out_h = g.output.height, out_w = g.output.width;
    const i32 fh = g.filter_height, fw = g.filter_width, sh = g.stride_height, sw = g.stride_width;
    const i32 pt = g.padding_top, pl = g.padding_left, dh = g.dilation_height, dw = g.dilation_width;
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
        // One reduction per kind: the sum of the taps (1), of their
        // squares (2), or their maximum (0).
        float sum = 0.0f, best = -3.402823466e38f;
        u32 count = 0;
        for (i32 ky = 0; ky < fh; ky++) {
            const i32 y = y_origin + ky * dh;
            if (y < 0 || y >= in_h) continue;
            for (i32 kx = 0; kx < fw; kx++) {
                const i32 x = x_origin + kx * dw;
                if (x < 0 || x >= in_w) continue;
                const float v = input[(((i64)b * in_h + y) * in_w + x) * c + ch];
                if (kind == 0) best = v > best ? v : best;
                else sum += kind == 2 ? v * v : v;
                count++;
            }
        }
        const float n = (float)(count > 0 ? count : 1);
        const float v = kind == 1 ? sum / n : kind == 2 ? sqrtf(sum / n) : best;
        ((float*)arena(A, arena_bytes, s, o.output))[(((i64)b * out_h + oy) * out_w + ox) * c + ch] = clampf(v, o.activation);
    }
}

KILN_KERNEL(kiln_average_pool2d_f32) {
    pool_f32(op.pool, A, arena_bytes, samples, 1);
}

KILN_KERNEL(kiln_max_pool2d_f32) {
    pool_f32(op.pool, A, arena_bytes, samples, 0);
}

KILN_KERNEL(kiln_l2_pool2d_f32) {
    pool_f32(op.pool, A, arena_bytes, samples, 2);
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


// fixed_point::log_x_for_x_greater_than_or_equal_to_1 (TFLite's): ln(x)
// for x >= 1 with `ib` integer bits, with `ob` integer bits.
__device__ i32 log_x_at_least_1(i32 input, i32 ib, i32 ob) {
    const i32 log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const i32 alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769, alpha_f = 638450708;
    const i32 accum = ob + 1;
    const i32 shifted_quarter = rescale(536870912, 0, accum);
    const i32 z_a = input;
    const i32 z_a_headroom_plus_1 = z_a == 0 ? 32 : __clz(z_a);
    const i32 r_a_tmp = sat_mul_pot(z_a, z_a_headroom_plus_1 - 1);
    const i32 r_a = sat_mul_pot(srdhm(r_a_tmp, sqrt_half), 1);
    const i32 z_a_pow_2_adj = sat_add(sat_mul_pot(ib - z_a_headroom_plus_1, 31 - accum), shifted_quarter);
    const i32 z_b = srdhm(z_a, sqrt_half);
    const i32 z_b_headroom = (z_b == 0 ? 32 : __clz(z_b)) - 1;
    const i32 r_b = sat_mul_pot(z_a, z_b_headroom);
    const i64 b_diff = (i64)sat_mul_pot(ib - z_b_headroom, 31 - accum) - shifted_quarter;
    const i32 z_b_pow_2_adj = b_diff < KILN_I32_MIN ? KILN_I32_MIN : (b_diff > KILN_I32_MAX ? KILN_I32_MAX : (i32)b_diff);
    const i32 r = r_a < r_b ? r_a : r_b;
    const i32 z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;
    const i32 p = rounding_half_sum(r, sqrt_sqrt_half);
    i32 q = wsub(r, sqrt_sqrt_half);
    q = wadd(q, q);
    const i32 common_sq = srdhm(q, q);
    const i32 num = wadd(srdhm(q, r), srdhm(srdhm(q, common_sq), alpha_n));
    const i32 denom_minus_one = wadd(srdhm(p, wadd(wadd(alpha_i, q), srdhm(alpha_d, common_sq))), srdhm(alpha_f, q));
    const i32 recip_denom = one_over_one_plus_x(denom_minus_one);
    const i32 num_scaled = rescale(num, 0, accum);
    return rescale(wadd(srdhm(z_pow_2_adj, log_2), srdhm(num_scaled, recip_denom)), accum, ob);
}

// LOG_SOFTMAX, one row per item: int8 in TFLM's fixed point (the sum of
// exponentials as SOFTMAX's, its logarithm subtracted; output 16/256 from
// 127), float32 as TFLM's float reference.
KILN_KERNEL(kiln_log_softmax) {
    const SoftmaxParams& p = op.params.softmax;
    const i32 outer = p.outer, depth = p.depth, multiplier = p.input_multiplier, left_shift = p.input_left_shift;
    FOR_EACH(idx, (i64)outer * samples) {
        const i64 s = idx / outer, row = idx % outer;
        if (op.dtype == DType_F32) {
            const float* x = (const float*)arena(A, arena_bytes, s, op.input) + row * depth;
            float* y = (float*)arena(A, arena_bytes, s, op.output) + row * depth;
            float max = -3.402823466e38f;
            for (i32 c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
            float sum = 0.0f;
            for (i32 c = 0; c < depth; c++) sum += expf(x[c] - max);
            const float log_sum = logf(sum);
            for (i32 c = 0; c < depth; c++) y[c] = x[c] - max - log_sum;
            continue;
        }
        const i8* x = (const i8*)arena(A, arena_bytes, s, op.input) + row * depth;
        i8* y = (i8*)arena(A, arena_bytes, s, op.output) + row * depth;
        i32 max = -128;
        for (i32 c = 0; c < depth; c++) max = x[c] > max ? x[c] : max;
        i32 sum = 0;
        for (i32 c = 0; c < depth; c++) {
            const i32 diff = (i32)x[c] - max;
            if (diff >= p.diff_min) {
                sum = wadd(sum, rescale(exp_on_negative_values(mbqm(diff, multiplier, left_shift), 5), 0, 12));
            }
        }
        const i32 log_sum = log_x_at_least_1(sum, 12, 5);
        const i32 floor = p.diff_min == KILN_I32_MIN ? KILN_I32_MIN : p.diff_min - 1;
        const i32 reverse = mbqm(wadd(log_sum, KILN_I32_MIN), op.params.reverse_scaling_divisor, op.params.reverse_scaling_left_shift);
        const i32 adjusted_diff_min = floor > reverse ? floor : reverse;
        for (i32 c = 0; c < depth; c++) {
            const i32 diff = (i32)x[c] - max;
            if (diff > adjusted_diff_min) {
                const i32 out = rdbp(wsub(mbqm(diff, multiplier, left_shift), log_sum), 31 - 5 - 4);
                y[c] = (i8)clamp_i32(wadd(out, 127), -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
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

// GATHER: output slice (b, o, c) is table slice (b, o, indices[b, c]); an
// index outside the axis writes zeros. The table or the indices may lie in
// the weights (`constant`).
KILN_KERNEL(kiln_gather) {
    const GatherParams& p = op.params;
    const i64 rows = (i64)p.batches * p.outer, per_sample = rows * p.indices;
    const i32 inner = p.inner_bytes;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        const i64 row = e / p.indices, c = e % p.indices, b = row / p.outer;
        u8* sample = A + s * arena_bytes;
        const u8* table = (op.constant == ConstantOperand_First ? W : sample) + op.table.offset;
        const i32* indices = (const i32*)((op.constant == ConstantOperand_Second ? W : sample) + op.indices.offset);
        const i32 index = indices[b * p.indices + c];
        u8* out = sample + op.output.offset + e * inner;
        const bool inside = index >= 0 && (u32)index < p.axis;
        for (i32 k = 0; k < inner; k++) out[k] = inside ? table[(row * p.axis + index) * inner + k] : 0;
    }
}

// GATHER_ND, one output slice per item: the table slice its index tuple
// picks, or zeros where that slice lies outside the table.
KILN_KERNEL(kiln_gather_nd) {
    const GatherNdParams& p = op.params;
    const i64 lookups = p.lookups, size = p.slice_bytes, depth = p.depth;
    FOR_EACH(idx, lookups * samples) {
        const i64 s = idx / lookups, k = idx % lookups;
        u8* sample = A + s * arena_bytes;
        const u8* table = (op.constant == ConstantOperand_First ? W : sample) + op.table.offset;
        const i32* indices = (const i32*)((op.constant == ConstantOperand_Second ? W : sample) + op.indices.offset) + k * depth;
        // As kernels::gather::GatherNdParams::slice_of: only the flat slice
        // position is checked, as TFLM does.
        i32 slice = 0, stride = 1;
        i64 slices = 1;
        for (i64 d = depth - 1; d >= 0; d--) {
            slice = wadd(slice, (i32)((u32)indices[d] * (u32)stride));
            stride = (i32)((u32)stride * p.dims[d]);
            slices *= p.dims[d];
        }
        const bool inside = slice >= 0 && (i64)slice < slices;
        u8* out = sample + op.output.offset + k * size;
        for (i64 b = 0; b < size; b++) out[b] = inside ? table[slice * size + b] : 0;
    }
}

// ARG_MAX and ARG_MIN: the first index along the axis of the extreme value
// (a later value wins only when strictly beyond, so ties and NaNs keep the
// first), for each (outer, inner).
template <typename T>
__device__ __forceinline__ i32 arg_extreme(const T* x, const ArgExtremeParams& p, i64 base) {
    T best = x[base];
    i32 index = 0;
    for (u32 k = 1; k < p.axis; k++) {
        const T v = x[base + (i64)k * p.inner];
        if (p.extreme == Extreme_Min ? v < best : v > best) {
            best = v;
            index = (i32)k;
        }
    }
    return index;
}

KILN_KERNEL(kiln_arg_extreme) {
    const ArgExtremeParams& p = op.params;
    const i64 per_sample = (i64)p.outer * p.inner;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i64 base = (e / p.inner) * p.axis * p.inner + e % p.inner;
        const u8* x = arena(A, arena_bytes, s, op.input);
        i32 index;
        switch (op.dtype) {
        case DType_I8: index = arg_extreme((const i8*)x, p, base); break;
        case DType_I16: index = arg_extreme((const i16*)x, p, base); break;
        case DType_I32: index = arg_extreme((const i32*)x, p, base); break;
        default: index = arg_extreme((const float*)x, p, base); break;
        }
        ((i32*)arena(A, arena_bytes, s, op.output))[e] = index;
    }
}

// RESIZE_NEAREST_NEIGHBOR: the input row (or column) an output row copies,
// in single precision as TFLM's GetNearestNeighbor: rounded with
// align_corners, floored otherwise, clamped into the input.
__device__ __forceinline__ i64 nearest_index(u32 index, u32 input, u32 output, const ResizeParams& p) {
    const float scale = p.align_corners && output > 1 ? ((float)input - 1.0f) / (float)(output - 1)
                                                      : (float)input / (float)(output > 1 ? output : 1);
    const float position = ((float)index + (p.half_pixel_centers ? 0.5f : 0.0f)) * scale;
    i64 picked = p.align_corners ? (i64)roundf(position) : (i64)floorf(position);
    const i64 last = (i64)(input > 1 ? input : 1) - 1;
    return picked < 0 ? 0 : picked > last ? last : picked;
}

// One output pixel per item: its depth values copied from the nearest input
// pixel (values of 1, 2 or 4 bytes; the bytes move unchanged).
KILN_KERNEL(kiln_resize_nearest) {
    const ResizeParams& p = op.params;
    const i64 per_sample = (i64)p.batches * p.output_height * p.output_width;
    const i64 pixel = (i64)p.depth * (op.dtype == DType_I8 ? 1 : op.dtype == DType_I16 ? 2 : 4);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i64 x = e % p.output_width, y = (e / p.output_width) % p.output_height;
        const i64 b = e / ((i64)p.output_width * p.output_height);
        const i64 in_y = nearest_index((u32)y, p.input_height, p.output_height, p);
        const i64 in_x = nearest_index((u32)x, p.input_width, p.output_width, p);
        const u8* from = arena(A, arena_bytes, s, op.input) + ((b * p.input_height + in_y) * p.input_width + in_x) * pixel;
        u8* to = arena(A, arena_bytes, s, op.output) + e * pixel;
        for (i64 k = 0; k < pixel; k++) to[k] = from[k];
    }
}

// SPACE_TO_BATCH_ND, one output pixel per item: the padded input pixel
// of its phase (see kernels::space_batch), or the pad byte.
KILN_KERNEL(kiln_space_to_batch) {
    const SpaceBatchParams& p = op.params;
    const i64 n = p.input_dims[0], h = p.input_dims[1], w = p.input_dims[2];
    const i64 oh = p.output_dims[1], ow = p.output_dims[2];
    const i64 per_sample = (i64)p.output_dims[0] * oh * ow, size = p.pixel_bytes;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i64 column = e % ow, row = (e / ow) % oh, batch = e / (ow * oh);
        const i64 phase = batch / n;
        const i64 y = row * p.block[0] + phase / p.block[1] - p.before[0];
        const i64 x = column * p.block[1] + phase % p.block[1] - p.before[1];
        u8* to = arena(A, arena_bytes, s, op.output) + e * size;
        if (y >= 0 && y < h && x >= 0 && x < w) {
            const u8* from = arena(A, arena_bytes, s, op.input) + (((batch % n) * h + y) * w + x) * size;
            for (i64 k = 0; k < size; k++) to[k] = from[k];
        } else {
            for (i64 k = 0; k < size; k++) to[k] = p.pad_byte;
        }
    }
}

// BATCH_TO_SPACE_ND, one output pixel per item, from the input batch of
// its phase.
KILN_KERNEL(kiln_batch_to_space) {
    const SpaceBatchParams& p = op.params;
    const i64 h = p.input_dims[1], w = p.input_dims[2];
    const i64 on = p.output_dims[0], oh = p.output_dims[1], ow = p.output_dims[2];
    const i64 bh = p.block[0], bw = p.block[1], per_sample = on * oh * ow, size = p.pixel_bytes;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i64 y = (e / ow) % oh + p.before[0], x = e % ow + p.before[1];
        const i64 batch = e / (ow * oh), phase = (y % bh) * bw + x % bw;
        const u8* from = arena(A, arena_bytes, s, op.input) + (((phase * on + batch) * h + y / bh) * w + x / bw) * size;
        u8* to = arena(A, arena_bytes, s, op.output) + e * size;
        for (i64 k = 0; k < size; k++) to[k] = from[k];
    }
}

// RESIZE_BILINEAR, one output value per item. int8: TFLM's integer
// arithmetic (positions in 1/1024ths of a pixel, the sum rounded half away
// from zero); float32: TFLM's float one.
__device__ __forceinline__ i32 bilinear_scale(u32 input, u32 output, bool align_corners) {
    const i32 in = (i32)input, out = (i32)(output > 1 ? output : 1);
    return align_corners && out > 1 ? ((1 << 10) * (in - 1) + (out - 1) / 2) / (out - 1)
                                    : ((1 << 10) * in + out / 2) / out;
}

__device__ __forceinline__ void bilinear_sample(u32 index, i32 scale, bool half, u32 input, i32* position, i64* lo, i64* hi) {
    *position = half ? (i32)index * scale + scale / 2 - (1 << 9) : (i32)index * scale;
    const i32 l = *position / (1 << 10), h = (*position + (1 << 10) - 1) / (1 << 10);
    *lo = l < 0 ? 0 : l;
    *hi = h < (i32)input - 1 ? (h < 0 ? 0 : h) : (i32)input - 1;
}

__device__ __forceinline__ void bilinear_sample_f32(u32 index, float scale, bool half, u32 input, float* position, i64* lo, i64* hi) {
    *position = half ? ((float)index + 0.5f) * scale - 0.5f : (float)index * scale;
    const i32 l = (i32)floorf(*position), h = (i32)ceilf(*position);
    *lo = l < 0 ? 0 : l;
    *hi = h < (i32)input - 1 ? (h < 0 ? 0 : h) : (i32)input - 1;
}

KILN_KERNEL(kiln_resize_bilinear) {
    const ResizeParams& p = op.params;
    const i64 depth = p.depth;
    const i64 per_sample = (i64)p.batches * p.output_height * p.output_width * depth;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i64 c = e % depth, pixel = e / depth;
        const u32 x = (u32)(pixel % p.output_width), y = (u32)((pixel / p.output_width) % p.output_height);
        const i64 b = pixel / ((i64)p.output_width * p.output_height);
        const u8* in = arena(A, arena_bytes, s, op.input);
        u8* out = arena(A, arena_bytes, s, op.output);
        i64 y0, y1, x0, x1;
#define KILN_AT(T, row, col) ((T*)in)[((b * p.input_height + (row)) * p.input_width + (col)) * depth + c]
        if (op.dtype == DType_I8) {
            i32 in_y, in_x;
            bilinear_sample(y, bilinear_scale(p.input_height, p.output_height, p.align_corners), p.half_pixel_centers,
                            p.input_height, &in_y, &y0, &y1);
            bilinear_sample(x, bilinear_scale(p.input_width, p.output_width, p.align_corners), p.half_pixel_centers,
                            p.input_width, &in_x, &x0, &x1);
            const i64 dy = in_y - (1 << 10) * y0, dx = in_x - (1 << 10) * x0;
            const i64 sum = (i64)KILN_AT(const i8, y0, x0) * ((1 << 10) - dy) * ((1 << 10) - dx) +
                            (i64)KILN_AT(const i8, y1, x0) * dy * ((1 << 10) - dx) +
                            (i64)KILN_AT(const i8, y0, x1) * ((1 << 10) - dy) * dx +
                            (i64)KILN_AT(const i8, y1, x1) * dy * dx;
            ((i8*)out)[e] = (i8)((sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
        } else {
            const float hs = p.align_corners && p.output_height > 1 ? (float)(p.input_height - 1) / (float)(p.output_height - 1)
                                                                     : (float)p.input_height / (float)p.output_height;
            const float ws = p.align_corners && p.output_width > 1 ? (float)(p.input_width - 1) / (float)(p.output_width - 1)
                                                                    : (float)p.input_width / (float)p.output_width;
            float in_y, in_x;
            bilinear_sample_f32(y, hs, p.half_pixel_centers, p.input_height, &in_y, &y0, &y1);
            bilinear_sample_f32(x, ws, p.half_pixel_centers, p.input_width, &in_x, &x0, &x1);
            const float dy = in_y - (float)y0, dx = in_x - (float)x0;
            ((float*)out)[e] = KILN_AT(const float, y0, x0) * (1.0f - dy) * (1.0f - dx) +
                               KILN_AT(const float, y1, x0) * dy * (1.0f - dx) +
                               KILN_AT(const float, y0, x1) * (1.0f - dy) * dx + KILN_AT(const float, y1, x1) * dy * dx;
        }
#undef KILN_AT
    }
}

// FILL (ZEROS_LIKE, SHAPE): the value's bytes repeated over the output.
KILN_KERNEL(kiln_fill) {
    const i64 per_sample = op.output.len;
    const u8* value = W + op.value.offset;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        arena(A, arena_bytes, s, op.output)[e] = value[e % op.value.len];
    }
}

// DYNAMIC_UPDATE_SLICE: each output byte from the update where its
// coordinate lies in the block at the clamped starts, else the operand's.
KILN_KERNEL(kiln_dynamic_update_slice) {
    const UpdateSliceShape& p = op.shape;
    const i64 per_sample = op.output.len;
    const i32 size = p.element_size;
    const i32 rank = op.starts.len / 4;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i32* starts = op.constant_starts ? weights_i32(W, op.starts.offset)
                                               : (const i32*)arena(A, arena_bytes, s, op.starts);
        i64 rest = e / size, at = 0, stride = 1;
        bool inside = true;
        for (int d = 5; d >= 0; d--) {
            const i64 coord = rest % (i64)p.operand[d];
            rest /= (i64)p.operand[d];
            const i64 room = (i64)p.operand[d] - (i64)p.update[d];
            i64 start = d >= 6 - rank ? (i64)starts[d - (6 - rank)] : 0;
            start = start > room ? room : start;
            start = start < 0 ? 0 : start;
            const i64 u = coord - start;
            if (u < 0 || u >= (i64)p.update[d]) inside = false;
            at += u * stride;
            stride *= (i64)p.update[d];
        }
        const u8* update = op.constant_update ? W + op.update.offset : arena(A, arena_bytes, s, op.update);
        const u8* from = inside ? update + at * size + e % size : arena(A, arena_bytes, s, op.operand) + e;
        arena(A, arena_bytes, s, op.output)[e] = *from;
    }
}

// CIRCULAR_BUFFER: the input shifted into the output, the buffer (its
// state); the count of calls moves on (ops::circular_buffer). One thread
// per sample: the buffer moves in order. Whether the run goes on is the
// host's to decide (every sample starts from the reset state, so all of
// them agree).
KILN_KERNEL(kiln_circular_buffer) {
    const i64 slot = op.slot, kept = (i64)op.output.len - slot;
    FOR_EACH(s, (i64)samples) {
        const u8* x = arena(A, arena_bytes, s, op.input);
        u8* slots = arena(A, arena_bytes, s, op.output);
        for (i64 i = 0; i < kept; i++) slots[i] = slots[i + slot];
        for (i64 i = 0; i < slot; i++) slots[kept + i] = x[i];
        i32* calls = (i32*)arena(A, arena_bytes, s, op.calls);
        const i64 next = (*calls < 0 ? 0 : (i64)*calls) + 1;
        *calls = next >= (i64)op.period ? 0 : (i32)next;
    }
}
