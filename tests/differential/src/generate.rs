//! The seeded generators, one per TFLite op kind: random valid shapes,
//! options, fused activations and quantization (activation scales over
//! five orders of magnitude, zero points often at the ends of the int8
//! range), within what TFLite Micro's kernels accept, so that every case
//! has a TFLM reference.

use kiln_codegen::npy::{NpyArray, NpyType};

use crate::rng::Rng;
use crate::tflite::{Field, Model, Options, Quant, TensorType};

/// A model being generated: the TFLite model, its random inputs, and the
/// random stream that decides everything.
pub struct Gen {
    pub rng: Rng,
    pub model: Model,
    pub inputs: Vec<(i32, NpyArray)>,
    /// Features of the case worth counting (see [`Gen::tag`]).
    pub tags: Vec<&'static str>,
}

/// TFLite builtin operator codes (`BuiltinOperator` in `schema.fbs`).
pub mod code {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const TANH: i32 = 28;
    pub const PAD: i32 = 34;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const SQUEEZE: i32 = 43;
    pub const PRELU: i32 = 54;
    pub const TRANSPOSE_CONV: i32 = 67;
    pub const LEAKY_RELU: i32 = 98;
    pub const QUANTIZE: i32 = 114;
    pub const HARD_SWISH: i32 = 117;
}

/// `BuiltinOptions` union type codes.
mod options {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const PAD: u8 = 22;
    pub const REDUCER: u8 = 27;
    pub const SUB: u8 = 28;
    pub const SQUEEZE: u8 = 30;
    pub const DEQUANTIZE: u8 = 38;
    pub const TRANSPOSE_CONV: u8 = 49;
    pub const LEAKY_RELU: u8 = 75;
    pub const QUANTIZE: u8 = 89;
    pub const HARD_SWISH: u8 = 91;
}

const SAME: i8 = 0;
const VALID: i8 = 1;

fn opts(union_type: u8, fields: Vec<Field>) -> Options {
    Options { union_type, fields }
}

impl Gen {
    /// An activation scale: log-uniform over 1e-3 .. 1, or one time in
    /// five over 1e-4.5 .. 10^1.5.
    pub fn scale(&mut self) -> f32 {
        let (lo, hi) = if self.rng.chance(0.2) {
            (-4.5, 1.5)
        } else {
            (-3.0, 0.0)
        };
        10f64.powf(self.rng.uniform(lo, hi)) as f32
    }

    /// A zero point, at either end of the range one time in four.
    pub fn zero_point(&mut self) -> i32 {
        match self.rng.size(0, 7) {
            0 => -128,
            1 => 127,
            _ => self.rng.range(-128, 127) as i32,
        }
    }

    pub fn quant(&mut self) -> Quant {
        let (s, z) = (self.scale(), self.zero_point());
        Quant::tensor(s, z)
    }

    /// `scale` times a log-uniform factor within 10^±0.5, or one time in
    /// four within 10^±`decades`, with a fresh zero point.
    pub fn near(&mut self, scale: f64, decades: f64) -> Quant {
        let d = if self.rng.chance(0.25) { decades } else { 0.5 };
        let s = scale * 10f64.powf(self.rng.uniform(-d, d));
        let z = self.zero_point();
        Quant::tensor(s as f32, z)
    }

    /// A quantization for real values in `lo..=hi`, as a calibrating
    /// converter would choose it (the scale within 10^±0.3 of it).
    pub fn calibrated(&mut self, lo: f64, hi: f64) -> Quant {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = ((hi - lo) / 255.0).max(1e-6) * 10f64.powf(self.rng.uniform(-0.3, 0.3));
        let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
        Quant::tensor(scale as f32, zero_point as i32)
    }

    /// Records that the case has `feature`, so that a test can count the
    /// cases that cover each feature no other TFLM reference covers.
    pub fn tag(&mut self, feature: &'static str) {
        self.tags.push(feature);
    }

    /// A fused activation: NONE, RELU, RELU_N1_TO_1 or RELU6.
    pub fn activation(&mut self) -> i8 {
        if self.rng.chance(0.55) {
            0
        } else {
            let a = self.rng.range(1, 3) as i8;
            if a == 2 {
                self.tag("fused RELU_N1_TO_1");
            }
            a
        }
    }

    /// A model input of random int8 values.
    pub fn input_i8(&mut self, shape: &[usize], quant: Quant) -> i32 {
        let t = self.model.tensor(shape, TensorType::I8, Some(quant));
        let n = shape.iter().product();
        let data = self.rng.i8s(n).into_iter().map(|v| v as u8).collect();
        self.push_input(t, shape, NpyType::I8, data);
        t
    }

