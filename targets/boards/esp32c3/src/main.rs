//! kiln on the ESP32-C3: an LIS3DH on I2C0 (SDA GPIO4, SCL GPIO5),
//! classified by the motion model every 16 samples, logged with defmt over
//! RTT (the C3's built-in USB-JTAG). `cargo run --release` flashes it with
//! probe-rs.

#![no_std]
#![no_main]

use defmt_rtt as _;
use esp_hal::delay::Delay;
use esp_hal::i2c::master::{Config, I2c};
use esp_hal::time::Rate;
use static_cell::ConstStaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// The model's arena: a `static`, so the linker places and counts it;
/// `take()` hands it out once.
static ARENA: ConstStaticCell<kiln::Arena<{ kiln_motion_app::motion::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

#[esp_hal::main]
fn main() -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default());
    let config = Config::default().with_frequency(Rate::from_khz(400));
    let i2c = match I2c::new(peripherals.I2C0, config) {
        Ok(i2c) => i2c.with_sda(peripherals.GPIO4).with_scl(peripherals.GPIO5),
        Err(e) => panic!("I2C configuration refused: {e:?}"),
    };
    defmt::info!(
        "kiln motion demo: arena {} bytes",
        kiln_motion_app::motion::ARENA_BYTES
    );
    let arena = ARENA.take();
    kiln_motion_app::run(i2c, Delay::new(), arena)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    loop {
        core::hint::spin_loop();
    }
}
