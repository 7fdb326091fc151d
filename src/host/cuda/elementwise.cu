// kiln's CUDA kernels: elementwise ops (broadcasting arithmetic, activations, requantization), int8 and float32. Compiled after the generated declarations
// and common.cu (see common.cu for the contract every kernel keeps).

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

// Every broadcasting binary kernel's walk: `first` (of type T) and
// `second` (U, T unless named) are the operands, one of which may lie in
// the weights (`constant`); `f(a, b)` is the output element, of type Out
// (a comparison's bool byte) or T.
template <typename T, typename Out = T, typename U = T, typename F>
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
        const U y = ((const U*)((constant == ConstantOperand_Second ? W : sample) + second.offset))[ib];
        ((Out*)(A + s * arena_bytes + output.offset))[e] = f(x, y);
    }
}

// Quantized ADD, SUB and SQUARED_DIFFERENCE of int8 (T = i8) or int16
// (T = i16) values: both inputs rescaled to a common scale, added,
// subtracted or their difference squared, rescaled to the output.
enum AddSubMode { AddMode, SubMode, SquaredDifferenceMode };
template <AddSubMode Mode, typename T = i8>
__device__ __forceinline__ void add_sub(const AddSub& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const AddParams* p = &o.params;
    broadcast_binary<T>(p->broadcast, o.constant, o.input1, o.input2, o.output, W, A, arena_bytes, samples, [=](T a, T b) {
        const i32 s1 = mbqm(((i32)a + p->input1_offset) * (1 << p->left_shift), p->input1_multiplier, p->input1_shift);
        const i32 s2 = mbqm(((i32)b + p->input2_offset) * (1 << p->left_shift), p->input2_multiplier, p->input2_shift);
        const i32 d = wsub(s1, s2);
        const i32 combined = Mode == AddMode ? wadd(s1, s2) : Mode == SubMode ? d : (i32)((u32)d * (u32)d);
        const i32 v = sat_add(mbqm(combined, p->output_multiplier, p->output_shift), p->output_offset);
        return (T)clamp_i32(v, p->activation_min, p->activation_max);
    });
}

KILN_KERNEL(kiln_add) {
    add_sub<AddMode>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_sub) {
    add_sub<SubMode>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_squared_difference) {
    add_sub<SquaredDifferenceMode>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_add_s16) {
    add_sub<AddMode, i16>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_sub_s16) {
    add_sub<SubMode, i16>(op.add, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_squared_difference_s16) {
    add_sub<SquaredDifferenceMode, i16>(op.add, W, A, arena_bytes, samples);
}

// Quantized MUL of int8 (T = i8) or int16 (T = i16) values.
template <typename T, typename Op>
__device__ __forceinline__ void mul(const Op& op, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const MulParams* p = &op.params;
    broadcast_binary<T>(p->broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples, [=](T a, T b) {
        const i32 product = (i32)((u32)((i32)a + p->input1_offset) * (u32)((i32)b + p->input2_offset));
        return (T)clamp_i32(sat_add(mbqm(product, p->output_multiplier, p->output_shift), p->output_offset),
                            p->activation_min, p->activation_max);
    });
}

KILN_KERNEL(kiln_mul) {
    mul<i8>(op, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_mul_s16) {
    mul<i16>(op, W, A, arena_bytes, samples);
}

// int8 DIV: TFLM's integer reciprocal of the divisor; past a shift of 31
// the rounding shift keeps TFLM's x86 arithmetic (kernels::elementwise).
__device__ i32 div_quotient(i32 a, i32 b, i32 multiplier, i32 shift) {
    if (b < 0) { a = wneg(a); b = wneg(b); }
    const i32 h = __clz((u32)b);
    const i32 reciprocal_shift = 31 - h;
    const i32 inverse = one_over_one_plus_x((i32)(((u32)b << (h & 31)) - (1u << 31)));
    const i32 bits = a < 0 ? ~a : a;
    const i32 headroom = bits == 0 ? 31 : __clz((u32)bits) - 1;
    const i32 unscaled = srdhm((i32)((u32)a << headroom), inverse);
    return rdbp_wide(srdhm(unscaled, multiplier), reciprocal_shift + headroom - shift);
}

KILN_KERNEL(kiln_div) {
    const MulParams* p = &op.params;
    broadcast_binary<i8>(p->broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples, [=](i8 a, i8 b) {
        const i32 q = div_quotient((i32)a + p->input1_offset, (i32)b + p->input2_offset, p->output_multiplier, p->output_shift);
        return (i8)clamp_i32(sat_add(q, p->output_offset), p->activation_min, p->activation_max);
    });
}

// PRELU of int8 (T = i8) or int16 (T = i16) values with int8 slopes: the
// identity rescaling where the input is not negative, the input times the
// (broadcast) slope rescaled where it is.
template <typename T, typename Op>
__device__ __forceinline__ void prelu(const Op& op, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const PReluParams* p = &op.params;
    const i32 lo = sizeof(T) == 1 ? -128 : -32768, hi = sizeof(T) == 1 ? 127 : 32767;
    broadcast_binary<T, T, i8>(p->broadcast, op.constant, op.input, op.alpha, op.output, W, A, arena_bytes, samples, [=](T input, i8 alpha) {
        const i32 x = (i32)input + p->input_offset;
        const i32 v = x >= 0 ? mbqm(x, p->identity_multiplier, p->identity_shift)
                             : mbqm(x * ((i32)alpha + p->alpha_offset), p->alpha_multiplier, p->alpha_shift);
        return (T)clamp_i32(sat_add(v, p->output_offset), lo, hi);
    });
}

KILN_KERNEL(kiln_prelu) {
    prelu<i8>(op, W, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_prelu_s16) {
    prelu<i16>(op, W, A, arena_bytes, samples);
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

// Rescaling with a clamp, of int8 (T = i8) or int16 (T = i16) values, of
// the values themselves or (magnitude = 1, int16 ABS) of their magnitude.
template <typename T, typename Op>
__device__ __forceinline__ void requantize(const Op& op, u8* A, i64 arena_bytes, i32 samples,
                                           int magnitude = 0) {
    const RequantizeParams& p = op.params;
    const i32 n = op.input.len / (i32)sizeof(T);
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const T*)arena(A, arena_bytes, s, op.input))[e] - p.input_zero_point;
        const i32 v = sat_add(mbqm(magnitude && x < 0 ? -x : x, p.multiplier, p.shift), p.output_zero_point);
        ((T*)arena(A, arena_bytes, s, op.output))[e] = (T)clamp_i32(v, p.activation_min, p.activation_max);
    }
}

KILN_KERNEL(kiln_requantize) {
    requantize<i8>(op, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_requantize_s16) {
    requantize<i16>(op, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_abs_s16) {
    requantize<i16>(op, A, arena_bytes, samples, 1);
}

// LEAKY_RELU: the `positive` rescaling for inputs at or above the zero
// point, the `negative` one for those below (both read the same input zero
// point).
// LEAKY_RELU of int8 (T = i8) or int16 (T = i16) values.
template <typename T, typename Op>
__device__ __forceinline__ void leaky_relu(const Op& op, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = op.input.len / (i32)sizeof(T), zp = op.positive.input_zero_point;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = (i32)((const T*)arena(A, arena_bytes, s, op.input))[e] - zp;
        const RequantizeParams& r = x >= 0 ? op.positive : op.negative;
        const i32 v = sat_add(mbqm(x, r.multiplier, r.shift), r.output_zero_point);
        ((T*)arena(A, arena_bytes, s, op.output))[e] = (T)clamp_i32(v, r.activation_min, r.activation_max);
    }
}

KILN_KERNEL(kiln_leaky_relu) {
    leaky_relu<i8>(op, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_leaky_relu_s16) {
    leaky_relu<i16>(op, A, arena_bytes, samples);
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


// QUANTIZE between integer widths (kernels::quantize::requantize_int): the
// element read and written as the descriptor's types say.
__device__ __forceinline__ i32 load_int(const u8* at, i64 e, DType t) {
    return t == DType_I8 ? (i32)((const i8*)at)[e] : t == DType_I16 ? (i32)((const i16*)at)[e] : ((const i32*)at)[e];
}

KILN_KERNEL(kiln_requantize_int) {
    const IntRequantizeParams& p = op.params;
    const DType out_type = op.output_type;
    const i32 size = out_type == DType_I8 ? 1 : out_type == DType_I16 ? 2 : 4;
    const i64 n = op.output.len / size;
    const i32 lo = out_type == DType_I8 ? -128 : out_type == DType_I16 ? -32768 : KILN_I32_MIN;
    const i32 hi = out_type == DType_I8 ? 127 : out_type == DType_I16 ? 32767 : KILN_I32_MAX;
    FOR_EACH(idx, n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = wsub(load_int(arena(A, arena_bytes, s, op.input), e, op.input_type), p.input_zero_point);
        const i32 y = clamp_i32(wadd(mbqm(x, p.multiplier, p.shift), p.output_zero_point), lo, hi);
        u8* out = arena(A, arena_bytes, s, op.output);
        if (out_type == DType_I8) ((i8*)out)[e] = (i8)y;
        else if (out_type == DType_I16) ((i16*)out)[e] = (i16)y;
        else ((i32*)out)[e] = y;
    }
}

// QUANTIZE from float32 to int8 (T = i8) or int16 (T = i16): the quotient
// in float32 (as TFLM), rounded half away from zero, then the zero point,
// saturating.
template <typename T, typename Op>
__device__ __forceinline__ void quantize(const Op& op, u8* A, i64 arena_bytes, i32 samples, i32 lo, i32 hi) {
    const i32 n = op.output.len / (i32)sizeof(T), zp = op.params.zero_point;
    const float scale = op.params.scale;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const float v = ((const float*)arena(A, arena_bytes, s, op.input))[e];
        const double q = (double)roundf(v / scale);
        i32 qi = q != q ? 0 : (q >= 2147483647.0 ? KILN_I32_MAX : (q <= -2147483648.0 ? KILN_I32_MIN : (i32)q));
        ((T*)arena(A, arena_bytes, s, op.output))[e] = (T)clamp_i32(sat_add(qi, zp), lo, hi);
    }
}

KILN_KERNEL(kiln_quantize) {
    quantize<i8>(op, A, arena_bytes, samples, -128, 127);
}

KILN_KERNEL(kiln_quantize_s16) {
    quantize<i16>(op, A, arena_bytes, samples, -32768, 32767);
}

// DEQUANTIZE from int8 (T = i8) or int16 (T = i16) to float32.
template <typename T, typename Op>
__device__ __forceinline__ void dequantize(const Op& op, u8* A, i64 arena_bytes, i32 samples) {
    const i32 n = op.input.len / (i32)sizeof(T), zp = op.params.zero_point;
    const double scale = (double)op.params.scale;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 v = ((const T*)arena(A, arena_bytes, s, op.input))[e];
        ((float*)arena(A, arena_bytes, s, op.output))[e] = (float)(scale * (double)wsub(v, zp));
    }
}

KILN_KERNEL(kiln_dequantize) {
    dequantize<i8>(op, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_dequantize_s16) {
    dequantize<i16>(op, A, arena_bytes, samples);
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

KILN_KERNEL(kiln_squared_difference_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return (a - b) * (a - b); });
}

KILN_KERNEL(kiln_div_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) { return a / b; });
}

