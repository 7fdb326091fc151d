//! Plain (not quantized) integer elementwise arithmetic: TFLM's int32 ADD,
//! SUB, MUL, MAXIMUM and MINIMUM, and ONNX's Add, Sub, Mul, Max and Min on
//! int8, int16 and int32 tensors. The arithmetic wraps in the tensor's own
//! type (numpy's and ONNX's rule, and what TFLM's int32 kernels compile
//! to), then a fused activation clamps.
//!
//! Layer: kernels; uses `elementwise::Broadcast`.

use super::elementwise::Broadcast;
use crate::wire::{wire_enum, wire_struct};

wire_enum! {
    /// The function of two integers.
    pub enum IntegerFunction {
        #[default]
        Add = 0,
        Sub = 1,
        Mul = 2,
        Max = 3,
        Min = 4,
    }
}

wire_struct! {
    /// A plain-integer binary op: the function, the broadcast, and the
    /// fused activation's range (the type's whole range without one).
    pub struct IntegerParams {
        pub function: IntegerFunction,
        pub broadcast: Broadcast,
        pub activation_min: i32,
        pub activation_max: i32,
    }
}

/// An integer type a plain-integer op computes in.
pub trait PlainInteger: Copy + Ord {
    /// The value's bits widened to i64, and back, wrapping.
    fn widen(self) -> i64;
    fn wrap(v: i64) -> Self;
}

macro_rules! plain_integer {
    ($($t:ty),*) => {$(
        impl PlainInteger for $t {
            #[inline(always)]
            fn widen(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn wrap(v: i64) -> Self {
                v as $t
            }
        }
    )*};
}
plain_integer!(i8, i16, i32);

impl IntegerFunction {
    /// The function of `x` and `y`, wrapped to `T`.
    #[inline(always)]
    pub fn at<T: PlainInteger>(self, x: T, y: T) -> T {
        let (a, b) = (x.widen(), y.widen());
        match self {
            // Each of these fits in i64 for 32-bit operands, so wrapping
            // the exact result to T is the operation's wrap in T.
            IntegerFunction::Add => T::wrap(a + b),
            IntegerFunction::Sub => T::wrap(a - b),
            IntegerFunction::Mul => T::wrap(a * b),
            IntegerFunction::Max => x.max(y),
            IntegerFunction::Min => x.min(y),
        }
    }
}

/// The op on every output element, clamped to the activation range.
pub fn integer_binary<T: PlainInteger>(
    p: &IntegerParams,
    input1: &[T],
    input2: &[T],
    output: &mut [T],
) {
    let (low, high) = (i64::from(p.activation_min), i64::from(p.activation_max));
    let function = p.function;
    p.broadcast.map(input1, input2, output, |x, y| {
        let v = function.at(x, y).widen();
        T::wrap(if v < low {
            low
        } else if v > high {
            high
        } else {
            v
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(function: IntegerFunction, n: u32, range: (i32, i32)) -> IntegerParams {
        let broadcast = Broadcast {
            output_dims: [1, 1, 1, 1, 1, n],
            input1_strides: [0, 0, 0, 0, 0, 1],
            input2_strides: [0, 0, 0, 0, 0, 1],
            same_shape: true,
        };
        IntegerParams {
            function,
            broadcast,
            activation_min: range.0,
            activation_max: range.1,
        }
    }

    #[test]
    fn arithmetic_wraps_in_the_tensor_type_and_then_clamps() {
        let full8 = (i8::MIN.into(), i8::MAX.into());
        let mut out = [0i8; 3];
        integer_binary(
            &params(IntegerFunction::Add, 3, full8),
            &[100, -100, 5],
            &[100, -100, -7],
            &mut out,
        );
        assert_eq!(out, [-56, 56, -2]);
        integer_binary(
            &params(IntegerFunction::Mul, 3, full8),
            &[16, -3, 7],
            &[16, 5, 7],
            &mut out,
        );
        assert_eq!(out, [0, -15, 49]);
        let mut out = [0i32; 3];
        let full32 = (i32::MIN, i32::MAX);
        integer_binary(
            &params(IntegerFunction::Sub, 3, full32),
            &[i32::MIN, 5, 0],
            &[1, 7, i32::MIN],
            &mut out,
        );
        assert_eq!(out, [i32::MAX, -2, i32::MIN]);
        integer_binary(
            &params(IntegerFunction::Add, 3, (0, 10)),
            &[-5, 4, 9],
            &[1, 4, 9],
            &mut out,
        );
        assert_eq!(out, [0, 8, 10]);
        let mut out = [0i16; 2];
        let full16 = (i16::MIN.into(), i16::MAX.into());
        integer_binary(
            &params(IntegerFunction::Max, 2, full16),
            &[-3, 300],
            &[2, -300],
            &mut out,
        );
        assert_eq!(out, [2, 300]);
        integer_binary(
            &params(IntegerFunction::Min, 2, full16),
            &[-3, 300],
            &[2, -300],
            &mut out,
        );
        assert_eq!(out, [-3, -300]);
    }
}
