//! Range observers for post-training quantization: from the values an
//! activation takes on calibration data, the real interval its int8 grid
//! should cover.
//!
//! Layer: quantize; plain math, uses only `std`.

/// How the interval is chosen from the observed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObserverKind {
    /// The extremes seen (TFLite's converter does this).
    MinMax,
    /// The central 99.99% of the values: outliers are clipped.
    Percentile,
    /// The clipping of the observed interval that minimizes the mean
    /// squared quantization error over the observed values.
    Mse,
}

const BINS: usize = 2048;

/// What one tensor's values looked like: extremes and a histogram over them.
#[derive(Clone, Debug)]
pub struct Observer {
    pub min: f32,
    pub max: f32,
    /// Filled in the second calibration pass, over `[min, max]`.
    histogram: Vec<u64>,
}

impl Default for Observer {
    fn default() -> Self {
        Observer {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            histogram: Vec::new(),
        }
    }
}

impl Observer {
    /// First pass: the extremes.
    pub fn observe_range(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// Second pass: the distribution within the extremes.
    pub fn observe_histogram(&mut self, values: &[f32]) {
        if self.histogram.is_empty() {
            self.histogram = vec![0; BINS];
        }
        let width = (self.max - self.min).max(f32::MIN_POSITIVE);
        for &v in values.iter().filter(|v| v.is_finite()) {
            let bin = (((v - self.min) / width) * BINS as f32) as usize;
            self.histogram[bin.min(BINS - 1)] += 1;
        }
    }

    fn bin_center(&self, i: usize) -> f32 {
        self.min + (i as f32 + 0.5) * (self.max - self.min) / BINS as f32
    }

    /// The interval to quantize over; always contains zero, as the int8
    /// spec requires, and is never empty.
    pub fn interval(&self, kind: ObserverKind) -> (f32, f32) {
        let (lo, hi) = if !self.min.is_finite() {
            (0.0, 0.0)
        } else {
            match kind {
                ObserverKind::MinMax => (self.min, self.max),
                ObserverKind::Percentile if !self.histogram.is_empty() => self.percentile(0.00005),
                ObserverKind::Mse if !self.histogram.is_empty() => self.mse(),
                _ => (self.min, self.max),
            }
        };
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        if hi - lo < 1e-6 {
            (lo, lo + 1e-6)
        } else {
            (lo, hi)
        }
    }

    fn percentile(&self, tail: f64) -> (f32, f32) {
        let total: u64 = self.histogram.iter().sum();
        let cut = (total as f64 * tail) as u64;
        let (mut acc, mut lo) = (0u64, 0usize);
        for (i, &c) in self.histogram.iter().enumerate() {
            acc += c;
            if acc > cut {
                lo = i;
                break;
            }
        }
        let (mut acc, mut hi) = (0u64, BINS - 1);
        for (i, &c) in self.histogram.iter().enumerate().rev() {
            acc += c;
            if acc > cut {
                hi = i;
                break;
            }
        }
        let width = (self.max - self.min) / BINS as f32;
        (
            self.min + lo as f32 * width,
            self.min + (hi + 1) as f32 * width,
        )
    }

    /// Squared error of quantizing the histogram to 256 levels over `[lo, hi]`.
    fn error(&self, lo: f32, hi: f32) -> f64 {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = ((hi - lo) / 255.0).max(f32::MIN_POSITIVE);
        let zero_point = (-128.0 - lo / scale).round();
        self.histogram
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let x = self.bin_center(i);
                let q = ((x / scale).round() + zero_point).clamp(-128.0, 127.0);
                let back = (q - zero_point) * scale;
                c as f64 * f64::from(x - back).powi(2)
            })
            .sum()
    }

    fn mse(&self) -> (f32, f32) {
        let mut best = (self.min, self.max);
        let mut best_error = self.error(self.min, self.max);
        for step in 1..40 {
            let keep = 1.0 - step as f32 * 0.02;
            let candidate = (self.min * keep, self.max * keep);
            let e = self.error(candidate.0, candidate.1);
            if e < best_error {
                best = candidate;
                best_error = e;
            }
        }
        best
    }
}

/// TFLite's asymmetric int8 parameters for an interval containing zero.
pub fn asymmetric_params(lo: f32, hi: f32) -> (f32, i64) {
    let scale = (hi - lo) / 255.0;
    let zero_point = (-128.0 - f64::from(lo) / f64::from(scale))
        .round()
        .clamp(-128.0, 127.0) as i64;
    (scale, zero_point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(values: &[f32]) -> Observer {
        let mut o = Observer::default();
        o.observe_range(values);
        o.observe_histogram(values);
        o
    }

    #[test]
    fn min_max_covers_everything_and_zero() {
        let o = observed(&[0.5, 2.0, 1.0]);
        assert_eq!(o.interval(ObserverKind::MinMax), (0.0, 2.0));
        let (scale, zp) = asymmetric_params(0.0, 2.0);
        assert!((scale - 2.0 / 255.0).abs() < 1e-9);
        assert_eq!(zp, -128);
    }

    #[test]
    fn percentile_and_mse_clip_a_lone_outlier() {
        let mut values: Vec<f32> = (0..100_000)
            .map(|i| (i % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        values.push(50.0);
        let o = observed(&values);
        let (_, hi_minmax) = o.interval(ObserverKind::MinMax);
        let (_, hi_percentile) = o.interval(ObserverKind::Percentile);
        let (_, hi_mse) = o.interval(ObserverKind::Mse);
        assert_eq!(hi_minmax, 50.0);
        assert!(hi_percentile < 1.0, "{hi_percentile}");
        assert!(hi_mse < 50.0, "{hi_mse}");
    }

    #[test]
    fn constant_tensors_get_a_usable_interval() {
        let o = observed(&[0.0, 0.0]);
        let (lo, hi) = o.interval(ObserverKind::Mse);
        assert!(hi > lo);
    }
}