// FLOOR_DIV and FLOOR_MOD as kernels::elementwise computes them (the
// quotient in double precision; the remainder fmodf's, moved to the
// divisor's sign).
KILN_KERNEL(kiln_floor_div_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples,
               [](float a, float b) { return (float)floor((double)a / (double)b); });
}

KILN_KERNEL(kiln_floor_mod_f32) {
    binary_f32(op.binary, W, A, arena_bytes, samples, [](float a, float b) {
        const float m = fmodf(a, b);
        return (m != 0.0f && ((b < 0.0f) != (m < 0.0f))) ? m + b : m;
    });
}

// PRELU in float32: `alpha` is the (broadcast) slope of negative inputs.
KILN_KERNEL(kiln_prelu_f32) {
    broadcast_binary<float>(op.broadcast, op.constant, op.input, op.alpha, op.output, W, A, arena_bytes, samples,
                            [](float a, float b) { return a < 0.0f ? a * b : a; });
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

// kernels::unary::UnaryFunction::at, with the CUDA math library's
// functions (within the float tolerance held against TFLM).
__device__ __forceinline__ float unary_function(UnaryFunction f, float v) {
    switch (f) {
    case UnaryFunction_Exp: return expf(v);
    case UnaryFunction_Sqrt: return sqrtf(v);
    case UnaryFunction_Rsqrt: return 1.0f / sqrtf(v);
    case UnaryFunction_Log: return logf(v);
    case UnaryFunction_Abs: return fabsf(v);
    case UnaryFunction_Neg: return -v;
    case UnaryFunction_Square: return v * v;
    case UnaryFunction_Sin: return sinf(v);
    case UnaryFunction_Cos: return cosf(v);
    case UnaryFunction_Logistic: return 1.0f / (1.0f + expf(-v));
    case UnaryFunction_Tanh: return tanhf(v);
    case UnaryFunction_Floor: return floorf(v);
    case UnaryFunction_Ceil: return ceilf(v);
    case UnaryFunction_Round: return rintf(v);
    case UnaryFunction_Elu: return v < 0.0f ? expm1f(v) : v;
    case UnaryFunction_Erf: return erff(v);
    default: return v;
    }
}

KILN_KERNEL(kiln_unary_f32) {
    const UnaryFunction f = op.function;
    unary_f32(op.input, op.output, A, arena_bytes, samples, [=](float v) { return unary_function(f, v); });
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

// ---- comparisons, SELECT_V2, MAXIMUM and MINIMUM (kernels::compare).

// CompareKind::holds, for any value type.
template <typename T>
__device__ __forceinline__ bool compare_holds(CompareKind kind, T a, T b) {
    switch (kind) {
    case CompareKind_Less: return a < b;
    case CompareKind_LessEqual: return a <= b;
    case CompareKind_Greater: return a > b;
    case CompareKind_GreaterEqual: return a >= b;
    case CompareKind_Equal: return a == b;
    default: return a != b;
    }
}

KILN_KERNEL(kiln_compare) {
    const CompareParams p = op.params;
    broadcast_binary<i8>(p.broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples, [=](i8 a, i8 b) {
        const i32 x = mbqm((i32)((u32)(p.input1_offset + a) << p.left_shift), p.input1_multiplier, p.input1_shift);
        const i32 y = mbqm((i32)((u32)(p.input2_offset + b) << p.left_shift), p.input2_multiplier, p.input2_shift);
        return (i8)compare_holds<i32>(p.kind, x, y);
    });
}

KILN_KERNEL(kiln_compare_f32) {
    const CompareKind kind = op.kind;
    broadcast_binary<float, i8>(op.broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples,
                                [=](float a, float b) { return (i8)compare_holds<float>(kind, a, b); });
}

KILN_KERNEL(kiln_max_min) {
    const bool maximum = op.maximum;
    broadcast_binary<i8>(op.broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples,
                         [=](i8 a, i8 b) { return (maximum ? a < b : b < a) ? b : a; });
}

KILN_KERNEL(kiln_max_min_f32) {
    const bool maximum = op.maximum;
    broadcast_binary<float>(op.broadcast, op.constant, op.input1, op.input2, op.output, W, A, arena_bytes, samples,
                            [=](float a, float b) { return (maximum ? a < b : b < a) ? b : a; });
}

// Plain-integer ADD, SUB, MUL, MAXIMUM, MINIMUM (kernels::integer): the
// exact result in 64 bits wrapped to the tensor's type, then clamped.
template <typename T>
__device__ __forceinline__ void integer_binary(const IntegerBinaryOp& o, const u8* W, u8* A, i64 arena_bytes,
                                               i32 samples) {
    const IntegerParams p = o.params;
    broadcast_binary<T>(p.broadcast, o.constant, o.input1, o.input2, o.output, W, A, arena_bytes, samples,
                        [=](T x, T y) {
                            const i64 a = x, b = y;
                            i64 v;
                            switch (p.function) {
                            case IntegerFunction_Add: v = (T)(a + b); break;
                            case IntegerFunction_Sub: v = (T)(a - b); break;
                            case IntegerFunction_Mul: v = (T)(a * b); break;
                            case IntegerFunction_Max: v = a < b ? b : a; break;
                            default: v = b < a ? b : a; break;
                            }
                            if (v < p.activation_min) v = p.activation_min;
                            if (v > p.activation_max) v = p.activation_max;
                            return (T)v;
                        });
}

KILN_KERNEL(kiln_integer_binary) {
    switch (op.dtype) {
    case DType_I8: integer_binary<i8>(op, W, A, arena_bytes, samples); break;
    case DType_I16: integer_binary<i16>(op, W, A, arena_bytes, samples); break;
    case DType_I32: integer_binary<i32>(op, W, A, arena_bytes, samples); break;
    default: break;
    }
}

// A plain-integer comparison (kernels::compare::compare_values) to bool.
template <typename T>
__device__ __forceinline__ void integer_compare(const IntegerCompareOp& o, const u8* W, u8* A, i64 arena_bytes,
                                                i32 samples) {
    const CompareKind kind = o.kind;
    broadcast_binary<T, i8>(o.broadcast, o.constant, o.input1, o.input2, o.output, W, A, arena_bytes, samples,
                            [=](T a, T b) { return (i8)compare_holds<T>(kind, a, b); });
}

KILN_KERNEL(kiln_integer_compare) {
    switch (op.dtype) {
    case DType_I8: integer_compare<i8>(op, W, A, arena_bytes, samples); break;
    case DType_I16: integer_compare<i16>(op, W, A, arena_bytes, samples); break;
    case DType_I32: integer_compare<i32>(op, W, A, arena_bytes, samples); break;
    default: break;
    }
}

// SELECT_V2: the condition's index from the output's coordinates and its
// own strides; the values through the broadcast of `values`.
template <typename T>
__device__ __forceinline__ void select_values(const SelectOp& o, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    const Broadcast& b = o.geometry.values;
    const i64 per_sample = broadcast_elements(b);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample;
        const i64 e = idx % per_sample;
        i64 ia, ib, ic = 0, rest = e;
        broadcast_indices(b, e, &ia, &ib);
        for (int d = 5; d >= 0; d--) {
            ic += (rest % (i32)b.output_dims[d]) * (i32)o.geometry.condition_strides[d];
            rest /= (i32)b.output_dims[d];
        }
        const u8* sample = A + s * arena_bytes;
        const T x = ((const T*)((o.constant == ConstantOperand_First ? W : sample) + o.input1.offset))[ia];
        const T y = ((const T*)((o.constant == ConstantOperand_Second ? W : sample) + o.input2.offset))[ib];
        const i8 c = ((const i8*)(sample + o.condition.offset))[ic];
        ((T*)(A + s * arena_bytes + o.output.offset))[e] = c ? x : y;
    }
}

KILN_KERNEL(kiln_select) {
    // It moves values: by their size (float32 as its 32 bits).
    if (op.element == DType_F32 || op.element == DType_I32) select_values<i32>(op, W, A, arena_bytes, samples);
    else if (op.element == DType_I16) select_values<i16>(op, W, A, arena_bytes, samples);
    else select_values<i8>(op, W, A, arena_bytes, samples);
}

// CAST as C++'s static_cast converts: integers wrap into a narrower type,
// floats truncate toward zero (saturating to int32 out of range, as the
// Cortex-M's VCVT and the Rust kernel do), anything nonzero is a true bool.
KILN_KERNEL(kiln_cast) {
    const i32 from_size = op.from == CastType_I16 ? 2 : (op.from == CastType_I32 || op.from == CastType_F32) ? 4 : 1;
    const i32 to_size = op.to == CastType_I16 ? 2 : (op.to == CastType_I32 || op.to == CastType_F32) ? 4 : 1;
    const i64 per_sample = op.input.len / from_size;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const u8* in = arena(A, arena_bytes, s, op.input) + e * from_size;
        u8* out = arena(A, arena_bytes, s, op.output) + e * to_size;
        // To the same type: the bytes as they are (READ_VARIABLE, ASSIGN_VARIABLE).
        if (op.from == op.to) {
            for (i32 k = 0; k < from_size; k++) out[k] = in[k];
            continue;
        }
        bool is_float = op.from == CastType_F32;
        float f = 0.0f;
        long long v = 0;
        if (op.from == CastType_I16) v = *(const short*)in;
        else if (op.from == CastType_I32) v = *(const int*)in;
        else if (is_float) f = *(const float*)in;
        else v = (signed char)in[0];
        if (op.to == CastType_F32) {
            *(float*)out = is_float ? f : (float)v;
        } else if (op.to == CastType_Bool) {
            out[0] = is_float ? (f != 0.0f) : (v != 0);
        } else {
            // Saturating to int32, NaN to 0, as Rust's `as` (C++ leaves it undefined).
            if (is_float) v = f != f ? 0 : f >= 2147483647.0f ? 2147483647LL : f <= -2147483648.0f ? -2147483648LL : (long long)f;
            if (op.to == CastType_I8) out[0] = (u8)v;
            else if (op.to == CastType_I16) *(short*)out = (short)v;
            else *(int*)out = (int)v;
        }
    }
}

