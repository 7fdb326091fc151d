//! Integer and bool arithmetic on constants, computed while reading: the
//! loop counters and conditions of a WHILE (`while_loop`), which kiln must
//! know at compile time to unroll the loop, and the slice bounds a tensor
//! list's writes compute from the counter (`pass_shapes`). Only int32 and bool values are
//! folded, whose arithmetic is exact (int32 wraps as TFLM's does in
//! practice), so a folded value is the one TFLM computes; quantized values
//! are left to the kernels.
//!
//! Layer: import; uses the flatbuffer reader and `ir`.

use super::super::flatbuffer::Table;
use crate::ir::*;

/// Computes the op `name` when all its inputs are int32 or bool constants
/// of one shape (or one value, broadcast): the output gets the values as
/// its data. Returns whether it did; an op it does not know, or one with a
/// fused activation, is left to its converter.
pub(super) fn fold_constant_op(
    name: &str,
    options: Option<Table>,
    inputs: &[Option<TensorId>],
    outputs: &[TensorId],
    tensors: &mut [Tensor],
) -> bool {
    // Counters and bounds are a few values: larger constants, or ops of
    // many operands, are left alone (a forged file could otherwise make
    // folding take any memory).
    let &[out] = outputs else {
        return false;
    };
    let small = |t: &Option<TensorId>| t.is_some_and(|t| tensors[t].elements() <= MAX_FOLDED);
    if inputs.len() > MAX_OPERANDS || !inputs.iter().all(small) || !small(&Some(out)) {
        return false;
    }
    let Some(values) = constant_operands(inputs, tensors) else {
        return false;
    };
    // ADD, SUB and MUL options all start with the fused activation.
    let activation = options.map_or(Ok(0), |t| t.i8(0, 0)).unwrap_or(1);
    let arithmetic = |f: fn(i32, i32) -> i32| -> Option<Vec<Value>> {
        (activation == 0).then(|| zip(&values, |a, b| Some(Value::I32(f(a.int()?, b.int()?)))))?
    };
    let compare =
        |f: fn(i32, i32) -> bool| zip(&values, |a, b| Some(Value::Bool(f(a.int()?, b.int()?))));
    let logic =
        |f: fn(bool, bool) -> bool| zip(&values, |a, b| Some(Value::Bool(f(a.bool()?, b.bool()?))));
    let result = match name {
        "ADD" => arithmetic(i32::wrapping_add),
        "SUB" => arithmetic(i32::wrapping_sub),
        "MUL" => arithmetic(i32::wrapping_mul),
        "LESS" => compare(|a, b| a < b),
        "LESS_EQUAL" => compare(|a, b| a <= b),
        "GREATER" => compare(|a, b| a > b),
        "GREATER_EQUAL" => compare(|a, b| a >= b),
        "EQUAL" => compare(|a, b| a == b),
        "NOT_EQUAL" => compare(|a, b| a != b),
        "LOGICAL_AND" => logic(|a, b| a && b),
        "LOGICAL_OR" => logic(|a, b| a || b),
        // The same values under the output's shape (the elements are
        // checked below).
        "RESHAPE" => values.first().cloned(),
        // Along the first axis, the values one operand after the other
        // (ConcatenationOptions: axis, then the fused activation).
        "CONCATENATION" => {
            let axis = options.map_or(Ok(0), |t| t.i32(0, 0)).unwrap_or(-1);
            let activation = options.map_or(Ok(0), |t| t.i8(1, 0)).unwrap_or(1);
            let first_axis = axis == 0 || i64::from(axis) == -(tensors[out].shape.len() as i64);
            (first_axis && activation == 0).then(|| values.concat())
        }
        "LOGICAL_NOT" => match &values[..] {
            [a] => a.iter().map(|v| Some(Value::Bool(!v.bool()?))).collect(),
            _ => None,
        },
        _ => None,
    };
    let Some(result) = result else {
        return false;
    };
    let o = &mut tensors[out];
    let of_output_type = |v: &Value| match v {
        Value::I32(_) => o.dtype == DataType::I32,
        Value::Bool(_) => o.dtype == DataType::Bool,
    };
    if o.is_constant() || o.elements() != result.len() || !result.iter().all(of_output_type) {
        return false;
    }
    o.data = Some(
        result
            .iter()
            .flat_map(|v| match *v {
                Value::I32(x) => x.to_le_bytes().to_vec(),
                Value::Bool(b) => vec![u8::from(b)],
            })
            .collect(),
    );
    true
}

