//! CAST: each value converted to another type as C++'s `static_cast`
//! converts it (TFLM's cast.cc): integers wrap into a narrower type,
//! floats truncate toward zero, anything nonzero is a true bool.
//!
//! Layer: kernels; a pure function over byte slices.

use crate::wire::wire_enum;

wire_enum! {
    /// A value type CAST converts between (a bool is one byte, 0 or 1).
    pub enum CastType {
        #[default]
        I8 = 0,
        I16 = 1,
        I32 = 2,
        F32 = 3,
        Bool = 4,
    }
}

impl CastType {
    pub const fn size(self) -> usize {
        match self {
            CastType::I8 | CastType::Bool => 1,
            CastType::I16 => 2,
            CastType::I32 | CastType::F32 => 4,
        }
    }
}

/// One value between reading and writing: integers exactly, floats as
/// they are.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Float(f32),
}

fn read(from: CastType, b: &[u8]) -> Value {
    let byte = |i: usize| super::at(b, i, 0);
    let word = || [byte(0), byte(1), byte(2), byte(3)];
    match from {
        CastType::I8 | CastType::Bool => Value::Int(i64::from(byte(0) as i8)),
        CastType::I16 => Value::Int(i64::from(i16::from_le_bytes([byte(0), byte(1)]))),
        CastType::I32 => Value::Int(i64::from(i32::from_le_bytes(word()))),
        CastType::F32 => Value::Float(f32::from_le_bytes(word())),
    }
}

fn write(to: CastType, v: Value, out: &mut [u8]) {
    // A float out of an integer type's range is undefined in C++; the
    // Cortex-M's conversion (VCVT, which TFLM's static_cast compiles to)
    // saturates to int32, as Rust's `as` does (NaN is 0); a narrower type
    // then wraps, as integers do.
    let int = match v {
        Value::Int(i) => i,
        Value::Float(f) => i64::from(f as i32),
    };
    let bytes: [u8; 4] = match to {
        CastType::I8 => [int as i8 as u8, 0, 0, 0],
        CastType::I16 => {
            let [a, b] = (int as i16).to_le_bytes();
            [a, b, 0, 0]
        }
        CastType::I32 => (int as i32).to_le_bytes(),
        CastType::F32 => match v {
            Value::Int(i) => (i as f32).to_le_bytes(),
            Value::Float(f) => f.to_le_bytes(),
        },
        CastType::Bool => {
            let truth = match v {
                Value::Int(i) => i != 0,
                Value::Float(f) => f != 0.0,
            };
            [u8::from(truth), 0, 0, 0]
        }
    };
    super::copy(out, &bytes);
}

/// Every `from` value of `input` as a `to` value in `output`.
pub fn cast(from: CastType, to: CastType, input: &[u8], output: &mut [u8]) {
    // To the same type: the bytes as they are (READ_VARIABLE and
    // ASSIGN_VARIABLE copy this way).
    if from == to {
        let n = input.len().min(output.len());
        output[..n].copy_from_slice(&input[..n]);
        return;
    }
    let chunks = input.chunks_exact(from.size());
    for (i, o) in chunks.zip(output.chunks_exact_mut(to.size())) {
        write(to, read(from, i), o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_as_static_cast_does() {
        let ints: Vec<u8> = [300i32, -7, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut narrow = [0u8; 3];
        cast(CastType::I32, CastType::I8, &ints, &mut narrow);
        assert_eq!(narrow.map(|b| b as i8), [44, -7, 0]);
        let mut truth = [9u8; 3];
        cast(CastType::I32, CastType::Bool, &ints, &mut truth);
        assert_eq!(truth, [1, 1, 0]);
        let floats: Vec<u8> = [-2.7f32, 2.7, 1e10]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = [0u8; 12];
        cast(CastType::F32, CastType::I32, &floats, &mut out);
        let got: Vec<i32> = out
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // 1e10 is out of range (undefined in C++): saturated, as VCVT does.
        assert_eq!(got, [-2, 2, i32::MAX]);
        let mut narrow = [0u8; 3];
        cast(CastType::F32, CastType::I8, &floats, &mut narrow);
        assert_eq!(
            narrow.map(|b| b as i8),
            [-2, 2, -1],
            "i32::MAX wrapped to int8"
        );
        let mut halves = [0u8; 4];
        cast(CastType::Bool, CastType::I16, &[1, 0], &mut halves);
        assert_eq!(halves, [1, 0, 0, 0]);
    }
}