// An int8 function of one value as a table of its 256 results (in the
// weights), indexed by the input's byte.
KILN_KERNEL(kiln_lookup) {
    const i64 per_sample = op.output.len;
    const i8* table = (const i8*)(W + op.table.offset);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const u8 x = arena(A, arena_bytes, s, op.input)[e];
        ((i8*)arena(A, arena_bytes, s, op.output))[e] = table[x];
    }
}

// SignalEnergy: each complex int16 bin's squared magnitude as uint32, over
// bins start..end, 0 elsewhere (kernels::signal_energy).
KILN_KERNEL(kiln_signal_energy) {
    const i64 bins = op.output.len / 4;
    const i64 start = op.start, end = op.end;
    FOR_EACH(idx, bins * samples) {
        const i64 s = idx / bins, i = idx % bins;
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input) + 2 * i;
        const i32 re = x[0], im = x[1];
        ((u32*)arena(A, arena_bytes, s, op.output))[i] =
            i >= start && i < end ? (u32)(re * re) + (u32)(im * im) : 0u;
    }
}

// SignalFilterBankLog (kernels::signal_filter_bank_log): log2 as an integer
// part and a Q16 fraction corrected by the bow of log2 above its chord (with
// TFLM's near-step interpolation), times ln 2 and the output scale in Q16.
__device__ const unsigned short kiln_log2_bow[129] = {
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797,
    2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633,
    4714, 4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507,
    5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586,
    5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000,
    4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
    3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207,
    2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142,
    0};

__device__ u32 log32(u32 x, u32 out_scale) {
    const u32 integer = 31 - __clz(x);
    const i32 above = (i32)(x - (1u << integer));
    const i32 frac = integer < 16 ? above << (16 - integer) : above >> (integer - 16);
    const i32 segment = frac >> 9;
    const i32 c0 = kiln_log2_bow[segment], c1 = kiln_log2_bow[segment + 1];
    const u32 fraction = (u32)(frac + c0 + (((c1 - c0) * (frac - 512 * segment)) >> 16));
    const u32 log2 = (integer << 16) + fraction;
    const u32 loge = (u32)((45426ull * log2 + 32768) >> 16);
    return (out_scale * loge + 32768u) >> 16;
}

KILN_KERNEL(kiln_signal_filter_bank_log) {
    const i64 channels = op.output.len / 2;
    FOR_EACH(idx, channels * samples) {
        const i64 s = idx / channels, i = idx % channels;
        const u32 scaled = ((const u32*)arena(A, arena_bytes, s, op.input))[i] << op.correction_bits;
        const u32 log = scaled > 1 ? log32(scaled, op.output_scale) : 0;
        ((i16*)arena(A, arena_bytes, s, op.output))[i] = (i16)(log < 32767 ? log : 32767);
    }
}

// SignalPCAN (kernels::signal_pcan): each channel times the gain of its
// noise estimate (a quadratic in the 10 bits below the estimate's leading
// one), shifted, kept to uint32, then shrunk (x^2/4 below 2, x - 1 above).
__device__ i16 pcan_gain(u32 x, const i16* lut) {
    if (x <= 2) return lut[x];
    const i32 interval = 32 - __clz(x);
    const i16* c = lut + 4 * interval - 6;
    const i32 frac = (i32)((interval < 11 ? x << (11 - interval) : x >> (interval - 11)) & 0x3ff);
    i32 result = ((i32)c[2] * frac) >> 5;
    result = (i32)((u32)result + ((u32)(i32)c[1] << 5));
    result = (i32)((u32)result * (u32)frac);
    result = (i32)((u32)result + (1u << 14)) >> 15;
    return (i16)(result + c[0]);
}

KILN_KERNEL(kiln_signal_pcan) {
    const i64 channels = op.output.len / 4;
    const i16* lut = (const i16*)(W + op.gain_lut.offset);
    FOR_EACH(idx, channels * samples) {
        const i64 s = idx / channels, i = idx % channels;
        const u32 x = ((const u32*)arena(A, arena_bytes, s, op.input))[i];
        const u32 noise = ((const u32*)arena(A, arena_bytes, s, op.noise))[i];
        const u32 gain = (u32)(i32)pcan_gain(noise, lut);
        const u32 snr = (u32)(((unsigned long long)x * gain) >> op.snr_shift);
        ((u32*)arena(A, arena_bytes, s, op.output))[i] =
            snr < (2u << 12) ? (snr * snr) >> 20 : (snr >> 6) - (1u << 6);
    }
}

