//! kiln on the nRF52840-DK: an LIS3DH on TWIM0 (SDA P0.26, SCL P0.27),
//! classified by the motion model every 16 samples, logged with defmt over
//! RTT. `cargo run --release` flashes it with probe-rs.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use nrf52840_hal::{gpio::p0, pac, twim, Delay, Twim};
use panic_probe as _;
use static_cell::ConstStaticCell;

/// The model's arena: a `static`, so the linker places and counts it;
/// `take()` hands it out once.
static ARENA: ConstStaticCell<kiln::Arena<{ kiln_motion_app::motion::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

#[entry]
fn main() -> ! {
    let core = pac::CorePeripherals::take().unwrap();
    let p = pac::Peripherals::take().unwrap();
    let port0 = p0::Parts::new(p.P0);
    let pins = twim::Pins {
        sda: port0.p0_26.into_floating_input().degrade(),
        scl: port0.p0_27.into_floating_input().degrade(),
    };
    let i2c = Twim::new(p.TWIM0, pins, twim::Frequency::K400);
    let delay = Delay::new(core.SYST);
    defmt::info!(
        "kiln motion demo: arena {} bytes",
        kiln_motion_app::motion::ARENA_BYTES
    );
    let arena = ARENA.take();
    kiln_motion_app::run(i2c, delay, arena)
}