    /// A model input of float32 values uniform in `lo..hi`.
    pub fn input_f32(&mut self, shape: &[usize], lo: f64, hi: f64) -> i32 {
        let t = self.model.tensor(shape, TensorType::F32, None);
        let n: usize = shape.iter().product();
        let data = (0..n)
            .flat_map(|_| (self.rng.uniform(lo, hi) as f32).to_le_bytes())
            .collect();
        self.push_input(t, shape, NpyType::F32, data);
        t
    }

    fn push_input(&mut self, t: i32, shape: &[usize], dtype: NpyType, data: Vec<u8>) {
        self.inputs.push((
            t,
            NpyArray {
                dtype,
                shape: shape.to_vec(),
                data,
            },
        ));
    }

    pub fn output_i8(&mut self, shape: &[usize], quant: Quant) -> i32 {
        self.model.tensor(shape, TensorType::I8, Some(quant))
    }

    /// int8 weights with zero points 0 and values over -127..=127: per
    /// channel along `axis` of `shape`, or per tensor for `None`; scales
    /// log-uniform over 1e-3.5 .. 1e-0.5. Returns the tensor and each
    /// output channel's scale (`channels` of them).
    pub fn weights(
        &mut self,
        shape: &[usize],
        axis: Option<usize>,
        channels: usize,
    ) -> (i32, Vec<f32>) {
        let count = if axis.is_some() { channels } else { 1 };
        let scales: Vec<f32> = (0..count)
            .map(|_| 10f64.powf(self.rng.uniform(-3.5, -0.5)) as f32)
            .collect();
        let n = shape.iter().product();
        let values: Vec<i8> = (0..n).map(|_| self.rng.range(-127, 127) as i8).collect();
        let quant = Quant {
            scales: scales.clone(),
            zero_points: vec![0; count],
            axis: axis.unwrap_or(0) as i32,
        };
        let t = self.model.constant_i8(shape, quant, &values);
        (t, scales.iter().cycle().take(channels).copied().collect())
    }

    /// An int32 bias for accumulators of `taps` products, at scale
    /// `input_scale * weight_scales[c]`, usually about the accumulators'
    /// size, sometimes up to 2^24; if `optional`, absent (`-1`) one time in
    /// five.
    pub fn bias(
        &mut self,
        input_scale: f32,
        weight_scales: &[f32],
        taps: usize,
        optional: bool,
    ) -> i32 {
        if optional && self.rng.chance(0.2) {
            return -1;
        }
        let typical = 74.0 * 74.0 * (taps as f64).sqrt();
        let magnitude = if self.rng.chance(0.1) {
            (1 << 24) as f64
        } else {
            typical * 10f64.powf(self.rng.uniform(-2.0, 0.5))
        };
        let values: Vec<i32> = weight_scales
            .iter()
            .map(|_| self.rng.uniform(-magnitude, magnitude) as i32)
            .collect();
        let quant = Quant {
            scales: weight_scales.iter().map(|w| input_scale * w).collect(),
            zero_points: vec![0; weight_scales.len()],
            axis: 0,
        };
        self.model
            .constant_i32(&[weight_scales.len()], Some(quant), &values)
    }

    /// The output quantization of a `taps`-product accumulation: about the
    /// accumulators' spread (times 10^±1), or one time in ten any scale.
    pub fn accumulator_output(
        &mut self,
        input_scale: f32,
        weight_scales: &[f32],
        taps: usize,
    ) -> Quant {
        if self.rng.chance(0.1) {
            return self.quant();
        }
        let w = weight_scales.iter().map(|&s| s as f64).sum::<f64>() / weight_scales.len() as f64;
        let spread = input_scale as f64 * w * 74.0 * 74.0 * (taps as f64).sqrt();
        self.near(spread * 3.0 / 128.0, 1.0)
    }

    /// A random shape of rank `1..=max_rank` with dimensions `1..=max_dim`.
    pub fn shape(&mut self, max_rank: usize, max_dim: usize) -> Vec<usize> {
        let rank = self.rng.size(1, max_rank);
        (0..rank).map(|_| self.rng.size(1, max_dim)).collect()
    }

    fn operator(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Options) {
        self.model.operator(code, inputs, outputs, options);
    }
}

/// Output size along one spatial axis (TFLite's `ComputeOutSize`).
fn out_size(same: bool, input: usize, filter: usize, stride: usize, dilation: usize) -> usize {
    let effective = (filter - 1) * dilation + 1;
    if same {
        input.div_ceil(stride)
    } else {
        (input - effective) / stride + 1
    }
}

/// Spatial geometry of a windowed op: input size, filter, stride, dilation,
/// padding, such that the output is not empty.
struct Window {
    input: [usize; 2],
    filter: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    same: bool,
}