// SignalFilterBankSquareRoot (kernels::signal_filter_bank_square_root): the
// rounded square root of each uint64 channel, digit by digit (below 2^32 in
// TFLM's 32-bit way, never rounding past 65535), shifted right.
__device__ unsigned long long sqrt_digits(unsigned long long x, int top, unsigned long long limit) {
    unsigned long long root = 0;
    for (unsigned long long bit = 1ull << top; bit > 0; bit >>= 2) {
        if (x >= root + bit) {
            x -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
    }
    return root + (x > root && root != limit ? 1 : 0);
}

KILN_KERNEL(kiln_signal_filter_bank_square_root) {
    const i64 channels = op.output.len / 4;
    FOR_EACH(idx, channels * samples) {
        const i64 s = idx / channels, i = idx % channels;
        const unsigned long long x = ((const unsigned long long*)arena(A, arena_bytes, s, op.input))[i];
        u32 root;
        if (x == 0) root = 0;
        else if ((x >> 32) == 0) root = (u32)sqrt_digits(x, 31 - (__clz((u32)x) | 1), 0xffffull);
        else root = (u32)sqrt_digits(x, 63 - (__clzll(x) | 1), 0xffffffffull);
        const u32 bits = op.bits.len ? (u32)*(const i32*)arena(A, arena_bytes, s, op.bits) : op.scale_down_bits;
        ((u32*)arena(A, arena_bytes, s, op.output))[i] = root >> (bits & 31);
    }
}

// SignalFilterBank (kernels::signal_filter_bank): uint32 energies summed
// into uint64 channels, each band's bins weighted into its channel and
// unweighted into the next, wrapping in uint64 (one thread per sample).
KILN_KERNEL(kiln_signal_filter_bank) {
    typedef unsigned long long u64;
    const i64 channels = op.output.len / 8;
    const i16* weights = (const i16*)(W + op.weights.offset);
    const i16* unweights = (const i16*)(W + op.unweights.offset);
    const i16* freq_starts = (const i16*)(W + op.frequency_starts.offset);
    const i16* weight_starts = (const i16*)(W + op.weight_starts.offset);
    const i16* widths = (const i16*)(W + op.widths.offset);
    FOR_EACH(s, (i64)samples) {
        const u32* energy = (const u32*)arena(A, arena_bytes, s, op.input);
        u64* out = (u64*)arena(A, arena_bytes, s, op.output);
        u64 weighted = 0, unweighted = 0;
        for (i64 band = 0; band <= channels; band++) {
            for (i32 j = 0; j < widths[band]; j++) {
                const u64 e = energy[freq_starts[band] + j];
                weighted += (u64)(long long)weights[weight_starts[band] + j] * e;
                unweighted += (u64)(long long)unweights[weight_starts[band] + j] * e;
            }
            if (band > 0) out[band - 1] = weighted;
            weighted = unweighted;
            unweighted = 0;
        }
    }
}

// SignalRfft (kernels::kiss_fft, kernels::signal_rfft): kissfft's real
// FFT in its int16, int32 and float32 builds, one thread per frame. Fft<T>
// holds a build's arithmetic: the fixed-point ones wrap where C's int
// arithmetic, stored back, truncates; their products round in Q15 or Q31.
template <typename T> struct Fft;
template <> struct Fft<i16> {
    static __device__ i16 add(i16 a, i16 b) { return (i16)(a + b); }
    static __device__ i16 sub(i16 a, i16 b) { return (i16)(a - b); }
    static __device__ i16 neg(i16 a) { return (i16)(-a); }
    static __device__ i16 round(i32 x) { return (i16)((i32)((u32)x + (1u << 14)) >> 15); }
    static __device__ i16 mul(i16 a, i16 b) { return round((i32)a * b); }
    static __device__ i16 mul_sub(i16 a, i16 b, i16 c, i16 d) { return round((i32)((u32)((i32)a * b) - (u32)((i32)c * d))); }
    static __device__ i16 mul_add(i16 a, i16 b, i16 c, i16 d) { return round((i32)((u32)((i32)a * b) + (u32)((i32)c * d))); }
    static __device__ i16 div(i16 a, i32 k) { return mul(a, (i16)(32767 / k)); }
    static __device__ i16 half(i16 a) { return (i16)(a >> 1); }
    static __device__ i16 half_sum(i16 a, i16 b) { return (i16)(((i32)a + b) >> 1); }
    static __device__ i16 half_diff(i16 a, i16 b) { return (i16)(((i32)a - b) >> 1); }
};
template <> struct Fft<i32> {
    typedef long long i64w;
    typedef unsigned long long u64w;
    static __device__ i32 add(i32 a, i32 b) { return (i32)((u32)a + (u32)b); }
    static __device__ i32 sub(i32 a, i32 b) { return (i32)((u32)a - (u32)b); }
    static __device__ i32 neg(i32 a) { return (i32)(0u - (u32)a); }
    static __device__ i32 round(i64w x) { return (i32)((i64w)((u64w)x + (1ull << 30)) >> 31); }
    static __device__ i32 mul(i32 a, i32 b) { return round((i64w)a * b); }
    static __device__ i32 mul_sub(i32 a, i32 b, i32 c, i32 d) { return round((i64w)((u64w)((i64w)a * b) - (u64w)((i64w)c * d))); }
    static __device__ i32 mul_add(i32 a, i32 b, i32 c, i32 d) { return round((i64w)((u64w)((i64w)a * b) + (u64w)((i64w)c * d))); }
    static __device__ i32 div(i32 a, i32 k) { return mul(a, KILN_I32_MAX / k); }
    static __device__ i32 half(i32 a) { return a >> 1; }
    static __device__ i32 half_sum(i32 a, i32 b) { return add(a, b) >> 1; }
    static __device__ i32 half_diff(i32 a, i32 b) { return sub(a, b) >> 1; }
};
template <> struct Fft<float> {
    static __device__ float add(float a, float b) { return a + b; }
    static __device__ float sub(float a, float b) { return a - b; }
    static __device__ float neg(float a) { return -a; }
    static __device__ float mul(float a, float b) { return a * b; }
    static __device__ float mul_sub(float a, float b, float c, float d) { return a * b - c * d; }
    static __device__ float mul_add(float a, float b, float c, float d) { return a * b + c * d; }
    static __device__ float div(float a, i32) { return a; }
    static __device__ float half(float a) { return a * 0.5f; }
    static __device__ float half_sum(float a, float b) { return (a + b) * 0.5f; }
    static __device__ float half_diff(float a, float b) { return (a - b) * 0.5f; }
};

template <typename T> struct Cx { T r, i; };
template <typename T> __device__ Cx<T> c_add(Cx<T> a, Cx<T> b) { return {Fft<T>::add(a.r, b.r), Fft<T>::add(a.i, b.i)}; }
template <typename T> __device__ Cx<T> c_sub(Cx<T> a, Cx<T> b) { return {Fft<T>::sub(a.r, b.r), Fft<T>::sub(a.i, b.i)}; }
template <typename T> __device__ Cx<T> c_mul(Cx<T> a, Cx<T> b) {
    return {Fft<T>::mul_sub(a.r, b.r, a.i, b.i), Fft<T>::mul_add(a.r, b.i, a.i, b.r)};
}
template <typename T> __device__ Cx<T> c_div(Cx<T> a, i32 k) { return {Fft<T>::div(a.r, k), Fft<T>::div(a.i, k)}; }

// kissfft's butterflies over `f`: p runs of m points; twiddles every fstride-th.
template <typename T> __device__ void kiss_bfly2(Cx<T>* f, const Cx<T>* tw, i64 fstride, i64 m) {
    for (i64 u = 0; u < m; u++) {
        const Cx<T> a = c_div(f[u], 2), b = c_div(f[u + m], 2);
        const Cx<T> t = c_mul(b, tw[u * fstride]);
        f[u + m] = c_sub(a, t);
        f[u] = c_add(a, t);
    }
}

template <typename T> __device__ void kiss_bfly3(Cx<T>* f, const Cx<T>* tw, i64 fstride, i64 m) {
    typedef Fft<T> F;
    const Cx<T> epi3 = tw[fstride * m];
    for (i64 u = 0; u < m; u++) {
        const Cx<T> f0 = c_div(f[u], 3), f1 = c_div(f[u + m], 3), f2 = c_div(f[u + 2 * m], 3);
        const Cx<T> s1 = c_mul(f1, tw[u * fstride]), s2 = c_mul(f2, tw[2 * u * fstride]);
        const Cx<T> s3 = c_add(s1, s2);
        Cx<T> s0 = c_sub(s1, s2);
        const Cx<T> o1 = {F::sub(f0.r, F::half(s3.r)), F::sub(f0.i, F::half(s3.i))};
        s0 = {F::mul(s0.r, epi3.i), F::mul(s0.i, epi3.i)};
        f[u] = c_add(f0, s3);
        f[u + 2 * m] = {F::add(o1.r, s0.i), F::sub(o1.i, s0.r)};
        f[u + m] = {F::sub(o1.r, s0.i), F::add(o1.i, s0.r)};
    }
}

template <typename T> __device__ void kiss_bfly4(Cx<T>* f, const Cx<T>* tw, i64 fstride, i64 m, bool inverse) {
    typedef Fft<T> F;
    for (i64 u = 0; u < m; u++) {
        Cx<T> f0 = c_div(f[u], 4);
        const Cx<T> f1 = c_div(f[u + m], 4), f2 = c_div(f[u + 2 * m], 4), f3 = c_div(f[u + 3 * m], 4);
        const Cx<T> s0 = c_mul(f1, tw[u * fstride]), s1 = c_mul(f2, tw[2 * u * fstride]), s2 = c_mul(f3, tw[3 * u * fstride]);
        const Cx<T> s5 = c_sub(f0, s1);
        f0 = c_add(f0, s1);
        const Cx<T> s3 = c_add(s0, s2), s4 = c_sub(s0, s2);
        f[u + 2 * m] = c_sub(f0, s3);
        f[u] = c_add(f0, s3);
        const Cx<T> minus = {F::add(s5.r, s4.i), F::sub(s5.i, s4.r)};
        const Cx<T> plus = {F::sub(s5.r, s4.i), F::add(s5.i, s4.r)};
        f[u + m] = inverse ? plus : minus;
        f[u + 3 * m] = inverse ? minus : plus;
    }
}

template <typename T> __device__ void kiss_bfly5(Cx<T>* f, const Cx<T>* tw, i64 fstride, i64 m) {
    typedef Fft<T> F;
    const Cx<T> ya = tw[fstride * m], yb = tw[fstride * 2 * m];
    for (i64 u = 0; u < m; u++) {
        const Cx<T> s0 = c_div(f[u], 5);
        const Cx<T> s1 = c_mul(c_div(f[u + m], 5), tw[u * fstride]);
        const Cx<T> s2 = c_mul(c_div(f[u + 2 * m], 5), tw[2 * u * fstride]);
        const Cx<T> s3 = c_mul(c_div(f[u + 3 * m], 5), tw[3 * u * fstride]);
        const Cx<T> s4 = c_mul(c_div(f[u + 4 * m], 5), tw[4 * u * fstride]);
        const Cx<T> s7 = c_add(s1, s4), s10 = c_sub(s1, s4), s8 = c_add(s2, s3), s9 = c_sub(s2, s3);
        const Cx<T> o0 = {F::add(s0.r, F::add(s7.r, s8.r)), F::add(s0.i, F::add(s7.i, s8.i))};
        const Cx<T> s5 = {F::add(F::add(s0.r, F::mul(s7.r, ya.r)), F::mul(s8.r, yb.r)),
                          F::add(F::add(s0.i, F::mul(s7.i, ya.r)), F::mul(s8.i, yb.r))};
        const Cx<T> s6 = {F::add(F::mul(s10.i, ya.i), F::mul(s9.i, yb.i)),
                          F::sub(F::neg(F::mul(s10.r, ya.i)), F::mul(s9.r, yb.i))};
        const Cx<T> s11 = {F::add(F::add(s0.r, F::mul(s7.r, yb.r)), F::mul(s8.r, ya.r)),
                           F::add(F::add(s0.i, F::mul(s7.i, yb.r)), F::mul(s8.i, ya.r))};
        const Cx<T> s12 = {F::add(F::neg(F::mul(s10.i, yb.i)), F::mul(s9.i, ya.i)),
                           F::sub(F::mul(s10.r, yb.i), F::mul(s9.r, ya.i))};
        f[u] = o0;
        f[u + m] = c_sub(s5, s6);
        f[u + 4 * m] = c_add(s5, s6);
        f[u + 2 * m] = c_add(s11, s12);
        f[u + 3 * m] = c_sub(s11, s12);
    }
}

// kiss_fft of the n points x[2j], x[2j + 1] (zero at and past x_len) into
// out: the leaves placed by a mixed-radix counter, then the stages bottom up.
template <typename T>
__device__ void kiss_fft(i64 n, const Cx<T>* tw, bool inverse, const T* x, i64 x_len, Cx<T>* out) {
    u32 radices[32], digits[32];
    i64 strides[32];
    int stages = 0;
    {
        const u32 floor_sqrt = (u32)sqrt((double)n);
        u32 rest = (u32)n, p = 4;
        do {
            while (rest % p) {
                p = p == 4 ? 2 : p == 2 ? 3 : p + 2;
                if (p > floor_sqrt) p = rest;
            }
            rest /= p;
            radices[stages++] = p;
        } while (rest > 1 && stages < 32);
    }
    i64 stride = 1;
    for (int s = 0; s < stages; s++) {
        strides[s] = stride;
        digits[s] = 0;
        stride *= radices[s];
    }
    i64 j = 0;
    for (i64 k = 0; k < n; k++) {
        out[k] = {2 * j < x_len ? x[2 * j] : (T)0, 2 * j + 1 < x_len ? x[2 * j + 1] : (T)0};
        for (int s = stages - 1; s >= 0; s--) {
            digits[s]++;
            j += strides[s];
            if (digits[s] < radices[s]) break;
            digits[s] = 0;
            j -= radices[s] * strides[s];
        }
    }
    for (int s = stages - 1; s >= 0; s--) {
        const i64 p = radices[s], fstride = strides[s], m = n / (fstride * p);
        for (i64 b = 0; b < fstride; b++) {
            Cx<T>* f = out + b * p * m;
            switch (p) {
                case 2: kiss_bfly2(f, tw, fstride, m); break;
                case 3: kiss_bfly3(f, tw, fstride, m); break;
                case 4: kiss_bfly4(f, tw, fstride, m, inverse); break;
                case 5: kiss_bfly5(f, tw, fstride, m); break;
                default: f[0] = c_div(f[0], 1); break;
            }
        }
    }
}

template <typename T>
__device__ void signal_rfft(const kiln_signal_rfft_descriptor& op, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    typedef Fft<T> F;
    const i64 length = op.fft_length, n = length / 2, frame = op.input_length;
    const i64 frames = op.input.len / (i64)sizeof(T) / frame;
    const Cx<T>* inner = (const Cx<T>*)(W + op.twiddles.offset);
    const Cx<T>* split = inner + n;
    FOR_EACH(idx, frames * samples) {
        const i64 s = idx / frames, fr = idx % frames;
        const T* x = (const T*)arena(A, arena_bytes, s, op.input) + fr * frame;
        Cx<T>* y = (Cx<T>*)((T*)arena(A, arena_bytes, s, op.output) + fr * (length + 2));
        kiss_fft<T>(n, inner, false, x, frame, y);
        const Cx<T> dc = c_div(y[0], 2);
        y[0] = {F::add(dc.r, dc.i), (T)0};
        y[n] = {F::sub(dc.r, dc.i), (T)0};
        for (i64 k = 1; k <= n / 2; k++) {
            const Cx<T> fpk = c_div(y[k], 2);
            const Cx<T> fpnk = c_div(Cx<T>{y[n - k].r, F::neg(y[n - k].i)}, 2);
            const Cx<T> f1k = c_add(fpk, fpnk), f2k = c_sub(fpk, fpnk);
            const Cx<T> tw = c_mul(f2k, split[k - 1]);
            y[k] = {F::half_sum(f1k.r, tw.r), F::half_sum(f1k.i, tw.i)};
            y[n - k] = {F::half_diff(f1k.r, tw.r), F::half_diff(tw.i, f1k.i)};
        }
    }
}

KILN_KERNEL(kiln_signal_rfft) {
    if (op.dtype == DType_I32) signal_rfft<i32>(op, W, A, arena_bytes, samples);
    else if (op.dtype == DType_F32) signal_rfft<float>(op, W, A, arena_bytes, samples);
    else signal_rfft<i16>(op, W, A, arena_bytes, samples);
}

// SignalIrfft (kernels::signal_irfft): the spectrum folded into the
// half-length FFT's input (the op's scratch), its inverse FFT, and TFLM's
// division by the length in float32. One thread per sample: its frames
// share the scratch.
template <typename T> __device__ T irfft_unscale(T v, i64) { return v; }
template <> __device__ float irfft_unscale<float>(float v, i64 length) { return v / (float)length; }

template <typename T>
__device__ void signal_irfft(const kiln_signal_irfft_descriptor& op, const u8* W, u8* A, i64 arena_bytes, i32 samples) {
    typedef Fft<T> F;
    const i64 length = op.fft_length, n = length / 2;
    const i64 frames = op.output.len / (i64)sizeof(T) / length;
    const Cx<T>* inner = (const Cx<T>*)(W + op.twiddles.offset);
    const Cx<T>* fold = inner + n;
    FOR_EACH(s, (i64)samples) {
        Cx<T>* z = (Cx<T>*)arena(A, arena_bytes, s, op.scratch);
        for (i64 fr = 0; fr < frames; fr++) {
            const Cx<T>* bins = (const Cx<T>*)((const T*)arena(A, arena_bytes, s, op.input) + fr * (length + 2));
            T* y = (T*)arena(A, arena_bytes, s, op.output) + fr * length;
            z[0] = c_div(Cx<T>{F::add(bins[0].r, bins[n].r), F::sub(bins[0].r, bins[n].r)}, 2);
            for (i64 k = 1; k <= n / 2; k++) {
                const Cx<T> fk = c_div(bins[k], 2);
                const Cx<T> fnkc = c_div(Cx<T>{bins[n - k].r, F::neg(bins[n - k].i)}, 2);
                const Cx<T> fek = c_add(fk, fnkc);
                const Cx<T> fok = c_mul(c_sub(fk, fnkc), fold[k - 1]);
                z[k] = c_add(fek, fok);
                const Cx<T> d = c_sub(fek, fok);
                z[n - k] = Cx<T>{d.r, F::neg(d.i)};
            }
            kiss_fft<T>(n, inner, true, (const T*)z, 2 * n, (Cx<T>*)y);
            for (i64 i = 0; i < length; i++) y[i] = irfft_unscale<T>(y[i], length);
        }
    }
}

KILN_KERNEL(kiln_signal_irfft) {
    if (op.dtype == DType_I32) signal_irfft<i32>(op, W, A, arena_bytes, samples);
    else if (op.dtype == DType_F32) signal_irfft<float>(op, W, A, arena_bytes, samples);
    else signal_irfft<i16>(op, W, A, arena_bytes, samples);
}

// SignalFilterBankSpectralSubtraction
// (kernels::signal_spectral_subtraction): each uint32 channel less its
// running noise estimate (state, updated), the estimates copied to the
// second output; one thread per channel.
KILN_KERNEL(kiln_signal_spectral_subtraction) {
    typedef unsigned long long u64;
    const i64 channels = op.input.len / 4;
    const u32 bits = op.subtraction_bits & 63, shift = op.smoothing_bits & 31;
    FOR_EACH(idx, channels * samples) {
        const i64 s = idx / channels, i = idx % channels;
        const u32 x = ((const u32*)arena(A, arena_bytes, s, op.input))[i];
        u32* noise = (u32*)arena(A, arena_bytes, s, op.state) + i;
        const u32 smoothing = i % 2 == 0 ? op.smoothing : op.alternate_smoothing;
        const u32 one_minus = i % 2 == 0 ? op.one_minus_smoothing : op.alternate_one_minus_smoothing;
        const u32 scaled = x << shift;
        *noise = (u32)(((u64)scaled * smoothing + (u64)*noise * one_minus) >> bits);
        u32 estimate = *noise;
        if (estimate > scaled) {
            estimate = scaled;
            if (op.clamping) *noise = estimate;
        }
        const u32 floor = (u32)(((u64)x * op.min_signal_remaining) >> bits);
        const u32 subtracted = (scaled - estimate) >> shift;
        ((u32*)arena(A, arena_bytes, s, op.output))[i] = subtracted > floor ? subtracted : floor;
        ((u32*)arena(A, arena_bytes, s, op.noise_output))[i] = *noise;
    }
}

// SignalFramer (kernels::signal_framer): int16 samples cut into
// overlapping frames; each row's state is its count of samples held and
// its tail, the stream's last samples. One thread per sample: its rows
// share the flag saying whether every frame was whole.
KILN_KERNEL(kiln_signal_framer) {
    const i64 size = op.size, step = op.step, frames = op.frames;
    const i64 tail = (size + step - 1) / step * step - step;
    const i64 rows = op.state.len / 2 / (tail + 1);
    FOR_EACH(s, (i64)samples) {
        const i16* input = (const i16*)arena(A, arena_bytes, s, op.input);
        i16* state = (i16*)arena(A, arena_bytes, s, op.state);
        i16* output = (i16*)arena(A, arena_bytes, s, op.output);
        bool whole = true;
        for (i64 r = 0; r < rows; r++) {
            i16* count = state + r * (tail + 1);
            i16* buffer = count + 1;
            for (i64 f = 0; f < frames; f++) {
                const i16* fresh = input + (r * frames + f) * step;
                i16* out = output + (r * frames + f) * size;
                const i64 held = op.prefill ? size - step : (i64)(unsigned short)*count;
                if (held + step >= size) {
                    for (i64 j = 0; j < size; j++) {
                        const i64 i = tail - held + j;
                        out[j] = i < tail ? buffer[i] : fresh[i - tail];
                    }
                } else {
                    whole = false;
                    for (i64 j = 0; j < size; j++) out[j] = 0;
                    *count = (i16)(held + step);
                }
                for (i64 i = 0; i < tail; i++) {
                    const i64 k = i + step;
                    buffer[i] = k < tail ? buffer[k] : fresh[k - tail];
                }
            }
        }
        *(u8*)arena(A, arena_bytes, s, op.valid) = whole ? 1 : 0;
    }
}

// SignalStacker (kernels::signal_stacker): a frame of int16 channels
// joins the last window - 1 (state: a count, then those frames); a window
// comes out once enough are held. One thread per sample.
KILN_KERNEL(kiln_signal_stacker) {
    const i64 channels = op.input.len / 2, window = op.window;
    const i64 kept = (window - 1) * channels;
    FOR_EACH(s, (i64)samples) {
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input);
        i16* count = (i16*)arena(A, arena_bytes, s, op.state);
        i16* tail = count + 1;
        i16* out = (i16*)arena(A, arena_bytes, s, op.output);
        i64 held;
        if (*count == 0) {
            const i64 start = kept - (i64)op.left * channels;
            for (i64 i = start > 0 ? start : 0; i < kept; i++) tail[i] = x[(i - start) % channels];
            held = (i64)op.left + 1;
        } else {
            held = (i64)(unsigned short)*count;
        }
        const bool whole = held >= window;
        for (i64 i = 0; i < window * channels; i++) out[i] = whole ? (i < kept ? tail[i] : x[i - kept]) : (i16)0;
        for (i64 i = 0; i < kept; i++) {
            const i64 k = i + channels;
            tail[i] = k < kept ? tail[k] : x[k - kept];
        }
        if (whole) held -= op.step;
        *count = (i16)(held + 1);
        *(u8*)arena(A, arena_bytes, s, op.valid) = whole ? 1 : 0;
    }
}

