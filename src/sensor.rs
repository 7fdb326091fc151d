//! Sensors feeding models: a sliding window of multi-channel samples in a
//! fixed `heapless` ring buffer, quantized into a model's int8 input, and a
//! driver for a common I2C accelerometer (ST LIS3DH) over `embedded-hal` 1.0.
//!
//! Layer: beside `exec`, for firmware; uses `heapless`, `embedded-hal` and
//! `libm`. Needs the `sensor` feature. No allocation: the window's size is a
//! const generic.

use embedded_hal::i2c::I2c;
use heapless::HistoryBuf;

use crate::tensor::Quantization;

/// The last `LEN` samples of `CHANNELS` channels, oldest overwritten first.
/// `hop` decides how often a full window is ready for the model (every
/// `hop` new samples), so that inference can run on overlapping windows.
pub struct Window<const CHANNELS: usize, const LEN: usize> {
    samples: HistoryBuf<[i16; CHANNELS], LEN>,
    hop: usize,
    since_ready: usize,
}

impl<const CHANNELS: usize, const LEN: usize> Window<CHANNELS, LEN> {
    /// A window that is ready every `hop` samples once full (`hop` of 0 is 1).
    pub const fn new(hop: usize) -> Self {
        Window {
            samples: HistoryBuf::new(),
            hop: if hop == 0 { 1 } else { hop },
            since_ready: 0,
        }
    }

    /// Adds a sample; returns whether the window is now ready for the model.
    pub fn push(&mut self, sample: [i16; CHANNELS]) -> bool {
        self.samples.write(sample);
        self.since_ready += 1;
        if self.samples.is_full() && self.since_ready >= self.hop {
            self.since_ready = 0;
            true
        } else {
            false
        }
    }

    pub fn is_full(&self) -> bool {
        self.samples.is_full()
    }

    /// Samples from oldest to newest.
    pub fn oldest_first(&self) -> impl Iterator<Item = &[i16; CHANNELS]> {
        self.samples.oldest_ordered()
    }

    /// Writes the window, oldest sample first and channels interleaved, into
    /// an int8 model input: each raw value times `units_per_lsb` (the
    /// sensor's scale, in the units the model was trained on) is quantized
    /// with the input's scale and zero point, rounding half away from zero
    /// and saturating. Returns how many values were written
    /// (`CHANNELS * LEN` when full, fewer if `out` is shorter).
    pub fn quantize_into(&self, units_per_lsb: f32, input: Quantization, out: &mut [i8]) -> usize {
        let values = self.oldest_first().flat_map(|s| s.iter());
        let mut written = 0;
        for (o, &raw) in out.iter_mut().zip(values) {
            let real = f32::from(raw) * units_per_lsb;
            // Saturating: any zero point and scale clamp as the exact sum would.
            let q = (libm::roundf(real / input.scale) as i32).saturating_add(input.zero_point);
            *o = q.clamp(-128, 127) as i8;
            written += 1;
        }
        written
    }
}

/// Why a sensor could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SensorError<E> {
    /// The bus reported an error.
    Bus(E),
    /// Something else answered at the address (its identity register).
    WrongDevice { found: u8 },
}

/// ST LIS3DH 3-axis accelerometer over I2C: 100 Hz, ±2 g, high resolution
/// (12 bits), one milli-g per count.
pub struct Lis3dh<I2C> {
    i2c: I2C,
    address: u8,
}

impl<I2C: I2c> Lis3dh<I2C> {
    /// The address with SDO/SA0 pulled low (0x19 when high).
    pub const DEFAULT_ADDRESS: u8 = 0x18;
    /// Scale of [`Lis3dh::read`]'s counts, in g.
    pub const G_PER_LSB: f32 = 0.001;
    const WHO_AM_I: u8 = 0x0F;
    const IDENTITY: u8 = 0x33;
    const CTRL_REG1: u8 = 0x20;
    const CTRL_REG4: u8 = 0x23;
    const OUT_X_L: u8 = 0x28;
    /// Register address bit that makes multi-byte reads auto-increment.
    const AUTO_INCREMENT: u8 = 0x80;

