//! TFLite_Detection_PostProcess, as TFLM's float32 kernel computes it: an
//! SSD detector's box encodings decoded against its anchors, then
//! non-maximum suppression over the class scores, into the best
//! `max_detections` boxes with their classes and scores.
//!
//! Decoding follows TFLM's order of operations: each centre and half size
//! in double precision (the half sizes through `exp`), rounded to float32,
//! then the corners in float32. `libm`'s `exp` may differ from a C
//! library's in the last bit, which the float32 rounding almost always
//! hides; float outputs are compared within rounding. Suppression keeps the boxes scoring at least the
//! threshold, best first (equal scores in box order, as TFLM's stable merge
//! sort leaves them), and drops every later box whose intersection over
//! union with a kept one exceeds the threshold. Regular NMS does that per
//! class and merges each class's survivors into the best `max_detections`
//! (equal scores: earlier first, as TFLM's partial sort breaks ties); fast
//! NMS ranks each box by its best class (the lowest class among equals).
//!
//! Where TFLM differs by accident, kiln says so rather than copying it:
//! fast NMS with more than one class per detection writes past TFLM's
//! outputs (kiln refuses it at the tool), its unfilled rows stay
//! unwritten in TFLM (kiln writes zeros, as TFLM's regular NMS does), and
//! TFLM fails the inference when a decoded box is empty or inverted (kiln
//! goes on: such a box overlaps nothing).
//!
//! Layer: kernels; pure functions over slices, use `libm`.

use super::{at, part, part_mut, set};
use crate::wire::wire_struct;

wire_struct! {
    /// The op's options and sizes: `boxes` anchors, each with
    /// `box_stride` encoding values (the first four used: y, x, h, w),
    /// scores of `label_offset` background columns (0 or 1) then
    /// `classes` classes per box, and the decoding scales (y, x, h, w).
    pub struct DetectionParams {
        pub boxes: u32,
        pub box_stride: u32,
        pub classes: u32,
        pub label_offset: u32,
        pub max_detections: u32,
        /// Regular NMS: survivors per class.
        pub detections_per_class: u32,
        pub score_threshold: f32,
        pub iou_threshold: f32,
        pub scales: [f32; 4],
        /// Regular NMS (per class) instead of fast NMS (per box).
        pub regular: bool,
    }
}

impl DetectionParams {
    /// Score columns per box.
    pub const fn columns(&self) -> u64 {
        self.classes as u64 + self.label_offset as u64
    }

    /// The scratch one run needs, in 4-byte words: see [`DetectionScratch`].
    pub const fn scratch_words(&self) -> u64 {
        8 * self.boxes as u64 + 3 * self.max_detections as u64
    }
}

/// The working memory of one run, split from one scratch buffer.
pub struct DetectionScratch<'a> {
    /// `[boxes, 4]` decoded corners: ymin, xmin, ymax, xmax.
    pub decoded: &'a mut [f32],
    /// `[boxes]` the scores suppression ranks by.
    pub scores: &'a mut [f32],
    /// `[boxes]` candidates, best first.
    pub order: &'a mut [u32],
    /// `[boxes]` the merge sort's other half.
    pub sort: &'a mut [u32],
    /// `[boxes]` the boxes one suppression keeps, best first.
    pub selected: &'a mut [u32],
    /// Regular NMS: the scores of the `[max_detections]` best so far,
    /// over classes.
    pub best_scores: &'a mut [f32],
    /// Their boxes.
    pub best_boxes: &'a mut [u32],
    /// Their classes.
    pub best_classes: &'a mut [u32],
}

impl<'a> DetectionScratch<'a> {
    /// The parts of `words` (`p.scratch_words()` of them), in this
    /// struct's order; a shorter buffer gives shorter parts.
    pub fn split(p: &DetectionParams, words: &'a mut [u32]) -> Self {
        let (b, d) = (p.boxes as usize, p.max_detections as usize);
        let mut rest = words;
        let mut next = |len: usize| {
            let all = core::mem::take(&mut rest);
            let (part, tail) = all.split_at_mut(len.min(all.len()));
            rest = tail;
            part
        };
        DetectionScratch {
            decoded: bytemuck::cast_slice_mut(next(4 * b)),
            scores: bytemuck::cast_slice_mut(next(b)),
            order: next(b),
            sort: next(b),
            selected: next(b),
            best_scores: bytemuck::cast_slice_mut(next(d)),
            best_boxes: next(d),
            best_classes: next(d),
        }
    }
}