// SignalWindow: frames of int16 samples times the window, shifted right
// (arithmetically) and saturated (kernels::signal_window).
KILN_KERNEL(kiln_signal_window) {
    const i64 per_sample = op.input.len / 2;
    const i64 frame = op.window.len / 2;
    const i16* window = (const i16*)(W + op.window.offset);
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        const i32 x = ((const i16*)arena(A, arena_bytes, s, op.input))[e];
        const i32 raw = (x * (i32)window[e % frame]) >> op.shift;
        ((i16*)arena(A, arena_bytes, s, op.output))[e] = (i16)(raw < -32768 ? -32768 : raw > 32767 ? 32767 : raw);
    }
}

// SignalFftAutoScale: TFLM's int16 running maximum magnitude (-32768
// negates to itself), the shift that fills 16 bits, and the frame or the
// shift (kernels::signal_fft_auto_scale).
KILN_KERNEL(kiln_signal_fft_auto_scale) {
    const i64 n = op.input.len / 2;
    FOR_EACH(s, (i64)samples) {
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input);
        i16 max = 0;
        for (i64 i = 0; i < n; i++) {
            if (x[i] > max) max = x[i];
            else if (-(i32)x[i] > (i32)max) max = (i16)(-(i32)x[i]);
        }
        const u32 widened = (u32)(i32)max;
        const i32 msb = widened == 0 ? 32 : 32 - __clz(widened);
        const i32 bits = 16 - 1 - msb > 0 ? 16 - 1 - msb : 0;
        if (op.scale_bits) {
            *(i32*)arena(A, arena_bytes, s, op.output) = bits;
        } else {
            i16* y = (i16*)arena(A, arena_bytes, s, op.output);
            for (i64 i = 0; i < n; i++) y[i] = (i16)((i32)x[i] * (1 << bits));
        }
    }
}

