//! TFLM_DECODE (TFLM's weight compression, `tensorflow/lite/micro/
//! compression`): a constant stored encoded, with ancillary data, and
//! decoded by an op before the op that reads it. kiln decodes at the tool:
//! the TFLite importer folds each DECODE into the constants it yields (the
//! values TFLM's `DecodeStateLut` writes on every run), so no node is left
//! and the weights sit decoded in flash. The decode type TFLM's compressor
//! writes, a look-up table (LUT, type 0), is read; Huffman (1), pruning (2)
//! and custom types are refused by name.
//!
//! Layer: ops; uses `ir` and the TFLite importer's operator reader.

use kiln::graph::Op;

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{invalid as read_invalid, ReadResult, TfliteOp};
use crate::ir::{DataType, Node, OpKind, Tensor, TensorId};
use crate::lower::{invalid, Lowered, Lowering};

/// TFLM_DECODE: inputs in pairs (encoded tensor, ancillary data), one
/// output per pair. Never lowered: the importer folds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decode;

impl Decode {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("TFLM_DECODE", decode_from_tflite)],
        onnx: &[],
        dtypes: Dtypes {
            int8: true,
            int16: true,
            float32: true,
            other: true,
            note: "LUT decoding, at the tool (the constants are stored decoded); bool, int32 and \
                   int64 too",
            int8_names: &[],
            int16_names: &[],
        },
    };
}

fn decode_from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    let pairs = op.inputs.len() / 2;
    if pairs == 0 || !op.inputs.len().is_multiple_of(2) || op.outputs.len() != pairs {
        return read_invalid(format!(
            "TFLM_DECODE with {} inputs and {} outputs (pairs of encoded and ancillary data, one \
             output each)",
            op.inputs.len(),
            op.outputs.len()
        ));
    }
    Ok(OpKind::Decode(Decode))
}

impl IrOp for Decode {
    fn name(&self) -> &'static str {
        "TFLM_DECODE"
    }

    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::QuantizedOnly
    }

    fn lower(&self, _cx: &mut Lowering, _node: &Node) -> Lowered<Option<Op>> {
        invalid("TFLM_DECODE is folded into constants at import")
    }
}

/// The DECODE Common Metadata header that starts the ancillary data.
const DCM_BYTES: usize = 16;

/// Folds a DECODE node (`inputs`, `outputs` as read) into its outputs'
/// data; `Err` says why kiln cannot.
pub(crate) fn fold_decode(
    inputs: &[Option<TensorId>],
    outputs: &[TensorId],
    tensors: &mut [Tensor],
) -> Result<(), String> {
    for (pair, &out) in inputs.chunks(2).zip(outputs) {
        let data = |t: Option<TensorId>, what: &str| match t.map(|t| &tensors[t].data) {
            Some(Some(bytes)) => Ok(bytes),
            _ => Err(format!("TFLM_DECODE's {what} is not a constant")),
        };
        let (encoded, ancillary) = match pair {
            [e, a] => (data(*e, "encoded input")?, data(*a, "ancillary data")?),
            _ => return Err("TFLM_DECODE inputs come in pairs".into()),
        };
        let decoded = decode(encoded, ancillary, &tensors[out])
            .map_err(|e| format!("TFLM_DECODE of '{}': {e}", tensors[out].name))?;
        tensors[out].data = Some(decoded);
    }
    Ok(())
}

/// The bytes of `out` that TFLM's decoder writes from `encoded` and
/// `ancillary`.
pub(crate) fn decode(encoded: &[u8], ancillary: &[u8], out: &Tensor) -> Result<Vec<u8>, String> {
    let Some(header) = ancillary.get(..DCM_BYTES) else {
        return Err(format!(
            "ancillary data of {} bytes, shorter than its header",
            ancillary.len()
        ));
    };
    match header[0] {
        0 => {}
        1 => return Err("Huffman-coded data (decode type 1; kiln: LUT)".into()),
        2 => return Err("pruned data (decode type 2; kiln: LUT)".into()),
        t => return Err(format!("decode type {t} (kiln: LUT, type 0)")),
    }
    if header[1] != 1 {
        return Err(format!("metadata version {} (TFLM: 1)", header[1]));
    }
    let bits = usize::from(header[5] & 0b111);
    if bits == 0 {
        return Err("indices of 0 bits".into());
    }
    let stride = usize::from(header[6]);
    let width = match out.dtype {
        DataType::I8 | DataType::Bool => 1,
        DataType::I16 => 2,
        DataType::I32 | DataType::F32 => 4,
        DataType::I64 => 8,
        other => {
            return Err(format!(
                "a {} output (TFLM decodes bool, int8, int16, int32, int64 and float32)",
                other.name()
            ))
        }
    };
    // TFLM takes the channels from the output's quantization, not from
    // the metadata's axis: one table per scale, along axis 0 or (with
    // more than one channel) the last axis, whose channels alternate.
    let count = out.elements();
    let (channels, alternate) = match &out.quantization {
        Some(q) => {
            let channels = q.scale.len().max(1);
            let last = out.shape.len().saturating_sub(1);
            match q.axis {
                axis if axis == last && channels > 1 => (channels, true),
                0 => (channels, false),
                axis => return Err(format!("channels along axis {axis} (TFLM: 0 or the last)")),
            }
        }
        None => (1, false),
    };
    if !count.is_multiple_of(channels) {
        return Err(format!("{count} values in {channels} channels"));
    }
    if encoded.len().saturating_mul(8) < count.saturating_mul(bits) {
        return Err(format!(
            "{} encoded bytes for {count} indices of {bits} bits",
            encoded.len()
        ));
    }
    let tables = &ancillary[DCM_BYTES..];
    let per_channel = count / channels;
    let mut decoded = Vec::with_capacity(count * width);
    for k in 0..count {
        let channel = if alternate {
            k % channels
        } else {
            k / per_channel
        };
        let index = lut_index(encoded, k, bits);
        let at = (channel * stride + index) * width;
        let Some(value) = tables.get(at..at + width) else {
            return Err(format!(
                "index {index} of channel {channel} past the value tables ({} bytes)",
                tables.len()
            ));
        };
        decoded.extend_from_slice(value);
    }
    Ok(decoded)
}