/// The op's four outputs: boxes `[max_detections, 4]`, classes and scores
/// `[max_detections]`, and the number of detections `[1]`, all float32.
pub struct Detections<'a> {
    pub boxes: &'a mut [f32],
    pub classes: &'a mut [f32],
    pub scores: &'a mut [f32],
    pub count: &'a mut [f32],
}

/// A suppressed candidate in [`DetectionScratch::order`].
const SUPPRESSED: u32 = u32::MAX;

/// C++'s `std::max<float>` and `std::min<float>` (which keep the first
/// argument unless the comparison holds), for NaN parity with TFLM.
fn max_f(a: f32, b: f32) -> f32 {
    if a < b {
        b
    } else {
        a
    }
}

fn min_f(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}

/// Each box's encoding `(y, x, h, w)` against its anchor `(y, x, h, w)`
/// into corners, as TFLM's `DecodeCenterSizeBoxes`.
fn decode(p: &DetectionParams, encodings: &[f32], anchors: &[f32], decoded: &mut [f32]) {
    let stride = p.box_stride as usize;
    let [sy, sx, sh, sw] = p.scales.map(f64::from);
    for b in 0..p.boxes as usize {
        let e = part(encodings, b * stride, 4);
        let a = part(anchors, b * 4, 4);
        let (ey, ex, eh, ew) = (at(e, 0, 0.0), at(e, 1, 0.0), at(e, 2, 0.0), at(e, 3, 0.0));
        let (ay, ax, ah, aw) = (at(a, 0, 0.0), at(a, 1, 0.0), at(a, 2, 0.0), at(a, 3, 0.0));
        let (ah, aw) = (f64::from(ah), f64::from(aw));
        let y = (f64::from(ey) / sy * ah + f64::from(ay)) as f32;
        let x = (f64::from(ex) / sx * aw + f64::from(ax)) as f32;
        let half_h = (0.5 * libm::exp(f64::from(eh) / sh) * ah) as f32;
        let half_w = (0.5 * libm::exp(f64::from(ew) / sw) * aw) as f32;
        let out = part_mut(decoded, b * 4, 4);
        for (slot, v) in out
            .iter_mut()
            .zip([y - half_h, x - half_w, y + half_h, x + half_w])
        {
            *slot = v;
        }
    }
}

/// Intersection over union of decoded boxes `i` and `j`, as TFLM computes
/// it (0 when either is empty).
fn iou(decoded: &[f32], i: u32, j: u32) -> f32 {
    let corners = |b: u32| {
        let c = part(decoded, b as usize * 4, 4);
        [at(c, 0, 0.0), at(c, 1, 0.0), at(c, 2, 0.0), at(c, 3, 0.0)]
    };
    let ([ay0, ax0, ay1, ax1], [by0, bx0, by1, bx1]) = (corners(i), corners(j));
    let area_i = (ay1 - ay0) * (ax1 - ax0);
    let area_j = (by1 - by0) * (bx1 - bx0);
    if area_i <= 0.0 || area_j <= 0.0 {
        return 0.0;
    }
    let (y0, x0) = (max_f(ay0, by0), max_f(ax0, bx0));
    let (y1, x1) = (min_f(ay1, by1), min_f(ax1, bx1));
    let intersection = max_f(y1 - y0, 0.0) * max_f(x1 - x0, 0.0);
    intersection / (area_i + area_j - intersection)
}

/// Sorts box indices by their scores, best first, equal scores keeping
/// their order: a bottom-up merge sort through `tmp` (as long as `order`).
fn sort_best_first(order: &mut [u32], tmp: &mut [u32], scores: &[f32]) {
    let n = order.len();
    let tmp = part_mut(tmp, 0, n);
    let score = |b: u32| at(scores, b as usize, 0.0);
    let mut width = 1;
    while width < n && tmp.len() == n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j) = (lo, mid);
            for k in lo..hi {
                let (left, right) = (at(order, i, 0), at(order, j, 0));
                // The right one only when strictly better: stable.
                let take_right = j < hi && (i >= mid || score(right) > score(left));
                if take_right {
                    set(tmp, k, right);
                    j += 1;
                } else {
                    set(tmp, k, left);
                    i += 1;
                }
            }
            lo = hi;
        }
        order.copy_from_slice(tmp);
        width *= 2;
    }
}