// SignalDelay: each row of samples `delay` late, the owed samples kept in
// the state (kernels::signal_delay). One thread per row: the state moves
// in order, reading ahead of what it writes.
KILN_KERNEL(kiln_signal_delay) {
    const i64 frame = op.frame, delay = op.delay;
    const i64 rows = op.input.len / 2 / frame;
    FOR_EACH(idx, rows * samples) {
        const i64 s = idx / rows, r = idx % rows;
        const i16* x = (const i16*)arena(A, arena_bytes, s, op.input) + r * frame;
        i16* owed = (i16*)arena(A, arena_bytes, s, op.state) + r * delay;
        i16* y = (i16*)arena(A, arena_bytes, s, op.output) + r * frame;
        for (i64 i = 0; i < frame; i++) y[i] = i < delay ? owed[i] : x[i - delay];
        for (i64 j = 0; j < delay; j++) {
            const i64 i = frame + j;
            owed[j] = i < delay ? owed[i] : x[i - delay];
        }
    }
}

// SignalOverlapAdd: each row's frames summed into its stream, int16
// saturating or float32, the owed tail kept in the state
// (kernels::signal_overlap_add). One thread per row: frames add in order.
// int16 samples add with saturation, float32 ones plainly.
__device__ i16 overlap_sum(i16 a, i16 b) {
    const i32 sum = (i32)a + (i32)b;
    return (i16)(sum < -32768 ? -32768 : sum > 32767 ? 32767 : sum);
}
__device__ float overlap_sum(float a, float b) { return a + b; }

template <typename T>
__device__ void overlap_add(const kiln_signal_overlap_add_descriptor& op, u8* A, i64 arena_bytes, i32 samples) {
    const i64 frame = op.frame, step = op.step, frames = op.frames;
    const i64 rows = op.state.len / (i64)sizeof(T) / frame;
    FOR_EACH(idx, rows * samples) {
        const i64 s = idx / rows, r = idx % rows;
        const T* x = (const T*)arena(A, arena_bytes, s, op.input) + r * frames * frame;
        T* buffer = (T*)arena(A, arena_bytes, s, op.state) + r * frame;
        T* y = (T*)arena(A, arena_bytes, s, op.output) + r * frames * step;
        for (i64 f = 0; f < frames; f++) {
            for (i64 i = 0; i < frame; i++) buffer[i] = overlap_sum(buffer[i], x[f * frame + i]);
            for (i64 i = 0; i < step; i++) y[f * step + i] = buffer[i];
            for (i64 i = 0; i + step < frame; i++) buffer[i] = buffer[i + step];
            for (i64 i = frame - step; i < frame; i++) buffer[i] = (T)0;
        }
    }
}

KILN_KERNEL(kiln_signal_overlap_add) {
    if (op.dtype == DType_F32) overlap_add<float>(op, A, arena_bytes, samples);
    else overlap_add<i16>(op, A, arena_bytes, samples);
}

// fixed_point::inv_sqrt_quantized_multiplier_exp: 1 / sqrt(x) as a Q31
// multiplier and a left shift, by five Newton-Raphson steps in Q3.28.
__device__ void inv_sqrt_multiplier(i32 x, i32* multiplier, i32* shift) {
    if (x <= 1) {
        *multiplier = KILN_I32_MAX;
        *shift = 0;
        return;
    }
    i32 s = 11;
    while (x >= (1 << 29)) {
        x /= 4;
        s += 1;
    }
    const i32 pairs = (__clz(x) - 1) / 2 - 1;
    s -= pairs;
    x <<= 2 * pairs;
    const i32 half_input = sat_mul_pot(x >> 1, -1);
    const i32 half_three = (1 << 28) + (1 << 27);
    i32 r = 1 << 28;
    for (int k = 0; k < 5; k++) {
        const i32 r3 = rescale(srdhm(srdhm(r, r), r), 9, 3);
        r = rescale(wsub(srdhm(half_three, r), srdhm(half_input, r3)), 6, 3);
    }
    i32 m = srdhm(r, 1518500250);
    if (s < 0) {
        m = (i32)((u32)m << -s);
        s = 0;
    }
    *multiplier = m;
    *shift = -s;
}

// L2_NORMALIZATION, one row per item: int8 in TFLM's integer arithmetic
// (the output in 1/128ths), float32 divided by the norm (at least 1e-6).
KILN_KERNEL(kiln_l2_norm) {
    const i64 rows = op.rows, depth = op.depth;
    FOR_EACH(idx, rows * samples) {
        const i64 s = idx / rows, row = idx % rows;
        if (op.dtype == DType_I8) {
            const i8* in = (const i8*)arena(A, arena_bytes, s, op.input) + row * depth;
            i8* out = (i8*)arena(A, arena_bytes, s, op.output) + row * depth;
            i32 sum = 0;
            for (i64 k = 0; k < depth; k++) {
                const i32 d = (i32)in[k] - op.input_zero_point;
                sum += d * d;
            }
            i32 multiplier, shift;
            inv_sqrt_multiplier(sum, &multiplier, &shift);
            for (i64 k = 0; k < depth; k++) {
                const i32 d = (i32)in[k] - op.input_zero_point;
                out[k] = (i8)clamp_i32(mbqm(d, multiplier, shift + 7), -128, 127);
            }
        } else {
            const float* in = (const float*)arena(A, arena_bytes, s, op.input) + row * depth;
            float* out = (float*)arena(A, arena_bytes, s, op.output) + row * depth;
            float sum = 0.0f;
            for (i64 k = 0; k < depth; k++) sum += in[k] * in[k];
            float norm = sqrtf(sum);
            norm = norm > 1e-6f ? norm : 1e-6f;
            for (i64 k = 0; k < depth; k++) out[k] = in[k] / norm;
        }
    }
}