impl Window {
    fn random(rng: &mut Rng, max_filter: usize, dilated: bool) -> Window {
        let same = rng.chance(0.5);
        let mut w = Window {
            input: [0; 2],
            filter: [0; 2],
            stride: [0; 2],
            dilation: [1; 2],
            same,
        };
        for a in 0..2 {
            w.filter[a] = rng.size(1, max_filter);
            w.stride[a] = rng.size(1, 3);
            if dilated {
                w.dilation[a] = rng.size(1, 3);
            }
            let effective = (w.filter[a] - 1) * w.dilation[a] + 1;
            let least = if same { 1 } else { effective };
            w.input[a] = rng.size(least, least + 8);
        }
        w
    }

    fn output(&self) -> [usize; 2] {
        [0, 1].map(|a| {
            out_size(
                self.same,
                self.input[a],
                self.filter[a],
                self.stride[a],
                self.dilation[a],
            )
        })
    }

    fn padding(&self) -> i8 {
        if self.same {
            SAME
        } else {
            VALID
        }
    }
}

pub fn conv_2d(g: &mut Gen) -> Vec<i32> {
    let batch = if g.rng.chance(0.15) { 2 } else { 1 };
    // Grouped convolution one time in four (filter depth = input depth / groups).
    let groups = if g.rng.chance(0.25) {
        g.rng.size(2, 3)
    } else {
        1
    };
    // Wide layers one time in five, so that the fast kernels' channel
    // blocks and their tails all run.
    let wide = if g.rng.chance(0.2) { 4 } else { 1 };
    let group_in = g.rng.size(1, if groups > 1 { 3 } else { 8 * wide });
    let group_out = g.rng.size(1, if groups > 1 { 3 } else { 6 * wide });
    let (cin, cout) = (groups * group_in, groups * group_out);
    let dilated = g.rng.chance(0.3);
    let w = Window::random(&mut g.rng, 4, dilated);
    if groups > 1 {
        g.tag("grouped");
    }
    if w.dilation != [1, 1] {
        g.tag("dilated");
    }
    let [oh, ow] = w.output();
    let in_q = g.quant();
    let input = g.input_i8(&[batch, w.input[0], w.input[1], cin], in_q.clone());
    let (filter, scales) = g.weights(&[cout, w.filter[0], w.filter[1], group_in], Some(0), cout);
    let taps = w.filter[0] * w.filter[1] * group_in;
    let bias = g.bias(in_q.scales[0], &scales, taps, true);
    let out_q = g.accumulator_output(in_q.scales[0], &scales, taps);
    let output = g.output_i8(&[batch, oh, ow, cout], out_q);
    let act = g.activation();
    let o = opts(
        options::CONV_2D,
        vec![
            Field::I8(0, w.padding()),
            Field::I32(1, w.stride[1] as i32),
            Field::I32(2, w.stride[0] as i32),
            Field::I8(3, act),
            Field::I32(4, w.dilation[1] as i32),
            Field::I32(5, w.dilation[0] as i32),
        ],
    );
    g.operator(code::CONV_2D, &[input, filter, bias], &[output], o);
    vec![output]
}

pub fn depthwise_conv_2d(g: &mut Gen) -> Vec<i32> {
    let batch = if g.rng.chance(0.15) { 2 } else { 1 };
    let most = if g.rng.chance(0.2) { 32 } else { 8 };
    let cin = g.rng.size(1, most);
    let multiplier = if g.rng.chance(0.3) {
        g.rng.size(2, 3)
    } else {
        1
    };
    let cout = cin * multiplier;
    let dilated = g.rng.chance(0.3);
    let w = Window::random(&mut g.rng, 4, dilated);
    if w.dilation != [1, 1] {
        g.tag("dilated");
    }
    let [oh, ow] = w.output();
    let in_q = g.quant();
    let input = g.input_i8(&[batch, w.input[0], w.input[1], cin], in_q.clone());
    let (filter, scales) = g.weights(&[1, w.filter[0], w.filter[1], cout], Some(3), cout);
    let taps = w.filter[0] * w.filter[1];
    // TFLM's depthwise convolution crashes on a missing bias (its Prepare
    // reads it unconditionally), so these cases always have one.
    let bias = g.bias(in_q.scales[0], &scales, taps, false);
    let out_q = g.accumulator_output(in_q.scales[0], &scales, taps);
    let output = g.output_i8(&[batch, oh, ow, cout], out_q);
    let act = g.activation();
    let o = opts(
        options::DEPTHWISE_CONV_2D,
        vec![
            Field::I8(0, w.padding()),
            Field::I32(1, w.stride[1] as i32),
            Field::I32(2, w.stride[0] as i32),
            Field::I32(3, multiplier as i32),
            Field::I8(4, act),
            Field::I32(5, w.dilation[1] as i32),
            Field::I32(6, w.dilation[0] as i32),
        ],
    );
    g.operator(
        code::DEPTHWISE_CONV_2D,
        &[input, filter, bias],
        &[output],
        o,
    );
    vec![output]
}

