//! kiln on an STM32F411 (BlackPill or Nucleo-F411RE): an LIS3DH on I2C1
//! (SCL PB8, SDA PB9), classified by the motion model every 16 samples,
//! logged with defmt over RTT. `cargo run --release` flashes it with probe-rs.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use panic_probe as _;
use stm32f4xx_hal::{i2c::I2c, pac, prelude::*};

static mut ARENA: kiln::Arena<{ kiln_motion_app::motion::ARENA_BYTES }> = kiln::Arena::new();

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
    // SAFETY: the only reference to ARENA, taken once before anything runs.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    kiln_motion_app::run(i2c, delay, arena)
}