// ADD_N, one output value per item: int8 as TFLM (each input shifted left
// by 20 and halved, the sum started from the halved input offset), float32
// summed in input order.
// ADD_N's int8 arithmetic (AddNParams::{start, scaled, output}), which
// CUMSUM shares: 20 bits of headroom, halved inputs, the sum started from
// the halved input offset, rescaled to the output.
__device__ __forceinline__ i32 add_n_scaled_offset(const AddNParams& p, i32 x) {
    return mbqm((i32)((u32)x << 20), p.input_multiplier, p.input_shift);
}
__device__ __forceinline__ i32 add_n_start(const AddNParams& p) { return add_n_scaled_offset(p, p.input_offset); }
__device__ __forceinline__ i32 add_n_scaled(const AddNParams& p, i8 x) { return add_n_scaled_offset(p, p.input_offset + x); }
__device__ __forceinline__ i8 add_n_output(const AddNParams& p, i32 sum) {
    return (i8)clamp_i32(sat_add(mbqm(sum, p.output_multiplier, p.output_shift), p.output_offset), -128, 127);
}

KILN_KERNEL(kiln_add_n) {
    const i32 size = op.dtype == DType_I8 ? 1 : 4;
    const i64 per_sample = op.output.len / size;
    const AddNParams& p = op.params;
    FOR_EACH(idx, per_sample * samples) {
        const i64 s = idx / per_sample, e = idx % per_sample;
        if (op.dtype == DType_I8) {
            i32 sum = add_n_start(p);
            for (u32 k = 0; k < op.count; k++) {
                sum = wadd(sum, add_n_scaled(p, ((const i8*)arena(A, arena_bytes, s, op.inputs[k]))[e]));
            }
            ((i8*)arena(A, arena_bytes, s, op.output))[e] = add_n_output(p, sum);
        } else {
            float sum = 0.0f;
            for (u32 k = 0; k < op.count; k++) sum += ((const float*)arena(A, arena_bytes, s, op.inputs[k]))[e];
            ((float*)arena(A, arena_bytes, s, op.output))[e] = sum;
        }
    }
}


// CUMSUM (kernels::cumsum): one thread per running sum of each sample;
// int8 with ADD_N's arithmetic, the sum started from the scaled offset.
KILN_KERNEL(kiln_cumsum) {
    const CumSumShape& sh = op.shape;
    const AddNParams& p = op.params;
    const i64 sums = (i64)sh.outer * sh.inner;
    FOR_EACH(idx, sums * samples) {
        const i64 s = idx / sums, r = idx % sums;
        const i64 o = r / sh.inner, i = r % sh.inner;
        const u8* in = arena(A, arena_bytes, s, op.input);
        u8* out = arena(A, arena_bytes, s, op.output);
        i32 sum = add_n_start(p);
        float fsum = 0.0f;
        for (u32 d = 0; d < sh.depth; d++) {
            const i64 along = sh.reverse ? (i64)sh.depth - 1 - d : (i64)d;
            const i64 k = (o * sh.depth + along) * sh.inner + i;
            if (op.dtype == DType_I8) {
                const i32 before = sum;
                sum = wadd(sum, add_n_scaled(p, ((const i8*)in)[k]));
                ((i8*)out)[k] = add_n_output(p, sh.exclusive ? before : sum);
            } else {
                const float before = fsum;
                fsum += ((const float*)in)[k];
                ((float*)out)[k] = sh.exclusive ? before : fsum;
            }
        }
    }
}


// float32 LSTM (kernels::lstm::lstm_f32): kiln_lstm's walk in float32,
// one thread per sequence of each sample; here because it takes its
// LOGISTIC and TANH from unary_function.
__device__ __forceinline__ void lstm_gate_f32(const SequenceShape& p, const float* wx, const float* wh, const float* bias, i32 g,
                                              const float* x, const float* h, const float* peephole, const float* c, float* out) {
    // The peephole block of this gate (kernels::lstm::gate_f32): input,
    // forget, output; none for the cell gate.
    const i32 block = g == 0 ? 0 : g == 1 ? 1 : g == 3 ? 2 : -1;
    for (i32 r = 0; r < p.units; r++) {
        const i64 row = (i64)g * p.units + r;
        float from_input = 0.0f;
        for (i32 k = 0; k < p.input_size; k++) from_input += x[k] * wx[row * p.input_size + k];
        from_input += bias[row];
        float from_hidden = 0.0f;
        for (i32 k = 0; k < p.units; k++) from_hidden += h[k] * wh[row * p.units + k];
        float pre = from_input + from_hidden;
        if (peephole && block >= 0) pre += peephole[(i64)block * p.units + r] * c[r];
        out[r] = unary_function(g == 2 ? UnaryFunction_Tanh : UnaryFunction_Logistic, pre);
    }
}

KILN_KERNEL(kiln_lstm_f32) {
    const SequenceShape& p = op.params.shape;
    const i32 batches = p.batches, time = p.time, size = p.input_size, units = p.units;
    const float* wx = (const float*)(W + op.input_weights.offset);
    const float* wh = (const float*)(W + op.recurrent_weights.offset);
    const float* bias = (const float*)(W + op.bias.offset);
    const float* peephole = op.peephole.len == 0 ? nullptr : (const float*)(W + op.peephole.offset);
    const float clip = op.params.cell_clip;
    FOR_EACH(idx, (i64)batches * samples) {
        const i64 s = idx / batches;
        const i32 b = (i32)(idx % batches);
        float* h = (float*)arena(A, arena_bytes, s, op.hidden) + (i64)b * units;
        float* c = (float*)arena(A, arena_bytes, s, op.cell) + (i64)b * units;
        float* gates = (float*)arena(A, arena_bytes, s, op.scratch) + (i64)b * 4 * units;
        float *forget = gates, *input = gates + units, *cell = gates + 2 * units, *output = gates + 3 * units;
        if (op.params.fresh_state) {
            // The initial states where the op has them (ops::arena::start_state), else zeros.
            const float* h0 = op.initial_hidden.len == 0 ? nullptr
                : (const float*)arena(A, arena_bytes, s, op.initial_hidden) + (i64)b * units;
            const float* c0 = op.initial_cell.len == 0 ? nullptr
                : (const float*)arena(A, arena_bytes, s, op.initial_cell) + (i64)b * units;
            for (i32 r = 0; r < units; r++) {
                h[r] = h0 ? h0[r] : 0.0f;
                c[r] = c0 ? c0[r] : 0.0f;
            }
        }
        for (i32 t = 0; t < time; t++) {
            const i64 row = p.time_major ? (i64)t * batches + b : (i64)b * time + t;
            const float* x = (const float*)arena(A, arena_bytes, s, op.input) + row * size;
            lstm_gate_f32(p, wx, wh, bias, 1, x, h, peephole, c, forget);
            lstm_gate_f32(p, wx, wh, bias, 0, x, h, peephole, c, input);
            lstm_gate_f32(p, wx, wh, bias, 2, x, h, peephole, c, cell);
            for (i32 r = 0; r < units; r++) {
                const float v = c[r] * forget[r] + input[r] * cell[r];
                c[r] = clip > 0.0f ? fmaxf(fminf(v, clip), -clip) : v;
            }
            lstm_gate_f32(p, wx, wh, bias, 3, x, h, peephole, c, output);
            float* out = (float*)arena(A, arena_bytes, s, op.output) + row * units;
            for (i32 r = 0; r < units; r++) {
                h[r] = unary_function(UnaryFunction_Tanh, c[r]) * output[r];
                out[r] = h[r];
            }
        }
    }
}


// float32 GRU (kernels::gru::gru_f32): one thread per sequence of each
// sample, from its initial hidden state or zeros (ops::arena::start_state);
// LOGISTIC and TANH from unary_function.
__device__ __forceinline__ void gru_layers(const SequenceShape& p, const float* wx, const float* wh, const float* bias,
                                           i32 g, i32 r, const float* x, const float* h, float* from_input,
                                           float* from_hidden) {
    const i64 row = (i64)g * p.units + r;
    float a = 0.0f;
    for (i32 c = 0; c < p.input_size; c++) a += x[c] * wx[row * p.input_size + c];
    *from_input = a + bias[row];
    float b = 0.0f;
    for (i32 c = 0; c < p.units; c++) b += h[c] * wh[row * p.units + c];
    *from_hidden = b + bias[3 * (i64)p.units + row];
}

