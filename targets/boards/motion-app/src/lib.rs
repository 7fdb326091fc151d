//! The real-board examples' application, independent of the board: every
//! 20 ms read an LIS3DH accelerometer over any `embedded-hal` 1.0 I2C bus,
//! keep the last 32 samples in a `kiln::sensor::Window`, and every 16 new
//! samples quantize the window into the motion model's input, run it and log
//! the class with defmt.
//!
//! Layer: firmware application; uses `kiln` (runtime and sensor), the
//! generated `motion` module, `embedded-hal` and `defmt`.

#![no_std]

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use kiln::sensor::{Lis3dh, Window};

pub mod motion {
    include!(concat!(env!("OUT_DIR"), "/motion.rs"));
}

pub const CLASSES: [&str; 3] = ["still", "walking", "shaking"];
const SAMPLES: usize = motion::INPUT_LEN / 3;

/// Runs forever. `arena` is the model's working memory.
pub fn run<I: I2c, D: DelayNs>(
    i2c: I,
    mut delay: D,
    arena: &mut kiln::Arena<{ motion::ARENA_BYTES }>,
) -> ! {
    let mut sensor = match Lis3dh::new(i2c, Lis3dh::<I>::DEFAULT_ADDRESS) {
        Ok(sensor) => sensor,
        Err(e) => {
            defmt::error!("accelerometer not found: {}", defmt::Debug2Format(&e));
            // The bus was moved into the failed attempt; nothing else to try.
            loop {
                delay.delay_ms(1000);
            }
        }
    };
    let mut model = motion::Model::new(arena);
    let mut window = Window::<3, SAMPLES>::new(SAMPLES / 2);
    let input_quantization = kiln::Quantization {
        scale: motion::INPUT_SCALE,
        zero_point: motion::INPUT_ZERO_POINT,
    };
    let mut input = [0i8; motion::INPUT_LEN];
    loop {
        match sensor.read() {
            Ok(sample) => {
                if window.push(sample) {
                    window.quantize_into(Lis3dh::<I>::G_PER_LSB, input_quantization, &mut input);
                    let scores = model.run(&input);
                    let class = kiln::argmax(scores);
                    defmt::info!("motion: {} (score {})", CLASSES[class], scores[class]);
                }
            }
            Err(e) => defmt::warn!("accelerometer read failed: {}", defmt::Debug2Format(&e)),
        }
        delay.delay_ms(20);
    }
}
