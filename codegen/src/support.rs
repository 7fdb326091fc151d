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
/// `y`, `n` or `?` (not determined, or not a data op) for int8, int16 and
/// float32, read from each kernel's `Eval`.
pub const TFLM_OPS: &[(&str, Kind, &str)] = &[
    ("ABS", Builtin, "yyy"),
    ("ADD", Builtin, "yyy"),
    ("ADD_N", Builtin, "yny"),
    ("ARG_MAX", Builtin, "yny"),
    ("ARG_MIN", Builtin, "yny"),
    ("ASSIGN_VARIABLE", Builtin, "yyy"),
    ("AVERAGE_POOL_2D", Builtin, "yyy"),
    ("BATCH_MATMUL", Builtin, "yyy"),
    ("BATCH_TO_SPACE_ND", Builtin, "yny"),
    ("BROADCAST_ARGS", Builtin, "nnn"),
    ("BROADCAST_TO", Builtin, "yyy"),
    ("CALL_ONCE", Builtin, "???"),
    ("CAST", Builtin, "yyy"),
    ("CEIL", Builtin, "nny"),
    ("CONCATENATION", Builtin, "yyy"),
    ("CONV_2D", Builtin, "yyy"),
    ("COS", Builtin, "nny"),
    ("CUMSUM", Builtin, "yny"),
    ("DEPTHWISE_CONV_2D", Builtin, "yyy"),
    ("DEPTH_TO_SPACE", Builtin, "yny"),
    ("DEQUANTIZE", Builtin, "yyy"),
    ("DIV", Builtin, "yny"),
    ("DYNAMIC_UPDATE_SLICE", Builtin, "yyy"),
    ("ELU", Builtin, "yny"),
    ("EMBEDDING_LOOKUP", Builtin, "yny"),
    ("EQUAL", Builtin, "yny"),
    ("EXP", Builtin, "nny"),
    ("EXPAND_DIMS", Builtin, "yyy"),
    ("FILL", Builtin, "yny"),
    ("FLOOR", Builtin, "nny"),
    ("FLOOR_DIV", Builtin, "nny"),
    ("FLOOR_MOD", Builtin, "nny"),
    ("FULLY_CONNECTED", Builtin, "yyy"),
    ("GATHER", Builtin, "yny"),
    ("GATHER_ND", Builtin, "yny"),
    ("GREATER", Builtin, "y?y"),
    ("GREATER_EQUAL", Builtin, "yny"),
    ("HARD_SWISH", Builtin, "yny"),
    ("IF", Builtin, "yyy"),
    ("L2_NORMALIZATION", Builtin, "yny"),
    ("L2_POOL_2D", Builtin, "nny"),
    ("LEAKY_RELU", Builtin, "yyy"),
    ("LESS", Builtin, "yny"),
    ("LESS_EQUAL", Builtin, "yny"),
    ("LOG", Builtin, "nny"),
    ("LOGICAL_AND", Builtin, "nnn"),
    ("LOGICAL_NOT", Builtin, "nnn"),
    ("LOGICAL_OR", Builtin, "nnn"),
    ("LOGISTIC", Builtin, "yyy"),
    ("LOG_SOFTMAX", Builtin, "yny"),
    ("MAXIMUM", Builtin, "yyy"),
    ("MAX_POOL_2D", Builtin, "yyy"),
    ("MEAN", Builtin, "yyy"),
    ("MINIMUM", Builtin, "yyy"),
    ("MIRROR_PAD", Builtin, "yny"),
    ("MUL", Builtin, "yyy"),
    ("NEG", Builtin, "nny"),
    ("NOT_EQUAL", Builtin, "yny"),
    ("PACK", Builtin, "yyy"),
    ("PAD", Builtin, "yyy"),
    ("PADV2", Builtin, "yyy"),
    ("PRELU", Builtin, "yyy"),
    ("QUANTIZE", Builtin, "yyy"),
    ("READ_VARIABLE", Builtin, "yyy"),
    ("REDUCE_ALL", Builtin, "nnn"),
    ("REDUCE_MAX", Builtin, "yny"),
    ("REDUCE_MIN", Builtin, "yny"),
    ("RELU", Builtin, "yyy"),
    ("RELU6", Builtin, "yyy"),
    ("RESHAPE", Builtin, "yyy"),
    ("RESIZE_BILINEAR", Builtin, "yny"),
    ("RESIZE_NEAREST_NEIGHBOR", Builtin, "yyy"),
    ("REVERSE_V2", Builtin, "yyy"),
    ("ROUND", Builtin, "nny"),
    ("RSQRT", Builtin, "yny"),
    ("SELECT_V2", Builtin, "yyy"),
    ("SHAPE", Builtin, "yyy"),
    ("SIN", Builtin, "nny"),
    ("SLICE", Builtin, "yyy"),
    ("SOFTMAX", Builtin, "yyy"),
    ("SPACE_TO_BATCH_ND", Builtin, "yny"),
    ("SPACE_TO_DEPTH", Builtin, "yny"),
    ("SPLIT", Builtin, "yyy"),
    ("SPLIT_V", Builtin, "yyy"),
    ("SQRT", Builtin, "nny"),
    ("SQUARE", Builtin, "nny"),
    ("SQUARED_DIFFERENCE", Builtin, "yyy"),
    ("SQUEEZE", Builtin, "yyy"),
    ("STRIDED_SLICE", Builtin, "yyy"),
    ("SUB", Builtin, "yyy"),
    ("SUM", Builtin, "yyy"),
    ("SVDF", Builtin, "yny"),
    ("TANH", Builtin, "yyy"),
    ("TRANSPOSE", Builtin, "yyy"),
    ("TRANSPOSE_CONV", Builtin, "yyy"),
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", Builtin, "yyy"),
    ("UNPACK", Builtin, "yyy"),
    ("VAR_HANDLE", Builtin, "???"),
    ("WHILE", Builtin, "yyy"),
    ("ZEROS_LIKE", Builtin, "yny"),
    ("BasicClassifier", Custom, "nnn"),
    ("CIRCULAR_BUFFER", Custom, "ynn"),
    ("ethos-u", Custom, "???"),
    ("SignalDelay", Custom, "nyn"),
    ("SignalEnergy", Custom, "nyn"),
    ("SignalFftAutoScale", Custom, "nyn"),
    ("SignalFilterBank", Custom, "nnn"),
    ("SignalFilterBankLog", Custom, "nnn"),
    ("SignalFilterBankSpectralSubtraction", Custom, "nnn"),
    ("SignalFilterBankSquareRoot", Custom, "nnn"),
    ("SignalFramer", Custom, "nyn"),
    ("SignalIrfft", Custom, "nyy"),
    ("SignalOverlapAdd", Custom, "nyy"),
    ("SignalPCAN", Custom, "nnn"),
    ("SignalRfft", Custom, "nyy"),
    ("SignalStacker", Custom, "nyn"),
    ("SignalWindow", Custom, "nyn"),
    ("TFLite_Detection_PostProcess", Custom, "nny"),
    ("TFLM_DECODE", Custom, "yyy"),
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
    pub note: &'static str,
}