KILN_KERNEL(kiln_gru_f32) {
    const SequenceShape& p = op.params.shape;
    const i32 batches = p.batches, time = p.time, size = p.input_size, units = p.units;
    const float* wx = (const float*)(W + op.input_weights.offset);
    const float* wh = (const float*)(W + op.recurrent_weights.offset);
    const float* bias = (const float*)(W + op.bias.offset);
    FOR_EACH(idx, (i64)batches * samples) {
        const i64 s = idx / batches;
        const i32 b = (i32)(idx % batches);
        float* h = (float*)arena(A, arena_bytes, s, op.hidden) + (i64)b * units;
        float* buffers = (float*)arena(A, arena_bytes, s, op.scratch) + (i64)b * 4 * units;
        float *update = buffers, *reset = buffers + units, *candidate = buffers + 2 * units;
        float* reset_hidden = buffers + 3 * units;
        const float* h0 = op.initial_hidden.len == 0 ? nullptr
            : (const float*)arena(A, arena_bytes, s, op.initial_hidden) + (i64)b * units;
        for (i32 r = 0; r < units; r++) h[r] = h0 ? h0[r] : 0.0f;
        for (i32 t = 0; t < time; t++) {
            const i64 row = p.time_major ? (i64)t * batches + b : (i64)b * time + t;
            const float* x = (const float*)arena(A, arena_bytes, s, op.input) + row * size;
            float fx, fh;
            for (i32 r = 0; r < units; r++) {
                gru_layers(p, wx, wh, bias, 0, r, x, h, &fx, &fh);
                update[r] = unary_function(UnaryFunction_Logistic, fx + fh);
                gru_layers(p, wx, wh, bias, 1, r, x, h, &fx, &fh);
                reset[r] = unary_function(UnaryFunction_Logistic, fx + fh);
            }
            if (op.params.linear_before_reset) {
                for (i32 r = 0; r < units; r++) {
                    gru_layers(p, wx, wh, bias, 2, r, x, h, &fx, &fh);
                    candidate[r] = unary_function(UnaryFunction_Tanh, fx + reset[r] * fh);
                }
            } else {
                for (i32 r = 0; r < units; r++) reset_hidden[r] = reset[r] * h[r];
                for (i32 r = 0; r < units; r++) {
                    gru_layers(p, wx, wh, bias, 2, r, x, reset_hidden, &fx, &fh);
                    candidate[r] = unary_function(UnaryFunction_Tanh, fx + fh);
                }
            }
            float* out = (float*)arena(A, arena_bytes, s, op.output) + row * units;
            for (i32 r = 0; r < units; r++) {
                h[r] = (1.0f - update[r]) * candidate[r] + update[r] * h[r];
                out[r] = h[r];
            }
        }
    }
}

// int16 LOGISTIC and TANH: the input rescaled to the sigmoid table's scale,
// the table interpolated (common.cu).
template <bool Tanh, typename Op>
__device__ __forceinline__ void sigmoid_s16(const Op& op, u8* A, i64 arena_bytes, i32 samples) {
    const SigmoidS16& o = op.sigmoid;
    const i32 n = o.input.len / 2;
    FOR_EACH(idx, (i64)n * samples) {
        const i64 s = idx / n;
        const i64 e = idx % n;
        const i32 x = ((const i16*)arena(A, arena_bytes, s, o.input))[e];
        const i32 y = Tanh ? tanh_q15(x, o.scale.multiplier, o.scale.shift) : logistic_q15(x, o.scale.multiplier, o.scale.shift);
        ((i16*)arena(A, arena_bytes, s, o.output))[e] = (i16)y;
    }
}

KILN_KERNEL(kiln_logistic_s16) {
    sigmoid_s16<false>(op, A, arena_bytes, samples);
}

KILN_KERNEL(kiln_tanh_s16) {
    sigmoid_s16<true>(op, A, arena_bytes, samples);
}

// TFLite_Detection_PostProcess (kernels::detection_postprocess): one
// thread per sample. Boxes decoded in double as TFLM does, candidates
// sorted best first by a stable bottom-up merge sort, greedy suppression;
// regular NMS merges each class's survivors into the best so far (earlier
// first among equal scores), fast NMS ranks boxes by their best class.
__device__ __forceinline__ float det_max(float a, float b) { return a < b ? b : a; }
__device__ __forceinline__ float det_min(float a, float b) { return b < a ? b : a; }

__device__ float det_iou(const float* d, u32 i, u32 j) {
    const float* a = d + (i64)i * 4;
    const float* b = d + (i64)j * 4;
    const float area_i = (a[2] - a[0]) * (a[3] - a[1]);
    const float area_j = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_i <= 0.0f || area_j <= 0.0f) return 0.0f;
    const float y0 = det_max(a[0], b[0]), x0 = det_max(a[1], b[1]);
    const float y1 = det_min(a[2], b[2]), x1 = det_min(a[3], b[3]);
    const float inter = det_max(y1 - y0, 0.0f) * det_max(x1 - x0, 0.0f);
    return inter / (area_i + area_j - inter);
}

// The boxes scoring at least the threshold, best first, suppressed
// greedily: at most `limit` into `selected`; returns how many.
__device__ i64 det_suppress(const DetectionParams& p, const float* d, const float* scores, u32* order, u32* tmp,
                            u32* selected, i64 limit) {
    i64 kept = 0;
    for (i64 b = 0; b < (i64)p.boxes; b++)
        if (scores[b] >= p.score_threshold) order[kept++] = (u32)b;
    for (i64 width = 1; width < kept; width *= 2) {
        for (i64 lo = 0; lo < kept; lo += 2 * width) {
            const i64 mid = lo + width < kept ? lo + width : kept;
            const i64 hi = lo + 2 * width < kept ? lo + 2 * width : kept;
            i64 i = lo, j = mid;
            for (i64 k = lo; k < hi; k++) {
                if (j < hi && (i >= mid || scores[order[j]] > scores[order[i]])) tmp[k] = order[j++];
                else tmp[k] = order[i++];
            }
        }
        for (i64 k = 0; k < kept; k++) order[k] = tmp[k];
    }
    if (limit > kept) limit = kept;
    i64 count = 0;
    for (i64 i = 0; i < kept && count < limit; i++) {
        const u32 a = order[i];
        if (a == 0xFFFFFFFFu) continue;
        selected[count++] = a;
        for (i64 j = i + 1; j < kept; j++)
            if (order[j] != 0xFFFFFFFFu && det_iou(d, a, order[j]) > p.iou_threshold) order[j] = 0xFFFFFFFFu;
    }
    return count;
}

KILN_KERNEL(kiln_detection_postprocess) {
    const DetectionParams& p = op.params;
    const i64 boxes = p.boxes, columns = (i64)p.classes + p.label_offset, max = p.max_detections;
    const float* anchors = (const float*)(W + op.anchors.offset);
    FOR_EACH(s, (i64)samples) {
        const float* enc = (const float*)arena(A, arena_bytes, s, op.encodings);
        const float* cls = (const float*)arena(A, arena_bytes, s, op.scores);
        float* decoded = (float*)arena(A, arena_bytes, s, op.scratch);
        float* scores = decoded + 4 * boxes;
        u32* order = (u32*)(scores + boxes);
        u32* tmp = order + boxes;
        u32* selected = tmp + boxes;
        float* best_scores = (float*)(selected + boxes);
        u32* best_boxes = (u32*)(best_scores + max);
        u32* best_classes = best_boxes + max;
        float* out_boxes = (float*)arena(A, arena_bytes, s, op.boxes);
        float* out_classes = (float*)arena(A, arena_bytes, s, op.classes);
        float* out_scores = (float*)arena(A, arena_bytes, s, op.detection_scores);
        for (i64 b = 0; b < boxes; b++) {
            const float* e = enc + b * p.box_stride;
            const float* a = anchors + b * 4;
            const float y = (float)((double)e[0] / (double)p.scales[0] * (double)a[2] + (double)a[0]);
            const float x = (float)((double)e[1] / (double)p.scales[1] * (double)a[3] + (double)a[1]);
            const float hh = (float)(0.5 * exp((double)e[2] / (double)p.scales[2]) * (double)a[2]);
            const float hw = (float)(0.5 * exp((double)e[3] / (double)p.scales[3]) * (double)a[3]);
            float* o = decoded + 4 * b;
            o[0] = y - hh;
            o[1] = x - hw;
            o[2] = y + hh;
            o[3] = x + hw;
        }
        for (i64 i = 0; i < 4 * max; i++) out_boxes[i] = 0.0f;
        for (i64 i = 0; i < max; i++) out_classes[i] = out_scores[i] = 0.0f;
        i64 found = 0;
        if (p.regular) {
            for (u32 c = 0; c < p.classes; c++) {
                for (i64 b = 0; b < boxes; b++) scores[b] = cls[b * columns + c + p.label_offset];
                const i64 kept = det_suppress(p, decoded, scores, order, tmp, selected, p.detections_per_class);
                for (i64 k = 0; k < kept; k++) {
                    const u32 b = selected[k];
                    const float v = scores[b];
                    i64 pos = 0;
                    while (pos < found && best_scores[pos] >= v) pos++;
                    if (pos >= max) break;
                    found = found + 1 < max ? found + 1 : max;
                    for (i64 m = found - 1; m > pos; m--) {
                        best_scores[m] = best_scores[m - 1];
                        best_boxes[m] = best_boxes[m - 1];
                        best_classes[m] = best_classes[m - 1];
                    }
                    best_scores[pos] = v;
                    best_boxes[pos] = b;
                    best_classes[pos] = c;
                }
            }
            for (i64 r = 0; r < found; r++) {
                for (i64 k = 0; k < 4; k++) out_boxes[4 * r + k] = decoded[4 * (i64)best_boxes[r] + k];
                out_classes[r] = (float)best_classes[r];
                out_scores[r] = best_scores[r];
            }
        } else {
            for (i64 b = 0; b < boxes; b++) {
                const float* row = cls + b * columns + p.label_offset;
                float v = row[0];
                for (u32 c = 1; c < p.classes; c++)
                    if (row[c] > v) v = row[c];
                scores[b] = v;
            }
            found = det_suppress(p, decoded, scores, order, tmp, selected, max);
            for (i64 r = 0; r < found; r++) {
                const u32 b = selected[r];
                const float* row = cls + (i64)b * columns + p.label_offset;
                u32 best = 0;
                for (u32 c = 1; c < p.classes; c++)
                    if (row[c] > row[best]) best = c;
                for (i64 k = 0; k < 4; k++) out_boxes[4 * r + k] = decoded[4 * (i64)b + k];
                out_classes[r] = (float)best;
                out_scores[r] = row[best];
            }
        }
        *(float*)arena(A, arena_bytes, s, op.count) = (float)found;
    }
}
