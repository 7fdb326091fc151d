//! The filter bank of TFLM's signal library (`SignalFilterBank`): uint32
//! spectral energies summed into uint64 channels by overlapping triangular
//! (mel) filters, as `tflm_signal::FilterbankAccumulateChannels` computes
//! it. Each energy bin feeds two adjacent channels: weighted into one,
//! "unweighted" (one minus the weight) into the next.
//!
//! Layer: kernels; uses nothing.

/// Where each of the `channels + 1` bands reads: `frequency_starts[i]` is
/// its first energy bin, `weight_starts[i]` its first weight, `widths[i]`
/// its number of bins. Band 0 only carries unweighted energy into channel 0.
pub struct FilterBankTables<'a> {
    pub weights: &'a [i16],
    pub unweights: &'a [i16],
    pub frequency_starts: &'a [i16],
    pub weight_starts: &'a [i16],
    pub widths: &'a [i16],
}

impl FilterBankTables<'_> {
    /// Whether every band reads inside `bins` energies and the weights.
    pub fn fits(&self, bins: usize, channels: usize) -> bool {
        let bands = channels + 1;
        let tables = [self.frequency_starts, self.weight_starts, self.widths];
        self.weights.len() == self.unweights.len()
            && tables.iter().all(|t| t.len() == bands)
            && (0..bands).all(|i| {
                let at = |t: &[i16]| t.get(i).map_or(-1, |&v| i32::from(v));
                let (freq, weight, width) = (
                    at(self.frequency_starts),
                    at(self.weight_starts),
                    at(self.widths),
                );
                freq >= 0
                    && weight >= 0
                    && width >= 0
                    && (freq + width) as usize <= bins
                    && (weight + width) as usize <= self.weights.len()
            })
    }
}

/// `energy` to `output` (one sum per channel): band `i` adds each of its
/// bins times its weight into its channel and times its unweight into the
/// next, in uint64 arithmetic that wraps as TFLM's does (a negative weight
/// reads as 2^64 minus its size). The tables must [`fit`](FilterBankTables::fits).
pub fn filter_bank(t: &FilterBankTables, energy: &[u32], output: &mut [u64]) {
    let (mut weighted, mut unweighted) = (0u64, 0u64);
    let at = |table: &[i16], i: usize| table.get(i).copied().unwrap_or(0);
    for band in 0..output.len() + 1 {
        let freq = at(t.frequency_starts, band).max(0) as usize;
        let weight = at(t.weight_starts, band).max(0) as usize;
        for j in 0..at(t.widths, band).max(0) as usize {
            let e = u64::from(energy.get(freq + j).copied().unwrap_or(0));
            let w = i64::from(at(t.weights, weight + j)) as u64;
            let u = i64::from(at(t.unweights, weight + j)) as u64;
            weighted = weighted.wrapping_add(w.wrapping_mul(e));
            unweighted = unweighted.wrapping_add(u.wrapping_mul(e));
        }
        // Band 0's weighted sum is TFLM's scratch, discarded.
        if let Some(out) = band.checked_sub(1).and_then(|c| output.get_mut(c)) {
            *out = weighted;
        }
        weighted = unweighted;
        unweighted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two channels over five bins: each bin's energy splits between
    /// adjacent channels by its weight and unweight.
    #[test]
    fn bins_split_between_adjacent_channels() {
        let t = FilterBankTables {
            weights: &[1, 3, 2, -1],
            unweights: &[5, 1, 2, 4],
            frequency_starts: &[0, 1, 3],
            weight_starts: &[0, 1, 3],
            widths: &[1, 2, 1],
        };
        assert!(t.fits(5, 2));
        let energy = [10, 100, 1000, 7, 9];
        let mut out = [0u64; 2];
        filter_bank(&t, &energy, &mut out);
        // Channel 0: band 0's unweight (5 * 10) + band 1's weights
        // (3 * 100 + 2 * 1000). Channel 1: band 1's unweights
        // (1 * 100 + 2 * 1000) + band 2's weight (-1 * 7, wrapping).
        assert_eq!(out, [50 + 300 + 2000, (2100u64).wrapping_sub(7)]);
        assert!(!t.fits(3, 2), "band 2 reads bin 3");
        assert!(!FilterBankTables {
            widths: &[1, 2],
            ..t
        }
        .fits(5, 2));
    }
}