    /// Checks the device's identity and starts measuring.
    pub fn new(mut i2c: I2C, address: u8) -> Result<Self, SensorError<I2C::Error>> {
        let mut id = [0u8];
        i2c.write_read(address, &[Self::WHO_AM_I], &mut id)
            .map_err(SensorError::Bus)?;
        if id[0] != Self::IDENTITY {
            return Err(SensorError::WrongDevice { found: id[0] });
        }
        // 100 Hz, normal power, X/Y/Z enabled.
        i2c.write(address, &[Self::CTRL_REG1, 0x57])
            .map_err(SensorError::Bus)?;
        // Block data update, ±2 g, high resolution.
        i2c.write(address, &[Self::CTRL_REG4, 0x88])
            .map_err(SensorError::Bus)?;
        Ok(Lis3dh { i2c, address })
    }

    /// One sample: X, Y, Z in milli-g.
    pub fn read(&mut self) -> Result<[i16; 3], SensorError<I2C::Error>> {
        let mut raw = [0u8; 6];
        self.i2c
            .write_read(
                self.address,
                &[Self::OUT_X_L | Self::AUTO_INCREMENT],
                &mut raw,
            )
            .map_err(SensorError::Bus)?;
        // Left-justified 12-bit values: shift the 4 unused bits out.
        Ok(core::array::from_fn(|i| {
            i16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]) >> 4
        }))
    }

    /// Gives the bus back.
    pub fn release(self) -> I2C {
        self.i2c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn window_keeps_the_last_samples_in_order() {
        let mut w = Window::<2, 3>::new(1);
        assert!(!w.push([1, 10]));
        assert!(!w.push([2, 20]));
        assert!(w.push([3, 30]));
        assert!(w.push([4, 40]));
        let got: Vec<[i16; 2]> = w.oldest_first().copied().collect();
        assert_eq!(got, vec![[2, 20], [3, 30], [4, 40]]);
    }

    #[test]
    fn hop_spaces_the_ready_windows() {
        let mut w = Window::<1, 4>::new(2);
        let ready: Vec<bool> = (0..10).map(|i| w.push([i])).collect();
        assert_eq!(
            ready,
            vec![false, false, false, true, false, true, false, true, false, true]
        );
    }

    #[test]
    fn quantize_interleaves_channels_and_saturates() {
        let mut w = Window::<3, 2>::new(1);
        w.push([1000, -1000, 0]);
        w.push([500, 30_000, -30_000]);
        let mut out = [0i8; 6];
        // 1 mg per count; input scale 1/64 g, zero point -10.
        let n = w.quantize_into(
            0.001,
            Quantization {
                scale: 1.0 / 64.0,
                zero_point: -10,
            },
            &mut out,
        );
        assert_eq!(n, 6);
        assert_eq!(out, [54, -74, -10, 22, 127, -128]);
    }

    #[test]
    fn lis3dh_starts_and_reads_milli_g() {
        let expectations = [
            Transaction::write_read(0x18, vec![0x0F], vec![0x33]),
            Transaction::write(0x18, vec![0x20, 0x57]),
            Transaction::write(0x18, vec![0x23, 0x88]),
            // X = 1000 mg, Y = -16 mg, Z = 0 (left-justified: value << 4).
            Transaction::write_read(0x18, vec![0xA8], vec![0x80, 0x3E, 0x00, 0xFF, 0x00, 0x00]),
        ];
        let i2c = Mock::new(&expectations);
        let mut sensor = Lis3dh::new(i2c, Lis3dh::<Mock>::DEFAULT_ADDRESS).unwrap();
        assert_eq!(sensor.read().unwrap(), [1000, -16, 0]);
        sensor.release().done();
    }

    #[test]
    fn lis3dh_rejects_another_device() {
        let expectations = [Transaction::write_read(0x18, vec![0x0F], vec![0x68])];
        let i2c = Mock::new(&expectations);
        let err = Lis3dh::new(i2c.clone(), 0x18).err();
        assert_eq!(err, Some(SensorError::WrongDevice { found: 0x68 }));
        let mut i2c = i2c;
        i2c.done();
    }

    #[test]
    fn lis3dh_reports_bus_errors() {
        use embedded_hal::i2c::ErrorKind;
        let expectations =
            [Transaction::write_read(0x18, vec![0x0F], vec![0x00]).with_error(ErrorKind::Other)];
        let i2c = Mock::new(&expectations);
        let err = Lis3dh::new(i2c.clone(), 0x18).err();
        assert_eq!(err, Some(SensorError::Bus(ErrorKind::Other)));
        let mut i2c = i2c;
        i2c.done();
    }
}