pub fn fully_connected(g: &mut Gen) -> Vec<i32> {
    let batch = g.rng.size(1, 4);
    let most = if g.rng.chance(0.2) { 300 } else { 48 };
    let depth = g.rng.size(1, most);
    let units = g.rng.size(1, 16);
    let in_q = g.quant();
    let input = g.input_i8(&[batch, depth], in_q.clone());
    // Per-tensor weights, as TFLite's converter writes them for FC, or
    // one time in three per output channel.
    let axis = if g.rng.chance(0.33) {
        g.tag("per-channel");
        Some(0)
    } else {
        None
    };
    let (filter, scales) = g.weights(&[units, depth], axis, units);
    let bias = g.bias(in_q.scales[0], &scales, depth, true);
    let out_q = g.accumulator_output(in_q.scales[0], &scales, depth);
    let output = g.output_i8(&[batch, units], out_q);
    let act = g.activation();
    let o = opts(options::FULLY_CONNECTED, vec![Field::I8(0, act)]);
    g.operator(code::FULLY_CONNECTED, &[input, filter, bias], &[output], o);
    vec![output]
}

fn pool(g: &mut Gen, code: i32) -> Vec<i32> {
    let batch = if g.rng.chance(0.15) { 2 } else { 1 };
    let channels = g.rng.size(1, 8);
    let w = Window::random(&mut g.rng, 4, false);
    let [oh, ow] = w.output();
    // Pooling keeps its input's quantization (TFLM does not rescale).
    let q = g.quant();
    let input = g.input_i8(&[batch, w.input[0], w.input[1], channels], q.clone());
    let output = g.output_i8(&[batch, oh, ow, channels], q);
    let act = g.activation();
    let o = opts(
        options::POOL_2D,
        vec![
            Field::I8(0, w.padding()),
            Field::I32(1, w.stride[1] as i32),
            Field::I32(2, w.stride[0] as i32),
            Field::I32(3, w.filter[1] as i32),
            Field::I32(4, w.filter[0] as i32),
            Field::I8(5, act),
        ],
    );
    g.operator(code, &[input], &[output], o);
    vec![output]
}

pub fn average_pool_2d(g: &mut Gen) -> Vec<i32> {
    pool(g, code::AVERAGE_POOL_2D)
}

pub fn max_pool_2d(g: &mut Gen) -> Vec<i32> {
    pool(g, code::MAX_POOL_2D)
}

/// Two shapes that broadcast (numpy rules, trailing axes aligned, ranks up
/// to 4, or one time in five up to 6), and the result's shape.
fn broadcast_shapes(rng: &mut Rng) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let out: Vec<usize> = if rng.chance(0.2) {
        let rank = rng.size(5, 6);
        (0..rank).map(|_| rng.size(1, 3)).collect()
    } else {
        let rank = rng.size(1, 4);
        (0..rank).map(|_| rng.size(1, 6)).collect()
    };
    let operand = |rng: &mut Rng| -> Vec<usize> {
        let drop = if rng.chance(0.25) {
            rng.size(0, out.len() - 1)
        } else {
            0
        };
        out[drop..]
            .iter()
            .map(|&d| if rng.chance(0.3) { 1 } else { d })
            .collect()
    };
    let a = operand(rng);
    let b = operand(rng);
    // The result is what the operands broadcast to.
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| -> usize {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    let result = (0..rank).map(|i| dim(&a, i).max(dim(&b, i))).collect();
    (a, b, result)
}