/// The most values an operand or result of a folded op holds, and the
/// most operands it takes.
const MAX_FOLDED: usize = 1024;
const MAX_OPERANDS: usize = 16;

/// A folded value.
#[derive(Clone, Copy)]
enum Value {
    I32(i32),
    Bool(bool),
}

impl Value {
    fn int(self) -> Option<i32> {
        match self {
            Value::I32(x) => Some(x),
            Value::Bool(_) => None,
        }
    }

    fn bool(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            Value::I32(_) => None,
        }
    }
}

/// The values of every input, when all are present int32 or bool
/// constants.
fn constant_operands(inputs: &[Option<TensorId>], tensors: &[Tensor]) -> Option<Vec<Vec<Value>>> {
    inputs
        .iter()
        .map(|&t| {
            let t = &tensors[t?];
            let data = t.data.as_ref()?;
            match t.dtype {
                DataType::I32 if data.len() == 4 * t.elements() => Some(
                    data.chunks_exact(4)
                        .map(|c| Value::I32(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                ),
                DataType::Bool if data.len() == t.elements() => {
                    Some(data.iter().map(|&b| Value::Bool(b != 0)).collect())
                }
                _ => None,
            }
        })
        .collect()
}

/// A binary op on two operands of one length, or one of them a single
/// value (broadcast); `None` for other shapes or types.
fn zip(values: &[Vec<Value>], f: impl Fn(Value, Value) -> Option<Value>) -> Option<Vec<Value>> {
    let [a, b] = values else {
        return None;
    };
    let n = match (a.len(), b.len()) {
        (x, y) if x == y => x,
        (1, y) => y,
        (x, 1) => x,
        _ => return None,
    };
    (0..n)
        .map(|i| f(a[i.min(a.len() - 1)], b[i.min(b.len() - 1)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(dtype: DataType, shape: &[usize], data: Option<Vec<u8>>) -> Tensor {
        Tensor {
            name: String::new(),
            shape: shape.to_vec(),
            dtype,
            quantization: None,
            data,
        }
    }

    fn ints(values: &[i32]) -> Option<Vec<u8>> {
        Some(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// The counter's step and comparison fold; what could mislead or
    /// exhaust folding (operands of two types in one CONCATENATION, large
    /// constants) is left to the converters.
    #[test]
    fn folds_counters_and_leaves_the_rest() {
        let mut t = vec![
            constant(DataType::I32, &[], ints(&[4])),
            constant(DataType::I32, &[], ints(&[1])),
            constant(DataType::I32, &[], None),
            constant(DataType::Bool, &[], None),
        ];
        assert!(fold_constant_op(
            "ADD",
            None,
            &[Some(0), Some(1)],
            &[2],
            &mut t
        ));
        assert_eq!(t[2].data_i32(), Some(vec![5]));
        assert!(fold_constant_op(
            "LESS",
            None,
            &[Some(2), Some(0)],
            &[3],
            &mut t
        ));
        assert_eq!(t[3].data, Some(vec![0]));

        let mut t = vec![
            constant(DataType::I32, &[1], ints(&[7])),
            constant(DataType::Bool, &[1], Some(vec![1])),
            constant(DataType::I32, &[2], None),
        ];
        assert!(!fold_constant_op(
            "CONCATENATION",
            None,
            &[Some(0), Some(1)],
            &[2],
            &mut t
        ));
        assert_eq!(t[2].data, None);

        let big = MAX_FOLDED + 1;
        let mut t = vec![
            constant(DataType::I32, &[big], ints(&vec![1; big])),
            constant(DataType::I32, &[big], None),
        ];
        assert!(!fold_constant_op(
            "ADD",
            None,
            &[Some(0), Some(0)],
            &[1],
            &mut t
        ));
    }
}
