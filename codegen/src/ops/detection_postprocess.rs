//! TFLite_Detection_PostProcess, TFLM's custom op that ends an SSD
//! detector: box encodings `[1, boxes, 4+]` and class scores `[1, boxes,
//! classes (+1 background)]`, decoded against constant anchors `[boxes,
//! 4]` and suppressed into boxes `[1, detections, 4]`, classes and scores
//! `[1, detections]` and their number `[1]`, all float32. Its options are
//! a FlexBuffer map, read as TFLM's `Init` reads them.
//!
//! Layer: ops; uses `lower` and the TFLite importer's custom options.

use kiln::graph::Op;
use kiln::ops::{DetectionParams, DetectionPostProcessOp};

use super::{Dtypes, Formats, IrOp, QuantRule};
use crate::import::tflite::{ReadResult, TfliteOp};
use crate::ir::{DataType, Graph, Node, OpKind};
use crate::lower::{invalid, to_u32, unsupported, Lowered, Lowering};
use crate::stack::Stack;

/// The op's options (TFLM's `OpData`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectionPostProcess {
    pub max_detections: i64,
    pub max_classes_per_detection: i64,
    /// Regular NMS only; TFLM's default is 100.
    pub detections_per_class: i64,
    pub regular: bool,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    pub classes: i64,
    /// y, x, h, w.
    pub scales: [f32; 4],
}

impl DetectionPostProcess {
    pub(crate) const FORMATS: Formats = Formats {
        tflite: &[("TFLite_Detection_PostProcess", from_tflite)],
        onnx: &[],
        dtypes: Dtypes {
            note: "regular NMS; fast NMS of one class per detection",
            ..Dtypes::FLOAT32_BETWEEN_QUANTIZE
        },
    };
}

/// Option `key`, which TFLM reads with `AsInt32` (an integer, or a bool).
fn int(op: &TfliteOp, key: &str) -> ReadResult<i64> {
    op.custom_int(key).map(|v| i64::from(v as i32))
}

/// Option `key` if present (TFLM's `IsNull` test), else `default`.
fn optional(op: &TfliteOp, key: &str, default: i64) -> ReadResult<i64> {
    op.custom_int_or(key, default).map(|v| i64::from(v as i32))
}

fn from_tflite(op: &mut TfliteOp) -> ReadResult<OpKind> {
    Ok(OpKind::DetectionPostProcess(DetectionPostProcess {
        max_detections: int(op, "max_detections")?,
        max_classes_per_detection: int(op, "max_classes_per_detection")?,
        detections_per_class: optional(op, "detections_per_class", 100)?,
        regular: optional(op, "use_regular_nms", 0)? != 0,
        score_threshold: op.custom_f32("nms_score_threshold")?,
        iou_threshold: op.custom_f32("nms_iou_threshold")?,
        classes: int(op, "num_classes")?,
        scales: [
            op.custom_f32("y_scale")?,
            op.custom_f32("x_scale")?,
            op.custom_f32("h_scale")?,
            op.custom_f32("w_scale")?,
        ],
    }))
}