fn binary(g: &mut Gen, code: i32, union_type: u8) -> Vec<i32> {
    let (a, b, out) = broadcast_shapes(&mut g.rng);
    if out.len() > 4 {
        g.tag("rank 5 or 6");
    }
    let qa = g.quant();
    let qb = if g.rng.chance(0.5) {
        g.near(qa.scales[0] as f64, 1.0)
    } else {
        g.quant()
    };
    let big = qa.scales[0].max(qb.scales[0]) as f64;
    let real = |q: &Quant| {
        let (s, z) = (q.scales[0] as f64, q.zero_points[0] as f64);
        ((-128.0 - z) * s, (127.0 - z) * s)
    };
    let ((a_lo, a_hi), (b_lo, b_hi)) = (real(&qa), real(&qb));
    let out_q = if g.rng.chance(0.5) {
        // Calibrated on the result's range, as a converter would.
        let (lo, hi) = match code {
            code::ADD => (a_lo + b_lo, a_hi + b_hi),
            code::SUB => (a_lo - b_hi, a_hi - b_lo),
            _ => {
                let corners = [a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi];
                let lo = corners.iter().copied().fold(f64::MAX, f64::min);
                (lo, corners.iter().copied().fold(f64::MIN, f64::max))
            }
        };
        g.calibrated(lo, hi)
    } else if code == code::MUL {
        g.near(qa.scales[0] as f64 * qb.scales[0] as f64 * 128.0, 1.5)
    } else {
        // TFLM's ADD and SUB need the output scale above 2^-18 of the
        // larger input scale (their rescaling multiplier must stay below 1).
        g.near(big, 1.5)
    };
    let ia = g.input_i8(&a, qa);
    // One operand constant one time in four, as converters write biases
    // and scalars into elementwise ops.
    let ib = if g.rng.chance(0.25) {
        let n = b.iter().product();
        let values = g.rng.i8s(n);
        g.model.constant_i8(&b, qb, &values)
    } else {
        g.input_i8(&b, qb)
    };
    let output = g.output_i8(&out, out_q);
    let act = g.activation();
    let (x, y) = if g.rng.chance(0.5) {
        (ia, ib)
    } else {
        (ib, ia)
    };
    g.operator(
        code,
        &[x, y],
        &[output],
        opts(union_type, vec![Field::I8(0, act)]),
    );
    vec![output]
}

pub fn add(g: &mut Gen) -> Vec<i32> {
    binary(g, code::ADD, options::ADD)
}

pub fn sub(g: &mut Gen) -> Vec<i32> {
    binary(g, code::SUB, options::SUB)
}

pub fn mul(g: &mut Gen) -> Vec<i32> {
    binary(g, code::MUL, options::MUL)
}

pub fn softmax(g: &mut Gen) -> Vec<i32> {
    let shape = if g.rng.chance(0.7) {
        vec![g.rng.size(1, 3), g.rng.size(1, 40)]
    } else {
        vec![1, g.rng.size(1, 4), g.rng.size(1, 4), g.rng.size(1, 10)]
    };
    let q = g.quant();
    let input = g.input_i8(&shape, q);
    // TFLM's int8 softmax writes at scale 1/256, zero point -128.
    let output = g.output_i8(&shape, Quant::tensor(1.0 / 256.0, -128));
    let beta = if g.rng.chance(0.6) {
        1.0
    } else {
        g.rng.uniform(0.1, 3.0) as f32
    };
    let o = opts(options::SOFTMAX, vec![Field::F32(0, beta)]);
    g.operator(code::SOFTMAX, &[input], &[output], o);
    vec![output]
}

/// A unary op from int8 to int8 with no options.
fn unary(g: &mut Gen, code: i32, output: Option<Quant>) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let q = g.quant();
    let out_q = match output {
        Some(q) => q,
        None => g.near(q.scales[0] as f64, 1.0),
    };
    let input = g.input_i8(&shape, q);
    let output = g.output_i8(&shape, out_q);
    g.operator(code, &[input], &[output], Options::default());
    vec![output]
}

pub fn logistic(g: &mut Gen) -> Vec<i32> {
    unary(g, code::LOGISTIC, Some(Quant::tensor(1.0 / 256.0, -128)))
}

pub fn tanh(g: &mut Gen) -> Vec<i32> {
    unary(g, code::TANH, Some(Quant::tensor(1.0 / 128.0, 0)))
}

pub fn relu(g: &mut Gen) -> Vec<i32> {
    unary(g, code::RELU, None)
}

pub fn relu6(g: &mut Gen) -> Vec<i32> {
    unary(g, code::RELU6, None)
}

pub fn hard_swish(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let q = g.quant();
    let out_q = g.near(q.scales[0] as f64, 1.0);
    let input = g.input_i8(&shape, q);
    let output = g.output_i8(&shape, out_q);
    g.operator(
        code::HARD_SWISH,
        &[input],
        &[output],
        opts(options::HARD_SWISH, vec![]),
    );
    vec![output]
}

pub fn leaky_relu(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let q = g.quant();
    let out_q = g.near(q.scales[0] as f64, 1.0);
    let input = g.input_i8(&shape, q);
    let output = g.output_i8(&shape, out_q);
    let alpha = if g.rng.chance(0.8) {
        g.rng.uniform(0.01, 0.99)
    } else {
        g.rng.uniform(1.0, 4.0)
    } as f32;
    let o = opts(options::LEAKY_RELU, vec![Field::F32(0, alpha)]);
    g.operator(code::LEAKY_RELU, &[input], &[output], o);
    vec![output]
}

