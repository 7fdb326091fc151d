//! The support matrix `kiln ops` prints: every operator TensorFlow Lite
//! Micro registers, builtin and custom (its signal library among them),
//! with kiln's status per activation type beside TFLM's. kiln's side comes
//! from the ops' own `Formats` (`ops::tflite_dtypes`), so the matrix
//! follows the code; `docs/ops.md` is its output, and a test holds the two
//! equal.
//!
//! Layer: report; uses `ops`.

use std::fmt::Write;

/// Whether TFLM registers an op as a builtin or a custom op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Builtin,
    Custom,
}

use Kind::{Builtin, Custom};

/// The ops TFLM's `MicroMutableOpResolver` registers
/// (`tensorflow/lite/micro/micro_mutable_op_resolver.h` at tflite-micro
/// 0cc6f983, 2025), and the activation types its reference kernel takes:
/// `y`, `n` or `?` (not determined, or not a data op) for int8, int16,
/// float32 and other types (bool, BROADCAST_ARGS' int32 shapes, the
/// signal library's uint32 and uint64 channels, and the int32 build of its
/// FFTs), read from each kernel's `Eval`.
pub const TFLM_OPS: &[(&str, Kind, &str)] = &[
    ("ABS", Builtin, "yyyn"),
    ("ADD", Builtin, "yyyn"),
    ("ADD_N", Builtin, "ynyn"),
    ("ARG_MAX", Builtin, "ynyn"),
    ("ARG_MIN", Builtin, "ynyn"),
    ("ASSIGN_VARIABLE", Builtin, "yyyn"),
    ("AVERAGE_POOL_2D", Builtin, "yyyn"),
    ("BATCH_MATMUL", Builtin, "yyyn"),
    ("BATCH_TO_SPACE_ND", Builtin, "ynyn"),
    ("BROADCAST_ARGS", Builtin, "nnny"),
    ("BROADCAST_TO", Builtin, "yyyn"),
    ("CALL_ONCE", Builtin, "???n"),
    ("CAST", Builtin, "yyyn"),
    ("CEIL", Builtin, "nnyn"),
    ("CONCATENATION", Builtin, "yyyn"),
    ("CONV_2D", Builtin, "yyyn"),
    ("COS", Builtin, "nnyn"),
    ("CUMSUM", Builtin, "ynyn"),
    ("DEPTHWISE_CONV_2D", Builtin, "yyyn"),
    ("DEPTH_TO_SPACE", Builtin, "ynyn"),
    ("DEQUANTIZE", Builtin, "yyyn"),
    ("DIV", Builtin, "ynyn"),
    ("DYNAMIC_UPDATE_SLICE", Builtin, "yyyn"),
    ("ELU", Builtin, "ynyn"),
    ("EMBEDDING_LOOKUP", Builtin, "ynyn"),
    ("EQUAL", Builtin, "ynyn"),
    ("EXP", Builtin, "nnyn"),
    ("EXPAND_DIMS", Builtin, "yyyn"),
    ("FILL", Builtin, "ynyn"),
    ("FLOOR", Builtin, "nnyn"),
    ("FLOOR_DIV", Builtin, "nnyn"),
    ("FLOOR_MOD", Builtin, "nnyn"),
    ("FULLY_CONNECTED", Builtin, "yyyn"),
    ("GATHER", Builtin, "ynyn"),
    ("GATHER_ND", Builtin, "ynyn"),
    ("GREATER", Builtin, "y?yn"),
    ("GREATER_EQUAL", Builtin, "ynyn"),
    ("HARD_SWISH", Builtin, "ynyn"),
    ("IF", Builtin, "yyyn"),
    ("L2_NORMALIZATION", Builtin, "ynyn"),
    ("L2_POOL_2D", Builtin, "nnyn"),
    ("LEAKY_RELU", Builtin, "yyyn"),
    ("LESS", Builtin, "ynyn"),
    ("LESS_EQUAL", Builtin, "ynyn"),
    ("LOG", Builtin, "nnyn"),
    ("LOGICAL_AND", Builtin, "nnny"),
    ("LOGICAL_NOT", Builtin, "nnny"),
    ("LOGICAL_OR", Builtin, "nnny"),
    ("LOGISTIC", Builtin, "yyyn"),
    ("LOG_SOFTMAX", Builtin, "ynyn"),
    ("MAXIMUM", Builtin, "yyyn"),
    ("MAX_POOL_2D", Builtin, "yyyn"),
    ("MEAN", Builtin, "yyyn"),
    ("MINIMUM", Builtin, "yyyn"),
    ("MIRROR_PAD", Builtin, "ynyn"),
    ("MUL", Builtin, "yyyn"),
    ("NEG", Builtin, "nnyn"),
    ("NOT_EQUAL", Builtin, "ynyn"),
    ("PACK", Builtin, "yyyn"),
    ("PAD", Builtin, "yyyn"),
    ("PADV2", Builtin, "yyyn"),
    ("PRELU", Builtin, "yyyn"),
    ("QUANTIZE", Builtin, "yyyn"),
    ("READ_VARIABLE", Builtin, "yyyn"),
    ("REDUCE_ALL", Builtin, "nnny"),
    ("REDUCE_MAX", Builtin, "ynyn"),
    ("REDUCE_MIN", Builtin, "ynyn"),
    ("RELU", Builtin, "yyyn"),
    ("RELU6", Builtin, "yyyn"),
    ("RESHAPE", Builtin, "yyyn"),
    ("RESIZE_BILINEAR", Builtin, "ynyn"),
    ("RESIZE_NEAREST_NEIGHBOR", Builtin, "yyyn"),
    ("REVERSE_V2", Builtin, "yyyn"),
    ("ROUND", Builtin, "nnyn"),
    ("RSQRT", Builtin, "ynyn"),
    ("SELECT_V2", Builtin, "yyyn"),
    ("SHAPE", Builtin, "yyyn"),
    ("SIN", Builtin, "nnyn"),
    ("SLICE", Builtin, "yyyn"),
    ("SOFTMAX", Builtin, "yyyn"),
    ("SPACE_TO_BATCH_ND", Builtin, "ynyn"),
    ("SPACE_TO_DEPTH", Builtin, "ynyn"),
    ("SPLIT", Builtin, "yyyn"),
    ("SPLIT_V", Builtin, "yyyn"),
    ("SQRT", Builtin, "nnyn"),
    ("SQUARE", Builtin, "nnyn"),
    ("SQUARED_DIFFERENCE", Builtin, "yyyn"),
    ("SQUEEZE", Builtin, "yyyn"),
    ("STRIDED_SLICE", Builtin, "yyyn"),
    ("SUB", Builtin, "yyyn"),
    ("SUM", Builtin, "yyyn"),
    ("SVDF", Builtin, "ynyn"),
    ("TANH", Builtin, "yyyn"),
    ("TRANSPOSE", Builtin, "yyyn"),
    ("TRANSPOSE_CONV", Builtin, "yyyn"),
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", Builtin, "yyyn"),
    ("UNPACK", Builtin, "yyyn"),
    ("VAR_HANDLE", Builtin, "???n"),
    ("WHILE", Builtin, "yyyn"),
    ("ZEROS_LIKE", Builtin, "ynyn"),
    ("BasicClassifier", Custom, "nnny"),
    ("CIRCULAR_BUFFER", Custom, "ynnn"),
    ("ethos-u", Custom, "????"),
    ("SignalDelay", Custom, "nynn"),
    ("SignalEnergy", Custom, "nynn"),
    ("SignalFftAutoScale", Custom, "nynn"),
    ("SignalFilterBank", Custom, "nnny"),
    ("SignalFilterBankLog", Custom, "nnny"),
    ("SignalFilterBankSpectralSubtraction", Custom, "nnny"),
    ("SignalFilterBankSquareRoot", Custom, "nnny"),
    ("SignalFramer", Custom, "nynn"),
    ("SignalIrfft", Custom, "nyyy"),
    ("SignalOverlapAdd", Custom, "nyyn"),
    ("SignalPCAN", Custom, "nnny"),
    ("SignalRfft", Custom, "nyyy"),
    ("SignalStacker", Custom, "nynn"),
    ("SignalWindow", Custom, "nynn"),
    ("TFLite_Detection_PostProcess", Custom, "nnyn"),
    ("TFLM_DECODE", Custom, "yyyn"),
];