impl IrOp for DetectionPostProcess {
    fn name(&self) -> &'static str {
        "TFLite_Detection_PostProcess"
    }

    fn attributes(&self) -> String {
        format!(
            "{} NMS, {} detections of {} classes, score >= {}, IoU > {}",
            if self.regular { "regular" } else { "fast" },
            self.max_detections,
            self.classes,
            self.score_threshold,
            self.iou_threshold
        )
    }

    /// TFLM has a float32 kernel only (an int8 SSD dequantizes before it).
    fn quantization(&self, _node: &Node) -> QuantRule {
        QuantRule::Float
    }

    /// `DetectionParams::scratch_words`, from the boxes and detections.
    fn scratch_bytes(&self, g: &Graph, node: &Node) -> usize {
        let boxes = node
            .input(0)
            .and_then(|t| g.tensors[t].shape.get(1).copied())
            .unwrap_or(0);
        let params = DetectionParams {
            boxes: u32::try_from(boxes).unwrap_or(0),
            max_detections: u32::try_from(self.max_detections).unwrap_or(0),
            ..DetectionParams::default()
        };
        usize::try_from(4 * params.scratch_words()).unwrap_or(usize::MAX)
    }

    /// Painted on each emulated core, the larger of its two fixtures'
    /// (`detection_postprocess` and `_regular`), whose deepest op it is.
    fn stack(&self, _g: &Graph, _node: &Node) -> Stack {
        Stack::new(604, 516, 560, 444)
    }

    fn lower(&self, cx: &mut Lowering, node: &Node) -> Lowered<Option<Op>> {
        let (encodings, scores) = (cx.input(node, 0)?, cx.input(node, 1)?);
        let anchors = cx.input(node, 2)?;
        let [Some(&boxes), Some(&detected_classes), Some(&detection_scores), Some(&count)] =
            [0, 1, 2, 3].map(|i| node.outputs.get(i))
        else {
            return invalid("a detection post-process without its four outputs");
        };
        let operands = [
            encodings,
            scores,
            anchors,
            boxes,
            detected_classes,
            detection_scores,
            count,
        ];
        if operands.iter().any(|&t| cx.dtype(t) != DataType::F32) {
            return unsupported(
                "TFLite_Detection_PostProcess on other than float32 tensors (TFLM: float32 only)",
            );
        }
        // TFLM's fast NMS reports min(max_classes_per_detection, classes).
        if !self.regular && self.max_classes_per_detection.min(self.classes) != 1 {
            return unsupported(format!(
                "fast NMS with {} classes per detection (TFLM's kernel writes past its outputs for more than one; kiln: 1, or use_regular_nms)",
                self.max_classes_per_detection
            ));
        }
        let ([1, n, stride], [1, n2, columns], [n3, 4]) =
            (cx.shape(encodings), cx.shape(scores), cx.shape(anchors))
        else {
            return invalid(format!(
                "detection inputs of shapes {:?}, {:?} and {:?} (TFLM: [1, boxes, 4], [1, boxes, classes] and [boxes, 4])",
                cx.shape(encodings),
                cx.shape(scores),
                cx.shape(anchors)
            ));
        };
        let (n, stride, columns) = (*n, *stride, *columns);
        let classes = usize::try_from(self.classes).unwrap_or(0);
        if n == 0 || n != *n2 || n != *n3 || stride < 4 || classes == 0 {
            return invalid("detection boxes, scores and anchors disagree on the boxes");
        }
        if columns != classes && columns != classes + 1 {
            return invalid(format!(
                "{columns} score columns for {classes} classes (TFLM: the classes, or one more for the background)"
            ));
        }
        let detections = match usize::try_from(self.max_detections) {
            Ok(d) if d > 0 => d,
            _ => return invalid("a detection post-process of no detections"),
        };
        if cx.tensor(boxes).elements() != 4 * detections
            || cx.tensor(detected_classes).elements() != detections
            || cx.tensor(detection_scores).elements() != detections
            || cx.tensor(count).elements() != 1
        {
            return unsupported(format!(
                "detection outputs of other than {detections} rows (max_detections; kiln runs one class per detection)"
            ));
        }
        if !(self.iou_threshold > 0.0 && self.iou_threshold <= 1.0) {
            return invalid(format!(
                "an IoU threshold of {} (TFLM fails the inference outside (0, 1])",
                self.iou_threshold
            ));
        }
        let per_class = match self.regular {
            true => match usize::try_from(self.detections_per_class) {
                Ok(d) if d > 0 => d,
                _ => return invalid("regular NMS of no detections per class"),
            },
            false => 1,
        };
        let anchor_values = cx.weight_data(anchors, DataType::F32)?.to_vec();
        Ok(Some(Op::DetectionPostProcess(DetectionPostProcessOp {
            params: DetectionParams {
                boxes: to_u32(n)?,
                box_stride: to_u32(stride)?,
                classes: to_u32(classes)?,
                label_offset: to_u32(columns - classes)?,
                max_detections: to_u32(detections)?,
                detections_per_class: to_u32(per_class)?,
                score_threshold: self.score_threshold,
                iou_threshold: self.iou_threshold,
                scales: self.scales,
                regular: self.regular,
            },
            encodings: cx.activation(encodings, DataType::F32)?,
            scores: cx.activation(scores, DataType::F32)?,
            anchors: cx.constant(&anchor_values)?,
            scratch: cx.scratch()?,
            boxes: cx.activation(boxes, DataType::F32)?,
            classes: cx.activation(detected_classes, DataType::F32)?,
            detection_scores: cx.activation(detection_scores, DataType::F32)?,
            count: cx.activation(count, DataType::F32)?,
        })))
    }
}