pub fn prelu(g: &mut Gen) -> Vec<i32> {
    let (h, w, c) = (g.rng.size(1, 5), g.rng.size(1, 5), g.rng.size(1, 6));
    let q = g.quant();
    let out_q = g.near(q.scales[0] as f64, 1.0);
    let input = g.input_i8(&[1, h, w, c], q);
    let alpha_shape = match g.rng.size(0, 2) {
        0 => vec![c],
        1 => vec![1, 1, c],
        _ => vec![h, w, c],
    };
    let n = alpha_shape.iter().product();
    let alpha_q = Quant::tensor(
        10f64.powf(g.rng.uniform(-3.0, -1.0)) as f32,
        g.rng.range(-128, 127) as i32,
    );
    let values = g.rng.i8s(n);
    let alpha = g.model.constant_i8(&alpha_shape, alpha_q, &values);
    let output = g.output_i8(&[1, h, w, c], out_q);
    g.operator(code::PRELU, &[input, alpha], &[output], Options::default());
    vec![output]
}

pub fn mean(g: &mut Gen) -> Vec<i32> {
    let shape = if g.rng.chance(0.7) {
        vec![
            g.rng.size(1, 2),
            g.rng.size(1, 6),
            g.rng.size(1, 6),
            g.rng.size(1, 6),
        ]
    } else {
        g.shape(3, 8)
    };
    let rank = shape.len();
    let mut axes: Vec<usize> = (0..rank).filter(|_| g.rng.chance(0.5)).collect();
    if axes.is_empty() {
        axes.push(g.rng.size(0, rank - 1));
    }
    let keep = g.rng.chance(0.5);
    let out_shape: Vec<usize> = (0..rank)
        .filter_map(|d| match (axes.contains(&d), keep) {
            (false, _) => Some(shape[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let q = g.quant();
    let out_q = g.near(q.scales[0] as f64, 1.0);
    let input = g.input_i8(&shape, q);
    // Axes as written, negative one time in three.
    let written: Vec<i32> = axes
        .iter()
        .map(|&a| {
            if g.rng.chance(0.33) {
                a as i32 - rank as i32
            } else {
                a as i32
            }
        })
        .collect();
    let axes_t = g.model.constant_i32(&[written.len()], None, &written);
    let output = g.output_i8(&out_shape, out_q);
    let o = opts(options::REDUCER, vec![Field::Bool(0, keep)]);
    g.operator(code::MEAN, &[input, axes_t], &[output], o);
    vec![output]
}

pub fn pad(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 5);
    let paddings: Vec<i32> = (0..shape.len() * 2)
        .map(|_| g.rng.range(0, 3) as i32)
        .collect();
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| n + (paddings[2 * d] + paddings[2 * d + 1]) as usize)
        .collect();
    let q = g.quant();
    let input = g.input_i8(&shape, q.clone());
    let paddings = g.model.constant_i32(&[shape.len(), 2], None, &paddings);
    let output = g.output_i8(&out_shape, q);
    g.operator(
        code::PAD,
        &[input, paddings],
        &[output],
        opts(options::PAD, vec![]),
    );
    vec![output]
}

pub fn concatenation(g: &mut Gen) -> Vec<i32> {
    let base = g.shape(4, 4);
    let rank = base.len();
    let axis = g.rng.size(0, rank - 1);
    let count = g.rng.size(2, 4);
    // TFLM concatenates int8 without rescaling: one quantization for all.
    let q = g.quant();
    let mut inputs = Vec::new();
    let mut total = 0;
    for _ in 0..count {
        let mut s = base.clone();
        s[axis] = g.rng.size(1, 4);
        total += s[axis];
        inputs.push(g.input_i8(&s, q.clone()));
    }
    let mut out_shape = base;
    out_shape[axis] = total;
    let output = g.output_i8(&out_shape, q);
    let written = if g.rng.chance(0.3) {
        axis as i32 - rank as i32
    } else {
        axis as i32
    };
    let o = opts(
        options::CONCATENATION,
        vec![Field::I32(0, written), Field::I8(1, 0)],
    );
    g.operator(code::CONCATENATION, &inputs, &[output], o);
    vec![output]
}

pub fn transpose_conv(g: &mut Gen) -> Vec<i32> {
    let (h, w) = (g.rng.size(1, 6), g.rng.size(1, 6));
    let wide = if g.rng.chance(0.2) { 4 } else { 1 };
    let (cin, cout) = (g.rng.size(1, 6 * wide), g.rng.size(1, 6 * wide));
    let (kh, kw) = (g.rng.size(1, 4), g.rng.size(1, 4));
    let (sh, sw) = (g.rng.size(1, 3), g.rng.size(1, 3));
    let same = g.rng.chance(0.5);
    let out = |n: usize, k: usize, s: usize| if same { n * s } else { (n - 1) * s + k };
    let (oh, ow) = (out(h, kh, sh), out(w, kw, sw));
    let in_q = g.quant();
    let shape = g
        .model
        .constant_i32(&[4], None, &[1, oh as i32, ow as i32, cout as i32]);
    let (filter, scales) = g.weights(&[cout, kh, kw, cin], Some(0), cout);
    let input = g.input_i8(&[1, h, w, cin], in_q.clone());
    // Each output sums about (k/s)^2 * cin products.
    let taps = (kh.div_ceil(sh) * kw.div_ceil(sw) * cin).max(1);
    let bias = g.bias(in_q.scales[0], &scales, taps, true);
    let out_q = g.accumulator_output(in_q.scales[0], &scales, taps);
    let output = g.output_i8(&[1, oh, ow, cout], out_q);
    let act = g.activation();
    let o = opts(
        options::TRANSPOSE_CONV,
        vec![
            Field::I8(0, if same { SAME } else { VALID }),
            Field::I32(1, sw as i32),
            Field::I32(2, sh as i32),
            Field::I8(3, act),
        ],
    );
    g.operator(
        code::TRANSPOSE_CONV,
        &[shape, filter, input, bias],
        &[output],
        o,
    );
    vec![output]
}

pub fn quantize(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let out_q = g.quant();
    let input = if g.rng.chance(0.5) {
        // float32 to int8, over about the output's range.
        let s = out_q.scales[0] as f64 * 128.0 * g.rng.uniform(0.5, 2.0);
        g.tag("float32 to int8");
        g.input_f32(&shape, -s, s)
    } else {
        // int8 to int8: a requantization.
        let q = g.near(out_q.scales[0] as f64, 1.5);
        g.tag("int8 to int8");
        g.input_i8(&shape, q)
    };
    let output = g.output_i8(&shape, out_q);
    g.operator(
        code::QUANTIZE,
        &[input],
        &[output],
        opts(options::QUANTIZE, vec![]),
    );
    vec![output]
}

pub fn dequantize(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let q = g.quant();
    let input = g.input_i8(&shape, q);
    let output = g.model.tensor(&shape, TensorType::F32, None);
    g.operator(
        code::DEQUANTIZE,
        &[input],
        &[output],
        opts(options::DEQUANTIZE, vec![]),
    );
    vec![output]
}

pub fn reshape(g: &mut Gen) -> Vec<i32> {
    let shape = g.shape(4, 6);
    let n: usize = shape.iter().product();
    // A new shape: `n` split into random factors.
    let mut rest = n;
    let mut new_shape = Vec::new();
    while rest > 1 && new_shape.len() < 3 {
        let divisors: Vec<usize> = (1..=rest).filter(|&d| rest.is_multiple_of(d)).collect();
        let d = g.rng.pick(&divisors);
        new_shape.push(d);
        rest /= d;
    }
    new_shape.push(rest);
    let q = g.quant();
    let input = g.input_i8(&shape, q.clone());
    let dims: Vec<i32> = new_shape.iter().map(|&d| d as i32).collect();
    let shape_t = g.model.constant_i32(&[dims.len()], None, &dims);
    let output = g.output_i8(&new_shape, q);
    let o = opts(options::RESHAPE, vec![Field::I32s(0, dims)]);
    g.operator(code::RESHAPE, &[input, shape_t], &[output], o);
    vec![output]
}

pub fn squeeze(g: &mut Gen) -> Vec<i32> {
    let mut shape = g.shape(4, 5);
    // At least one axis of size 1 to squeeze.
    let at = g.rng.size(0, shape.len());
    shape.insert(at, 1);
    let ones: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] == 1).collect();
    let dims: Vec<usize> = if g.rng.chance(0.3) {
        Vec::new() // every axis of size 1
    } else {
        let chosen: Vec<usize> = ones.iter().copied().filter(|_| g.rng.chance(0.6)).collect();
        if chosen.is_empty() {
            vec![at]
        } else {
            chosen
        }
    };
    let out_shape: Vec<usize> = (0..shape.len())
        .filter(|d| {
            if dims.is_empty() {
                shape[*d] != 1
            } else {
                !dims.contains(d)
            }
        })
        .map(|d| shape[d])
        .collect();
    let q = g.quant();
    let input = g.input_i8(&shape, q.clone());
    let output = g.output_i8(&out_shape, q);
    let o = opts(
        options::SQUEEZE,
        vec![Field::I32s(0, dims.iter().map(|&d| d as i32).collect())],
    );
    g.operator(code::SQUEEZE, &[input], &[output], o);
    vec![output]
}