impl Row {
    /// Whether kiln runs the op in some type.
    pub fn supported(&self) -> bool {
        [self.int8, self.int16, self.float32].contains(&"yes")
    }
}

/// Every TFLM op with kiln's status, then the TFLite builtins kiln reads
/// that TFLM does not register.
pub fn matrix() -> Vec<Row> {
    let tflite_only = crate::ops::tflite_names()
        .filter(|n| !TFLM_OPS.iter().any(|(t, _, _)| t == n))
        .map(|n| (n, Builtin, "xxx"));
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
         | op | kind | int8 | int16 | float32 | note |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    for r in &rows {
        let kind = match r.kind {
            Builtin => "builtin",
            Custom => "custom",
        };
        let _ = writeln!(
            s,
            "| {} | {kind} | {} | {} | {} | {} |",
            r.name, r.int8, r.int16, r.float32, r.note
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
        let lstm = rows
            .iter()
            .find(|r| r.name == "UNIDIRECTIONAL_SEQUENCE_LSTM");
        assert_eq!(
            lstm.map(|r| (r.int8, r.int16, r.float32)),
            Some(("yes", "no", "yes"))
        );
        let unsupported = rows.iter().find(|r| r.name == "IF");
        assert_eq!(unsupported.map(|r| r.int8), Some("no"));
        let signal = rows.iter().filter(|r| r.name.starts_with("Signal")).count();
        assert_eq!(signal, 14, "TFLM's signal library");
    }
}