/// TFLM's single-class suppression over `scores` (one per box): the
/// boxes kept, best first, at most `limit` of them, into `s.selected`;
/// returns how many.
fn suppress(p: &DetectionParams, s: &mut DetectionScratch, limit: usize) -> usize {
    let mut kept = 0;
    for (b, &score) in s.scores.iter().enumerate() {
        if score >= p.score_threshold {
            set(s.order, kept, b as u32);
            kept += 1;
        }
    }
    let order = part_mut(s.order, 0, kept);
    sort_best_first(order, s.sort, s.scores);
    let limit = limit.min(kept);
    let mut count = 0;
    for i in 0..order.len() {
        if count >= limit {
            break;
        }
        let a = at(order, i, SUPPRESSED);
        if a == SUPPRESSED {
            continue;
        }
        set(s.selected, count, a);
        count += 1;
        for slot in order.iter_mut().skip(i + 1) {
            if *slot != SUPPRESSED && iou(s.decoded, a, *slot) > p.iou_threshold {
                *slot = SUPPRESSED;
            }
        }
    }
    count
}

/// Writes detection `row`: box `b`'s corners, its class and score.
fn write_row(out: &mut Detections, decoded: &[f32], row: usize, b: u32, class: u32, score: f32) {
    let corners = part(decoded, b as usize * 4, 4);
    for (slot, &v) in part_mut(out.boxes, row * 4, 4).iter_mut().zip(corners) {
        *slot = v;
    }
    set(out.classes, row, class as f32);
    set(out.scores, row, score);
}

/// Regular NMS: suppression per class, each class's survivors merged into
/// the best `max_detections` so far (equal scores: earlier ones first).
/// Returns how many detections there are, written to `out`.
fn regular(
    p: &DetectionParams,
    class_scores: &[f32],
    s: &mut DetectionScratch,
    out: &mut Detections,
) -> usize {
    let (boxes, columns) = (p.boxes as usize, p.columns() as usize);
    let max = p.max_detections as usize;
    let mut best = 0;
    for class in 0..p.classes {
        let column = (class + p.label_offset) as usize;
        for (b, score) in s.scores.iter_mut().enumerate().take(boxes) {
            *score = at(class_scores, b * columns + column, 0.0);
        }
        let kept = suppress(p, s, p.detections_per_class as usize);
        for &b in part(s.selected, 0, kept) {
            let score = at(s.scores, b as usize, 0.0);
            // After every earlier entry at least as good.
            let at_least = part(s.best_scores, 0, best);
            let pos = at_least.iter().take_while(|&&v| v >= score).count();
            if pos >= max {
                break;
            }
            best = (best + 1).min(max);
            for k in (pos + 1..best).rev() {
                set(s.best_scores, k, at(s.best_scores, k - 1, 0.0));
                set(s.best_boxes, k, at(s.best_boxes, k - 1, 0));
                set(s.best_classes, k, at(s.best_classes, k - 1, 0));
            }
            set(s.best_scores, pos, score);
            set(s.best_boxes, pos, b);
            set(s.best_classes, pos, class);
        }
    }
    for row in 0..best {
        let (b, class) = (at(s.best_boxes, row, 0), at(s.best_classes, row, 0));
        write_row(out, s.decoded, row, b, class, at(s.best_scores, row, 0.0));
    }
    best
}

/// Box `b`'s best class and its score (the lowest class among equals).
fn best_class(p: &DetectionParams, class_scores: &[f32], b: usize) -> (u32, f32) {
    let row = part(
        class_scores,
        b * p.columns() as usize + p.label_offset as usize,
        p.classes as usize,
    );
    let mut best = (0, at(row, 0, 0.0));
    for (c, &v) in row.iter().enumerate().skip(1) {
        if v > best.1 {
            best = (c as u32, v);
        }
    }
    best
}

/// Fast NMS (one class per detection): each box ranked by its best class,
/// one suppression over all. Returns how many detections there are.
fn fast(
    p: &DetectionParams,
    class_scores: &[f32],
    s: &mut DetectionScratch,
    out: &mut Detections,
) -> usize {
    for b in 0..p.boxes as usize {
        let (_, score) = best_class(p, class_scores, b);
        set(s.scores, b, score);
    }
    let kept = suppress(p, s, p.max_detections as usize);
    for row in 0..kept {
        let b = at(s.selected, row, 0);
        let (class, score) = best_class(p, class_scores, b as usize);
        write_row(out, s.decoded, row, b, class, score);
    }
    kept
}

