//! TFLite's int16 LOGISTIC and TANH: the table of sigmoid(k / 24) in 0.16
//! fixed point (`sigmoid_table_uint16`), interpolated. TFLM's int16
//! LOGISTIC and TANH kernels and its integer LSTM's gates share it.
//!
//! Layer: kernels; pure functions over values and slices, use `wire`.

use crate::wire::wire_struct;

wire_struct! {
    /// An int16 LOGISTIC's or TANH's input rescale to the table's scale,
    /// `x * multiplier` rounded right by `shift` (TFLM's power-of-two case
    /// already folded in: multiplier 3 << shift, shift 0).
    #[derive(Eq)]
    pub struct TableScale {
        pub multiplier: i32,
        pub shift: i32,
    }
}

/// int16 LOGISTIC (zero points 0, output scale 2^-15), as TFLM.
pub fn logistic_s16(p: &TableScale, input: &[i16], output: &mut [i16]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = logistic_q15(x, p.multiplier, p.shift);
    }
}

/// int16 TANH (zero points 0, output scale 2^-15), as TFLM.
pub fn tanh_s16(p: &TableScale, input: &[i16], output: &mut [i16]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = tanh_q15(x, p.multiplier, p.shift);
    }
}

/// sigmoid(k / 24) in 0.16 fixed point, k = 0..=255, as TFLite ships it
/// (within 1.2 of the exact values: a test recomputes them).
const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// The table at `k` and the step to `k + 1` (`k < 255`).
#[inline(always)]
fn table(k: u32) -> (i32, i32) {
    let a = i32::from(SIGMOID_TABLE[(k as usize).min(254)]);
    let b = i32::from(SIGMOID_TABLE[(k as usize).min(254) + 1]);
    (a, b - a)
}

/// `x * multiplier`, rounded right by `shift`: the input brought to the
/// table's scale (Q3.12 times 3, so that ±2^17 spans ±10.7). With
/// `multiplier` at most 2^15 and `shift` within 0..=31 nothing overflows.
#[inline(always)]
fn to_table_scale(x: i16, multiplier: i32, shift: i32) -> i32 {
    let rounding = if shift > 0 { 1 << (shift - 1) } else { 0 };
    (i32::from(x) * multiplier + rounding) >> shift
}

/// int16 LOGISTIC into Q0.15 as TFLite's reference `integer_ops::Logistic`
/// (`multiplier` and `shift` after its power-of-two case): the table
/// interpolated in steps of 1/512.
pub fn logistic_q15(x: i16, multiplier: i32, shift: i32) -> i16 {
    let v = to_table_scale(x, multiplier, shift);
    let a = v.unsigned_abs();
    let k = a >> 9;
    let r = if k >= 255 {
        0x7FFF << 10
    } else {
        let (base, step) = table(k);
        (base << 9) + (a & 0x1FF) as i32 * step
    };
    let r = if v >= 0 {
        r + (1 << 9)
    } else {
        (1 << 25) - r + (1 << 9) - 1
    };
    (r >> 10) as i16
}

/// int16 TANH into Q0.15 as TFLite's reference `integer_ops::Tanh`
/// (`tanh(x) = 2 sigmoid(2x) - 1`): the table interpolated in steps of
/// 1/256.
pub fn tanh_q15(x: i16, multiplier: i32, shift: i32) -> i16 {
    let v = to_table_scale(x, multiplier, shift);
    let a = v.unsigned_abs();
    let k = a >> 8;
    let r = if k >= 255 {
        0xFFFF << 8
    } else {
        let (base, step) = table(k);
        (base << 8) + (a & 0xFF) as i32 * step
    };
    let r = if v >= 0 {
        r - (1 << 23) + (1 << 7)
    } else {
        -r + (1 << 23) + (1 << 7) - 1
    };
    (r >> 8) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sigmoid_of_k_over_24() {
        for (k, &v) in SIGMOID_TABLE.iter().enumerate() {
            let exact = 65536.0 / (1.0 + libm::exp(-(k as f64) / 24.0));
            assert!(
                (f64::from(v) - exact).abs() < 1.2,
                "entry {k}: {v} against {exact}"
            );
        }
    }

    #[test]
    fn logistic_and_tanh_are_symmetric_and_saturate() {
        for x in [1i16, 100, 4095, 4096, 20000, i16::MAX] {
            let (s, t) = (logistic_q15(x, 3, 0), tanh_q15(x, 3, 0));
            assert!((i32::from(s) + i32::from(logistic_q15(-x, 3, 0)) - 32768).abs() <= 1);
            assert!((i32::from(t) + i32::from(tanh_q15(-x, 3, 0))).abs() <= 1);
        }
        assert_eq!(logistic_q15(0, 3, 0), 16384);
        assert_eq!(tanh_q15(0, 3, 0), 0);
        assert_eq!(tanh_q15(i16::MAX, 3 << 12, 0), 32767);
        // A multiplier and a rounding shift: 1 * 3 * 2^14 >> 15 rounds to 2.
        assert_eq!(to_table_scale(1, 3 << 14, 15), 2);
    }
}