/// Index `k` of `bits` bits, packed most significant bit first across
/// bytes (in range: the caller checks the length).
fn lut_index(encoded: &[u8], k: usize, bits: usize) -> usize {
    (k * bits..(k + 1) * bits).fold(0, |index, bit| {
        let byte = encoded.get(bit / 8).copied().unwrap_or(0);
        (index << 1) | usize::from((byte >> (7 - bit % 8)) & 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Quantization;

    /// Packs `indices` of `bits` bits most significant bit first, as TFLM's
    /// compressor does.
    fn pack(indices: &[usize], bits: usize) -> Vec<u8> {
        let mut out = vec![0u8; (indices.len() * bits).div_ceil(8)];
        for (k, &index) in indices.iter().enumerate() {
            for b in 0..bits {
                if (index >> (bits - 1 - b)) & 1 == 1 {
                    let bit = k * bits + b;
                    out[bit / 8] |= 0x80 >> (bit % 8);
                }
            }
        }
        out
    }

    fn ancillary(bits: u8, stride: u8, tables: &[u8]) -> Vec<u8> {
        let mut a = vec![
            0,
            1,
            0,
            0,
            1,
            0xf0 | bits,
            stride,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        a.extend_from_slice(tables);
        a
    }

    fn tensor(shape: Vec<usize>, dtype: DataType, channels: usize, axis: usize) -> Tensor {
        Tensor {
            name: "t".into(),
            shape,
            dtype,
            quantization: (channels > 0).then(|| Quantization {
                scale: vec![0.5; channels],
                zero_point: vec![0; channels],
                axis,
            }),
            data: None,
        }
    }

    #[test]
    fn every_width_reads_the_indices_it_packs() {
        for bits in 1..=7 {
            let indices: Vec<usize> = (0..29).map(|k| (k * 5 + 3) % (1 << bits)).collect();
            let table: Vec<u8> = (0..1u8 << bits).map(|v| v.wrapping_mul(3)).collect();
            let out = tensor(vec![29], DataType::I8, 0, 0);
            let decoded = decode(
                &pack(&indices, bits),
                &ancillary(bits as u8, 0, &table),
                &out,
            )
            .unwrap();
            let expected: Vec<u8> = indices.iter().map(|&i| table[i]).collect();
            assert_eq!(decoded, expected, "{bits} bits");
        }
    }

    #[test]
    fn channels_along_axis_0_take_consecutive_runs_and_along_the_last_alternate() {
        // Two channels of 3 values, tables of stride 2 (int16).
        let indices = [0, 1, 1, 0, 1, 0];
        let tables: Vec<u8> = [10i16, 11, 20, 21]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let encoded = pack(&indices, 1);
        let values = |out: &Tensor| -> Vec<i16> {
            let bytes = decode(&encoded, &ancillary(1, 2, &tables), out).unwrap();
            bytes
                .chunks(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        let axis0 = tensor(vec![2, 3], DataType::I16, 2, 0);
        assert_eq!(values(&axis0), [10, 11, 11, 20, 21, 20]);
        let last = tensor(vec![3, 2], DataType::I16, 2, 1);
        assert_eq!(values(&last), [10, 21, 11, 20, 11, 20]);
    }

    #[test]
    fn bad_data_is_refused_by_name() {
        let out = tensor(vec![4], DataType::I8, 0, 0);
        let cases = [
            (vec![0u8], ancillary(3, 0, &[1; 8]), "encoded bytes"),
            (
                vec![0xff],
                ancillary(2, 0, &[1, 2]),
                "past the value tables",
            ),
            (vec![0], vec![0; 8], "shorter than its header"),
            (
                vec![0],
                {
                    let mut a = ancillary(2, 0, &[1; 4]);
                    a[0] = 1;
                    a
                },
                "Huffman",
            ),
            (
                vec![0],
                {
                    let mut a = ancillary(2, 0, &[1; 4]);
                    a[1] = 2;
                    a
                },
                "metadata version 2",
            ),
        ];
        for (encoded, ancillary, expected) in cases {
            let err = decode(&encoded, &ancillary, &out).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let middle = tensor(vec![2, 2, 2], DataType::I8, 2, 1);
        let err = decode(&[0], &ancillary(1, 1, &[1, 2]), &middle).unwrap_err();
        assert!(err.contains("axis 1"), "{err}");
    }
}
