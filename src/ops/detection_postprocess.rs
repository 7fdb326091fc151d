//! TFLite_Detection_PostProcess (TFLM's custom op, float32): an SSD
//! detector's box encodings and class scores, decoded against constant
//! anchors and suppressed into its detections.
//!
//! Layer: ops; uses `kernels::detection_postprocess`.

use super::arena::{constant, disjoint, out_f32, out_u32};
use super::{Checker, OpDescriptor};
use crate::error::Error;
pub use crate::kernels::detection_postprocess::DetectionParams;
use crate::kernels::detection_postprocess::{detection_postprocess, DetectionScratch, Detections};
use crate::tensor::{DType, Span};
use crate::wire::wire_struct;

wire_struct! {
    /// `encodings` `[boxes, box_stride]` and `scores` `[boxes, columns]`
    /// in the arena, `anchors` `[boxes, 4]` in the weights; the outputs
    /// `boxes` `[max_detections, 4]`, `classes` and `detection_scores`
    /// `[max_detections]` and `count` `[1]`; scratch of
    /// `DetectionParams::scratch_words` 4-byte words. All float32.
    pub struct DetectionPostProcessOp {
        pub params: DetectionParams,
        pub encodings: Span,
        pub scores: Span,
        pub anchors: Span,
        pub scratch: Span,
        pub boxes: Span,
        pub classes: Span,
        pub detection_scores: Span,
        pub count: Span,
    }
}

impl OpDescriptor for DetectionPostProcessOp {
    const NAME: &'static str = "TFLite_Detection_PostProcess";

    #[cfg(feature = "host")]
    const CUDA_KERNEL: &'static str = "kiln_detection_postprocess";

    /// One thread per sample: suppression is sequential.
    #[cfg(feature = "host")]
    fn cuda_items(&self) -> u64 {
        1
    }

    fn check(&self, c: &Checker) -> Result<(), Error> {
        let p = &self.params;
        c.positive(&[p.boxes, p.classes, p.max_detections, p.detections_per_class])?;
        c.ensure(
            p.box_stride >= 4 && p.label_offset <= 1,
            "detection boxes of fewer than 4 values, or more than one background class",
        )?;
        // TFLM fails the inference outside (0, 1].
        c.ensure(
            p.iou_threshold > 0.0 && p.iou_threshold <= 1.0,
            "detection IoU threshold outside (0, 1]",
        )?;
        // Both inputs are read through views of their own.
        c.ensure(
            !self.encodings.overlaps(&self.scores),
            "detection box encodings and scores share bytes",
        )?;
        let (boxes, detections) = (u64::from(p.boxes), u64::from(p.max_detections));
        let encodings = boxes.saturating_mul(u64::from(p.box_stride));
        c.arena(self.encodings, encodings, DType::F32)?;
        c.arena(self.scores, boxes.saturating_mul(p.columns()), DType::F32)?;
        c.constant(self.anchors, boxes.saturating_mul(4), DType::F32, false)?;
        let mut written = [
            self.encodings,
            self.scores,
            Span::default(),
            Span::default(),
        ];
        c.output(self.boxes, detections * 4, DType::F32, &written)?;
        written[2] = self.boxes;
        c.output(self.classes, detections, DType::F32, &written)?;
        written[3] = self.classes;
        c.output(self.detection_scores, detections, DType::F32, &written)?;
        let all = [
            self.encodings,
            self.scores,
            self.boxes,
            self.classes,
            self.detection_scores,
        ];
        c.output(self.count, 1, DType::F32, &all)?;
        let scratch = usize::try_from(p.scratch_words().saturating_mul(4)).unwrap_or(usize::MAX);
        let operands = [
            self.encodings,
            self.scores,
            self.boxes,
            self.classes,
            self.detection_scores,
            self.count,
        ];
        c.scratch(self.scratch, scratch, &operands)
    }

    #[inline(never)]
    fn run(&self, arena: &mut [u8], weights: &[u8]) {
        let p = &self.params;
        let spans = [
            self.encodings,
            self.scores,
            self.scratch,
            self.boxes,
            self.classes,
            self.detection_scores,
            self.count,
        ];
        let [encodings, scores, scratch, boxes, classes, detection_scores, count] =
            disjoint(arena, spans);
        let mut s = DetectionScratch::split(p, out_u32(scratch));
        let mut out = Detections {
            boxes: out_f32(boxes),
            classes: out_f32(classes),
            scores: out_f32(detection_scores),
            count: out_f32(count),
        };
        detection_postprocess(
            p,
            out_f32(encodings),
            out_f32(scores),
            constant(weights, self.anchors),
            &mut s,
            &mut out,
        );
    }
}