/// One row of the matrix: per type, "yes" (kiln runs it), "no" (TFLM
/// does, kiln not yet) or "-" (TFLM has no such kernel, so there is
/// nothing to match; or a TFLite op TFLM lacks, which kiln does not run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: &'static str,
    pub kind: Kind,
    pub int8: &'static str,
    pub int16: &'static str,
    pub float32: &'static str,
    /// Types outside the three (which the note names).
    pub other: &'static str,
    pub note: &'static str,
}

impl Row {
    /// Whether kiln runs the op in some type.
    pub fn supported(&self) -> bool {
        [self.int8, self.int16, self.float32, self.other].contains(&"yes")
    }
}

/// Every TFLM op with kiln's status, then the TFLite builtins kiln reads
/// that TFLM does not register.
pub fn matrix() -> Vec<Row> {
    let tflite_only = crate::ops::tflite_names()
        .filter(|n| !TFLM_OPS.iter().any(|(t, _, _)| t == n))
        .map(|n| (n, Builtin, "xxxx"));
    TFLM_OPS
        .iter()
        .copied()
        .chain(tflite_only)
        .map(|(name, kind, tflm)| {
            let kiln = crate::ops::tflite_dtypes(name);
            let cell = |i: usize, ours: fn(&crate::ops::Dtypes) -> bool| match (
                kiln.as_ref().is_some_and(ours),
                tflm.as_bytes().get(i),
            ) {
                // TFLM's reference decides what a type means: where it has
                // no kernel there is nothing to match.
                (_, Some(b'n')) => "-",
                (true, _) => "yes",
                (false, Some(b'x')) => "-",
                (false, _) => "no",
            };
            Row {
                name,
                kind,
                int8: cell(0, |d| d.int8),
                int16: cell(1, |d| d.int16),
                float32: cell(2, |d| d.float32),
                other: cell(3, |d| d.other),
                note: match TFLM_OPS.iter().any(|(t, _, _)| *t == name) {
                    true => kiln.map_or("", |d| d.note),
                    false => "TFLite only: TFLM registers no kernel",
                },
            }
        })
        .collect()
}

