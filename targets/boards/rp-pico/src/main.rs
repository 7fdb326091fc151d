//! kiln on the Raspberry Pi Pico (RP2040): an LIS3DH on I2C0 (SDA GP4, SCL
//! GP5), classified by the motion model every 16 samples, logged with defmt
//! over RTT. `cargo run --release` flashes it with probe-rs.

#![no_std]
#![no_main]

use defmt_rtt as _;
use fugit::RateExtU32;
use panic_probe as _;
use rp2040_hal::{self as hal, pac, Clock};
use static_cell::ConstStaticCell;

/// The RP2040's second-stage bootloader, for the Pico's W25Q080 flash.
#[link_section = ".boot2"]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

const XOSC_HZ: u32 = 12_000_000;

/// The model's arena: a `static`, so the linker places and counts it;
/// `take()` hands it out once.
static ARENA: ConstStaticCell<kiln::Arena<{ kiln_motion_app::motion::ARENA_BYTES }>> =
    ConstStaticCell::new(kiln::Arena::new());

#[hal::entry]
fn main() -> ! {
    let mut p = pac::Peripherals::take().unwrap();
    let mut watchdog = hal::Watchdog::new(p.WATCHDOG);
    let clocks = hal::clocks::init_clocks_and_plls(
        XOSC_HZ,
        p.XOSC,
        p.CLOCKS,
        p.PLL_SYS,
        p.PLL_USB,
        &mut p.RESETS,
        &mut watchdog,
    )
    .unwrap();
    let sio = hal::Sio::new(p.SIO);
    let pins = hal::gpio::Pins::new(p.IO_BANK0, p.PADS_BANK0, sio.gpio_bank0, &mut p.RESETS);
    let sda: hal::gpio::Pin<_, hal::gpio::FunctionI2C, hal::gpio::PullUp> =
        pins.gpio4.reconfigure();
    let scl: hal::gpio::Pin<_, hal::gpio::FunctionI2C, hal::gpio::PullUp> =
        pins.gpio5.reconfigure();
    let i2c = hal::I2C::i2c0(
        p.I2C0,
        sda,
        scl,
        400.kHz(),
        &mut p.RESETS,
        clocks.system_clock.freq(),
    );
    let timer = hal::Timer::new(p.TIMER, &mut p.RESETS, &clocks);
    defmt::info!(
        "kiln motion demo: arena {} bytes",
        kiln_motion_app::motion::ARENA_BYTES
    );
    let arena = ARENA.take();
    kiln_motion_app::run(i2c, timer, arena)
}