/// One convolution layer of a multi-op model, on `input` (NHWC `shape`,
/// quantization `q`): 1x1 CONV_2D to `channels`, or 3x3 DEPTHWISE_CONV_2D
/// (SAME, stride 1) when `depthwise`. Returns the output tensor and its
/// quantization.
fn layer(
    g: &mut Gen,
    input: i32,
    shape: [usize; 4],
    q: &Quant,
    channels: usize,
    depthwise: bool,
) -> (i32, Quant) {
    let [n, h, w, c] = shape;
    let (filter, scales, taps) = if depthwise {
        let (t, s) = g.weights(&[1, 3, 3, c], Some(3), c);
        (t, s, 9)
    } else {
        let (t, s) = g.weights(&[channels, 1, 1, c], Some(0), channels);
        (t, s, c)
    };
    let bias = g.bias(q.scales[0], &scales, taps, false);
    let out_q = g.accumulator_output(q.scales[0], &scales, taps);
    let output = g.output_i8(&[n, h, w, channels], out_q.clone());
    let act = g.activation();
    let o = if depthwise {
        opts(
            options::DEPTHWISE_CONV_2D,
            vec![
                Field::I8(0, SAME),
                Field::I32(1, 1),
                Field::I32(2, 1),
                Field::I32(3, 1),
                Field::I8(4, act),
            ],
        )
    } else {
        opts(
            options::CONV_2D,
            vec![
                Field::I8(0, SAME),
                Field::I32(1, 1),
                Field::I32(2, 1),
                Field::I8(3, act),
            ],
        )
    };
    let code = if depthwise {
        code::DEPTHWISE_CONV_2D
    } else {
        code::CONV_2D
    };
    g.operator(code, &[input, filter, bias], &[output], o);
    (output, out_q)
}

