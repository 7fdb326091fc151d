//! The fast paths against the reference kernels on seeded random cases:
//! odd channel counts, depths that are no multiple of four, padding on
//! every side, strides, dilations, extreme multipliers and shifts, every
//! activation range. Host tests run it on the AVX2 micro-kernels (x86-64)
//! or the portable ones; the self-test firmware
//! (`targets/{cortex-m4,cortex-m33,riscv32}/src/bin/selftest.rs`) runs it on
//! the DSP ones and on the portable ones, in QEMU, in CI. A user can run it
//! on their own silicon.
//!
//! Layer: arch; uses `kernels` (the oracle) and the fast paths. No
//! allocation: the caller lends a [`Workspace`].

use crate::kernels::conv2d::{conv2d_s8, Conv2dParams, ConvGeometry};
use crate::kernels::depthwise_conv2d::depthwise_conv2d_s8;
use crate::kernels::elementwise::{add_s8, sub_s8, AddParams, Broadcast};
use crate::kernels::fully_connected::{
    fully_connected_s8, FullyConnectedParams, FullyConnectedShape,
};
use crate::kernels::pooling::{average_pool_s8, max_pool_s8, PoolGeometry, PoolParams};
use crate::tensor::Nhwc;

/// Buffers for one case at a time.
pub struct Workspace {
    input: [i8; 2048],
    filter: [i8; 4096],
    bias: [i32; 128],
    multiplier: [i32; 128],
    shift: [i32; 128],
    folded: [i32; 128],
    scratch: [i16; 1024],
    reference: [i8; 2048],
    fast: [i8; 2048],
}

impl Workspace {
    pub const fn new() -> Workspace {
        Workspace {
            input: [0; 2048],
            filter: [0; 4096],
            bias: [0; 128],
            multiplier: [0; 128],
            shift: [0; 128],
            folded: [0; 128],
            scratch: [0; 1024],
            reference: [0; 2048],
            fast: [0; 2048],
        }
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

/// The first case whose bytes differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub kernel: &'static str,
    pub case: u32,
    /// Index of the first differing output byte.
    pub index: usize,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let n = (hi - lo) as u64 + 1;
        lo + ((u64::from(self.next()) * n) >> 32) as i32
    }

    fn chance(&mut self, one_in: i32) -> bool {
        self.range(1, one_in) == 1
    }

    fn fill_i8(&mut self, values: &mut [i8]) {
        for v in values {
            *v = self.next() as i8;
        }
    }

    /// A zero point negated: the whole int8 range, its ends often.
    fn offset(&mut self) -> i32 {
        match self.range(0, 5) {
            0 => -127,
            1 => 128,
            _ => self.range(-127, 128),
        }
    }

    /// Requantization of one channel: mostly realistic (a Q31 multiplier
    /// in `[2^30, 2^31)` and a small right shift), sometimes extreme.
    fn requantization(&mut self) -> (i32, i32) {
        if self.chance(4) {
            let multiplier = match self.range(0, 4) {
                0 => 0,
                1 => 1,
                2 => i32::MAX,
                _ => (self.next() >> 1) as i32,
            };
            (multiplier, self.range(-31, 30))
        } else {
            ((1 << 30) + (self.next() >> 2) as i32, self.range(-12, 1))
        }
    }

    fn activation(&mut self) -> (i32, i32) {
        if self.chance(2) {
            (-128, 127)
        } else {
            let a = self.range(-128, 127);
            let b = self.range(-128, 127);
            (a.min(b), a.max(b))
        }
    }

    fn bias(&mut self, bias: &mut [i32]) -> bool {
        let wide = self.chance(3);
        for b in bias.iter_mut() {
            *b = if wide {
                self.next() as i32
            } else {
                self.range(-20_000, 20_000)
            };
        }
        !self.chance(5)
    }
}