/// How many ops of `kind` kiln runs, of how many.
pub fn counts(rows: &[Row], kind: Kind) -> (usize, usize) {
    let of_kind = rows.iter().filter(|r| r.kind == kind);
    let total = of_kind.clone().count();
    (of_kind.filter(|r| r.supported()).count(), total)
}

/// The matrix as Markdown: a summary, then one table row per op.
pub fn markdown() -> String {
    let rows = matrix();
    let (builtins, all_builtins) = counts(&rows[..TFLM_OPS.len()], Builtin);
    let (customs, all_customs) = counts(&rows, Custom);
    let mut s = format!(
        "kiln runs {builtins} of TFLM's {all_builtins} builtin ops and {customs} of its {all_customs} custom ops.\n\
         yes: kiln runs it; no: TFLM does, kiln not yet; -: TFLM has no such kernel.\n\n\
         | op | kind | int8 | int16 | float32 | other | note |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for r in &rows {
        let kind = match r.kind {
            Builtin => "builtin",
            Custom => "custom",
        };
        let _ = writeln!(
            s,
            "| {} | {kind} | {} | {} | {} | {} | {} |",
            r.name, r.int8, r.int16, r.float32, r.other, r.note
        );
    }
    s
}

/// The matrix as JSON, for tools.
pub fn json() -> serde_json::Value {
    let rows = matrix();
    let (builtins, all_builtins) = counts(&rows[..TFLM_OPS.len()], Builtin);
    let (customs, all_customs) = counts(&rows, Custom);
    serde_json::json!({
        "builtin": { "supported": builtins, "total": all_builtins },
        "custom": { "supported": customs, "total": all_customs },
        "ops": rows.iter().map(|r| serde_json::json!({
            "name": r.name,
            "kind": match r.kind { Builtin => "builtin", Custom => "custom" },
            "int8": r.int8,
            "int16": r.int16,
            "float32": r.float32,
            "other": r.other,
            "note": r.note,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every TFLite builtin kiln reads is one TFLM registers, with a
    /// "yes" in the matrix.
    #[test]
    fn every_op_kiln_reads_is_in_the_matrix_as_supported() {
        let rows = matrix();
        for name in crate::ops::tflite_names() {
            let row = rows.iter().find(|r| r.name == name);
            assert!(row.is_some_and(Row::supported), "{name}: {row:?}");
        }
        // A kernel of TFLM's that kiln refuses in one type: int16 GREATER.
        let greater = rows.iter().find(|r| r.name == "GREATER");
        assert_eq!(
            greater.map(|r| (r.int8, r.int16, r.float32)),
            Some(("yes", "no", "yes"))
        );
        let unsupported = rows.iter().find(|r| r.name == "ethos-u");
        assert_eq!(unsupported.map(|r| r.int8), Some("no"));
        let circular = rows.iter().find(|r| r.name == "CIRCULAR_BUFFER");
        assert_eq!(
            circular.map(|r| (r.int8, r.int16, r.float32)),
            Some(("yes", "-", "-"))
        );
        // The signal library's uint32 and uint64 ops have a column of their
        // own, outside int8, int16 and float32.
        let log = rows.iter().find(|r| r.name == "SignalFilterBankLog");
        assert!(
            log.is_some_and(|r| (r.int8, r.int16, r.float32) == ("-", "-", "-") && r.other != "-"),
            "{log:?}"
        );
        // TFLM's logical ops take bools, which kiln runs as bytes of 0 or 1.
        for name in ["LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "REDUCE_ALL"] {
            let row = rows.iter().find(|r| r.name == name);
            assert!(
                row.is_some_and(|r| r.other == "yes" && r.note == "bool"),
                "{row:?}"
            );
        }
        let signal = rows.iter().filter(|r| r.name.starts_with("Signal")).count();
        assert_eq!(signal, 14, "TFLM's signal library");
    }
}
