//! kiln on an STM32F411 (BlackPill or Nucleo-F411RE): an LIS3DH on I2C1
//! (SCL PB8, SDA PB9), classified by the motion model every 16 samples,
//! logged with defmt over RTT. `cargo run --release` flashes it with probe-rs.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use panic_probe as _;
use static_cell::ConstStaticCell;
use stm32f4xx_hal::{i2c::I2c, pac, prelude::*};

/// The model's arena: a `static`, so the linker places and counts it;
/// `take()` hands it out once.
static ARENA: ConstStaticCell<kiln::Arena<{ kiln_motion_app::motion::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

#[entry]
fn main() -> ! {
    let dp = pac::Peripherals::take().unwrap();
    let cp = cortex_m::Peripherals::take().unwrap();
    let mut rcc = dp.RCC.constrain();
    let gpiob = dp.GPIOB.split(&mut rcc);
    let i2c = I2c::new(dp.I2C1, (gpiob.pb8, gpiob.pb9), 400.kHz(), &mut rcc);
    let delay = cp.SYST.delay(&rcc.clocks);
    defmt::info!(
        "kiln motion demo: arena {} bytes",
        kiln_motion_app::motion::ARENA_BYTES
    );
    let arena = ARENA.take();
    kiln_motion_app::run(i2c, delay, arena)
}