/// A MobileNetV2 inverted residual block: 1x1 expansion, 3x3 depthwise,
/// 1x1 projection, and ADD of the block's input. Four ops whose buffers
/// the planner may share or overlap.
pub fn inverted_residual(g: &mut Gen) -> Vec<i32> {
    let (h, w, c) = (g.rng.size(1, 8), g.rng.size(1, 8), g.rng.size(1, 8));
    let expanded = c * g.rng.size(1, 4);
    let q = g.quant();
    let x = g.input_i8(&[1, h, w, c], q.clone());
    let (e, qe) = layer(g, x, [1, h, w, c], &q, expanded, false);
    let (d, qd) = layer(g, e, [1, h, w, expanded], &qe, expanded, true);
    let (p, qp) = layer(g, d, [1, h, w, expanded], &qd, c, false);
    let big = q.scales[0].max(qp.scales[0]) as f64;
    let out_q = g.near(big, 1.0);
    let output = g.output_i8(&[1, h, w, c], out_q);
    g.operator(
        code::ADD,
        &[x, p],
        &[output],
        opts(options::ADD, vec![Field::I8(0, 0)]),
    );
    vec![output]
}

/// A classifier head: MEAN over height and width, FULLY_CONNECTED to the
/// classes, SOFTMAX.
pub fn classifier_head(g: &mut Gen) -> Vec<i32> {
    let (h, w, c) = (g.rng.size(1, 6), g.rng.size(1, 6), g.rng.size(1, 32));
    let classes = g.rng.size(2, 12);
    let q = g.quant();
    let x = g.input_i8(&[1, h, w, c], q.clone());
    let axes = g.model.constant_i32(&[2], None, &[1, 2]);
    let pooled_q = g.near(q.scales[0] as f64, 0.5);
    let pooled = g.output_i8(&[1, c], pooled_q.clone());
    g.operator(
        code::MEAN,
        &[x, axes],
        &[pooled],
        opts(options::REDUCER, vec![Field::Bool(0, false)]),
    );
    let (filter, scales) = g.weights(&[classes, c], None, classes);
    let bias = g.bias(pooled_q.scales[0], &scales, c, true);
    let logits_q = g.accumulator_output(pooled_q.scales[0], &scales, c);
    let logits = g.output_i8(&[1, classes], logits_q);
    g.operator(
        code::FULLY_CONNECTED,
        &[pooled, filter, bias],
        &[logits],
        opts(options::FULLY_CONNECTED, vec![Field::I8(0, 0)]),
    );
    let output = g.output_i8(&[1, classes], Quant::tensor(1.0 / 256.0, -128));
    g.operator(
        code::SOFTMAX,
        &[logits],
        &[output],
        opts(options::SOFTMAX, vec![Field::F32(0, 1.0)]),
    );
    vec![output]
}