/// One inference: `encodings` `[boxes, box_stride]`, `class_scores`
/// `[boxes, label_offset + classes]` and `anchors` `[boxes, 4]` into the
/// detections, rows past the last detection zero.
pub fn detection_postprocess(
    p: &DetectionParams,
    encodings: &[f32],
    class_scores: &[f32],
    anchors: &[f32],
    s: &mut DetectionScratch,
    out: &mut Detections,
) {
    decode(p, encodings, anchors, s.decoded);
    out.boxes.fill(0.0);
    out.classes.fill(0.0);
    out.scores.fill(0.0);
    let found = if p.regular {
        regular(p, class_scores, s, out)
    } else {
        fast(p, class_scores, s, out)
    };
    set(out.count, 0, found as f32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(regular: bool) -> DetectionParams {
        DetectionParams {
            boxes: 4,
            box_stride: 4,
            classes: 2,
            label_offset: 1,
            max_detections: 3,
            detections_per_class: 2,
            score_threshold: 0.3,
            iou_threshold: 0.5,
            scales: [1.0; 4],
            regular,
        }
    }

    /// Runs the kernel on four anchors, boxes 0 and 1 the same (encodings
    /// zero: each box its anchor).
    fn run(p: &DetectionParams, scores: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, f32) {
        let anchors = [
            0.5, 0.5, 0.2, 0.2, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1,
        ];
        let encodings = [0.0; 16];
        let mut words = vec![0u32; p.scratch_words() as usize];
        let d = p.max_detections as usize;
        let mut s = DetectionScratch::split(p, &mut words);
        let (mut boxes, mut classes, mut out_scores, mut count) =
            (vec![9.0; 4 * d], vec![9.0; d], vec![9.0; d], [9.0]);
        let mut out = Detections {
            boxes: &mut boxes,
            classes: &mut classes,
            scores: &mut out_scores,
            count: &mut count,
        };
        detection_postprocess(p, &encodings, scores, &anchors, &mut s, &mut out);
        (boxes, classes, out_scores, count[0])
    }

    /// Box 1 overlaps box 0 entirely and scores as high: box order breaks
    /// the tie and box 1 is suppressed; the rows past the last are zero.
    #[test]
    fn fast_nms_breaks_ties_by_box_and_suppresses_overlaps() {
        // Columns: background, class 0, class 1.
        let scores = [
            0.0, 0.2, 0.8, //
            0.0, 0.8, 0.8, //
            0.0, 0.5, 0.1, //
            0.0, 0.1, 0.2, //
        ];
        let (boxes, classes, got, count) = run(&params(false), &scores);
        assert_eq!(count, 2.0);
        assert_eq!(got, [0.8, 0.5, 0.0]);
        assert_eq!(classes, [1.0, 0.0, 0.0]);
        assert_eq!(&boxes[..4], &[0.4, 0.4, 0.6, 0.6]);
        assert_eq!(&boxes[8..], &[0.0; 4]);
    }

    /// Suppression per class, then a merge in which an earlier class's
    /// detection stays before a later class's equal score.
    #[test]
    fn regular_nms_merges_classes_earlier_first_among_equals() {
        let scores = [
            0.0, 0.8, 0.8, //
            0.0, 0.8, 0.9, //
            0.0, 0.4, 0.1, //
            0.0, 0.1, 0.8, //
        ];
        let (_, classes, got, count) = run(&params(true), &scores);
        // Class 0 keeps box 0 (0.8; box 1 ties and overlaps it) and box 2
        // (0.4); class 1 keeps box 1 (0.9; box 0 overlaps it) and box 3
        // (0.8), which goes after class 0's 0.8 and pushes out its 0.4.
        assert_eq!(count, 3.0);
        assert_eq!(got, [0.9, 0.8, 0.8]);
        assert_eq!(classes, [1.0, 0.0, 1.0]);
    }

    #[test]
    fn nothing_above_the_threshold_detects_nothing() {
        let (boxes, classes, got, count) = run(&params(true), &[0.1; 12]);
        assert_eq!(count, 0.0);
        assert!(boxes.iter().chain(&classes).chain(&got).all(|&v| v == 0.0));
    }
}