fn first_difference(a: &[i8], b: &[i8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// Runs `cases` random convolutions and as many fully connected layers,
/// from `seed`, through the fast paths and the reference kernels.
pub fn run(seed: u64, cases: u32, w: &mut Workspace) -> Result<(), Mismatch> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for case in 0..cases {
        conv_case(&mut rng, w).map_err(|index| Mismatch {
            kernel: "CONV_2D (gemm)",
            case,
            index,
        })?;
        depthwise_case(&mut rng, w).map_err(|index| Mismatch {
            kernel: "DEPTHWISE_CONV_2D (blocked)",
            case,
            index,
        })?;
        add_case(&mut rng, w).map_err(|index| Mismatch {
            kernel: "ADD/SUB (same shape)",
            case,
            index,
        })?;
        pool_case(&mut rng, w).map_err(|index| Mismatch {
            kernel: "AVERAGE_POOL_2D/MAX_POOL_2D",
            case,
            index,
        })?;
        fully_connected_case(&mut rng, w).map_err(|index| Mismatch {
            kernel: "FULLY_CONNECTED (gemm)",
            case,
            index,
        })?;
    }
    Ok(())
}

/// One output extent from an input extent, a filter, a stride, a dilation
/// and padding before and after; `None` when no window fits.
fn extent(input: i32, filter: i32, stride: i32, dilation: i32, pad: (i32, i32)) -> Option<u32> {
    let span = (filter - 1) * dilation + 1;
    let room = input + pad.0 + pad.1 - span;
    (room >= 0).then(|| (room / stride + 1) as u32)
}

/// Random convolution parameters whose input, filter (`[O, KH, KW, I]`,
/// or `[1, KH, KW, C]` for a depthwise one) and output fit `w`.
fn conv_params(rng: &mut Rng, w: &Workspace, depthwise: bool) -> (Conv2dParams, usize) {
    loop {
        let batches = rng.range(1, 2);
        // Depthwise layers get wider: their fast paths take 16 channels at once.
        let channels = if depthwise { 80 } else { 12 };
        let (in_h, in_w, in_c) = (rng.range(1, 9), rng.range(1, 9), rng.range(1, channels));
        let (f_h, f_w) = (rng.range(1, 4), rng.range(1, 4));
        let (s_h, s_w) = (rng.range(1, 3), rng.range(1, 3));
        let (d_h, d_w) = (rng.range(1, 2), rng.range(1, 2));
        let pad_h = (rng.range(0, f_h - 1) * d_h, rng.range(0, f_h - 1) * d_h);
        let pad_w = (rng.range(0, f_w - 1) * d_w, rng.range(0, f_w - 1) * d_w);
        let out_c = if depthwise { in_c } else { rng.range(1, 9) };
        let (Some(out_h), Some(out_w)) = (
            extent(in_h, f_h, s_h, d_h, pad_h),
            extent(in_w, f_w, s_w, d_w, pad_w),
        ) else {
            continue;
        };
        let out_len = batches as usize * out_h as usize * out_w as usize * out_c as usize;
        let in_len = (batches * in_h * in_w * in_c) as usize;
        let filter_len = (out_c * f_h * f_w) as usize * if depthwise { 1 } else { in_c as usize };
        if out_len > w.fast.len() || in_len > w.input.len() || filter_len > w.filter.len() {
            continue;
        }
        let (activation_min, activation_max) = rng.activation();
        let p = Conv2dParams {
            geometry: ConvGeometry {
                input: Nhwc::new(batches as u32, in_h as u32, in_w as u32, in_c as u32),
                output: Nhwc::new(batches as u32, out_h, out_w, out_c as u32),
                filter_height: f_h as u32,
                filter_width: f_w as u32,
                filter_channels: if depthwise { 1 } else { in_c as u32 },
                stride_height: s_h as u32,
                stride_width: s_w as u32,
                dilation_height: d_h as u32,
                dilation_width: d_w as u32,
                padding_top: pad_h.0 as u32,
                padding_left: pad_w.0 as u32,
            },
            input_offset: rng.offset(),
            output_offset: rng.range(-128, 127),
            activation_min,
            activation_max,
        };
        break (p, out_len);
    }
}

fn conv_case(rng: &mut Rng, w: &mut Workspace) -> Result<(), usize> {
    let (p, out_len) = conv_params(rng, w, false);
    let g = &p.geometry;
    let oc = g.output.channels as usize;
    let input = &mut w.input[..g.input.elements() as usize];
    rng.fill_i8(input);
    let k = (g.filter_height * g.filter_width * g.filter_channels) as usize;
    let filter = &mut w.filter[..oc * k];
    rng.fill_i8(filter);
    let bias = if rng.bias(&mut w.bias[..oc]) {
        &w.bias[..oc]
    } else {
        &[]
    };
    for c in 0..oc {
        (w.multiplier[c], w.shift[c]) = rng.requantization();
    }
    let (m, s) = (&w.multiplier[..oc], &w.shift[..oc]);
    let (reference, fast) = (&mut w.reference[..out_len], &mut w.fast[..out_len]);
    conv2d_s8(&p, &w.input[..], &w.filter[..], bias, m, s, reference);
    super::conv2d_s8_gemm(
        &p,
        &w.input[..],
        &w.filter[..],
        bias,
        m,
        s,
        &mut w.scratch,
        fast,
    );
    first_difference(reference, fast).map_or(Ok(()), Err)
}

fn depthwise_case(rng: &mut Rng, w: &mut Workspace) -> Result<(), usize> {
    let (p, out_len) = conv_params(rng, w, true);
    let g = &p.geometry;
    let c = g.output.channels as usize;
    rng.fill_i8(&mut w.input[..g.input.elements() as usize]);
    rng.fill_i8(&mut w.filter[..(g.filter_height * g.filter_width) as usize * c]);
    let bias = if rng.bias(&mut w.bias[..c]) {
        &w.bias[..c]
    } else {
        &[]
    };
    for ch in 0..c {
        (w.multiplier[ch], w.shift[ch]) = rng.requantization();
    }
    let (m, s) = (&w.multiplier[..c], &w.shift[..c]);
    let (reference, fast) = (&mut w.reference[..out_len], &mut w.fast[..out_len]);
    depthwise_conv2d_s8(&p, &w.input[..], &w.filter[..], bias, m, s, reference);
    super::depthwise_conv2d_s8(&p, &w.input[..], &w.filter[..], bias, m, s, fast);
    first_difference(reference, fast).map_or(Ok(()), Err)
}

/// Same-shape ADD or SUB: TFLM's parameters (left shift 20, shifts not
/// positive) most of the time, sometimes a positive output shift or a
/// larger left shift, which the fast path hands to the reference.
fn add_case(rng: &mut Rng, w: &mut Workspace) -> Result<(), usize> {
    let n = rng.range(1, 600) as usize;
    rng.fill_i8(&mut w.input[..n]);
    rng.fill_i8(&mut w.filter[..n]);
    let requantization = |rng: &mut Rng| {
        let (m, s) = rng.requantization();
        (m, if rng.chance(6) { s } else { s.min(0) })
    };
    let ((m1, s1), (m2, s2), (mo, so)) = (
        requantization(rng),
        requantization(rng),
        requantization(rng),
    );
    let (activation_min, activation_max) = rng.activation();
    let mut dims = [1u32; crate::tensor::MAX_RANK];
    dims[crate::tensor::MAX_RANK - 1] = n as u32;
    let p = AddParams {
        broadcast: Broadcast {
            output_dims: dims,
            input1_strides: [0; crate::tensor::MAX_RANK],
            input2_strides: [0; crate::tensor::MAX_RANK],
            same_shape: true,
        },
        input1_offset: rng.offset(),
        input2_offset: rng.offset(),
        left_shift: if rng.chance(8) { rng.range(0, 22) } else { 20 },
        input1_multiplier: m1,
        input1_shift: s1,
        input2_multiplier: m2,
        input2_shift: s2,
        output_multiplier: mo,
        output_shift: so,
        output_offset: rng.range(-128, 127),
        activation_min,
        activation_max,
    };
    let (x, y) = (&w.input[..n], &w.filter[..n]);
    let (reference, fast) = (&mut w.reference[..n], &mut w.fast[..n]);
    if rng.chance(2) {
        add_s8(&p, x, y, reference);
        super::add_s8(&p, x, y, fast);
    } else {
        sub_s8(&p, x, y, reference);
        super::sub_s8(&p, x, y, fast);
    }
    first_difference(reference, fast).map_or(Ok(()), Err)
}

/// Average or max pooling, windows possibly dilated and over the padding, up to 80
/// channels (more than one pass of the fast path's channels).
fn pool_case(rng: &mut Rng, w: &mut Workspace) -> Result<(), usize> {
    let (p, out_len) = conv_params(rng, w, true);
    let g = &p.geometry;
    let pool = PoolParams {
        geometry: PoolGeometry {
            input: g.input,
            output: g.output,
            filter_height: g.filter_height,
            filter_width: g.filter_width,
            stride_height: g.stride_height,
            stride_width: g.stride_width,
            padding_top: g.padding_top,
            padding_left: g.padding_left,
            dilation_height: g.dilation_height,
            dilation_width: g.dilation_width,
        },
        activation_min: p.activation_min,
        activation_max: p.activation_max,
    };
    rng.fill_i8(&mut w.input[..g.input.elements() as usize]);
    let (reference, fast) = (&mut w.reference[..out_len], &mut w.fast[..out_len]);
    if rng.chance(2) {
        average_pool_s8(&pool, &w.input[..], reference);
        super::average_pool_s8(&pool, &w.input[..], fast);
    } else {
        max_pool_s8(&pool, &w.input[..], reference);
        super::max_pool_s8(&pool, &w.input[..], fast);
    }
    first_difference(reference, fast).map_or(Ok(()), Err)
}

fn fully_connected_case(rng: &mut Rng, w: &mut Workspace) -> Result<(), usize> {
    let (batches, depth, out_depth) = loop {
        let batches = rng.range(1, 3) as usize;
        let depth = rng.range(1, 300) as usize;
        let out_depth = rng.range(1, 20) as usize;
        if depth * out_depth <= w.filter.len() && batches * depth <= w.input.len() {
            break (batches, depth, out_depth);
        }
    };
    let (activation_min, activation_max) = rng.activation();
    let p = FullyConnectedParams {
        shape: FullyConnectedShape {
            batches: batches as u32,
            input_depth: depth as u32,
            output_depth: out_depth as u32,
        },
        input_offset: rng.offset(),
        filter_offset: 0,
        output_offset: rng.range(-128, 127),
        activation_min,
        activation_max,
    };
    rng.fill_i8(&mut w.input[..batches * depth]);
    rng.fill_i8(&mut w.filter[..depth * out_depth]);
    let bias = if rng.bias(&mut w.bias[..out_depth]) {
        &w.bias[..out_depth]
    } else {
        &[]
    };
    let channels = if rng.chance(2) { out_depth } else { 1 };
    for c in 0..channels {
        (w.multiplier[c], w.shift[c]) = rng.requantization();
    }
    let (m, s) = (&w.multiplier[..channels], &w.shift[..channels]);
    let out_len = batches * out_depth;
    let (reference, fast) = (&mut w.reference[..out_len], &mut w.fast[..out_len]);
    // Exactly the filter and input: the fast kernel may read nothing more.
    let (input, filter) = (&w.input[..batches * depth], &w.filter[..depth * out_depth]);
    fully_connected_s8(&p, input, filter, bias, m, s, reference);
    let folded = &mut w.folded[..out_depth];
    super::folded_bias(filter, bias, depth, p.input_offset, folded);
    super::fully_connected_s8_gemm(&p, input, filter, folded, m, s, fast);
    first_difference(reference, fast).map_or(Ok(()), Err)
}
