//! Cortex-M boards under QEMU: instructions from SysTick (with QEMU's
//! `-icount`, its ticks advance in fixed proportion to instructions; the
//! proportion is calibrated at start-up on a loop of known length), stack
//! painting between the end of the statics and the stack pointer, and
//! semihosting for output and exit.

use core::cell::Cell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_semihosting::{debug, hio};

const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// Call from the firmware's `SysTick` exception handler.
pub fn on_systick() {
    cortex_m::interrupt::free(|cs| {
        let w = WRAPS.borrow(cs);
        w.set(w.get() + 1);
    });
}

extern "C" {
    // From cortex-m-rt's link.x: the end of the statics and the stack top.
    static __sheap: u32;
    static _stack_start: u32;
}

pub struct CortexM {
    syst: SYST,
    /// Instructions per calibration loop, and the ticks it took.
    calib_instructions: u64,
    calib_ticks: u64,
    stdout: Option<hio::HostStream>,
}

impl CortexM {
    pub fn new(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        let mut this = CortexM {
            syst,
            calib_instructions: 1,
            calib_ticks: 1,
            stdout: hio::hstdout().ok(),
        };
        // Calibrate: a loop of exactly two instructions per iteration.
        const ITERATIONS: u32 = 1 << 20;
        let start = this.ticks();
        // SAFETY: a register-only countdown loop; touches no memory.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs r0, #1",
                "bne 2b",
                inout("r0") ITERATIONS => _,
                options(nomem, nostack),
            );
        }
        let ticks = this.ticks() - start;
        this.calib_instructions = 2 * u64::from(ITERATIONS);
        this.calib_ticks = ticks.max(1);
        this
    }

    fn ticks(&self) -> u64 {
        let _ = &self.syst;
        loop {
            let before = cortex_m::interrupt::free(|cs| WRAPS.borrow(cs).get());
            let current = SYST::get_current();
            let after = cortex_m::interrupt::free(|cs| WRAPS.borrow(cs).get());
            // A wrap between the two reads runs the exception at once (it is
            // enabled and nothing masks it), so equal counts mean `current`
            // belongs to that epoch.
            if before == after {
                return u64::from(after) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
            }
        }
    }
}

impl crate::Platform for CortexM {
    fn stack_bounds(&self) -> (usize, usize) {
        // Only the addresses of the linker symbols are taken, never their values.
        (
            core::ptr::addr_of!(__sheap) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    fn stack_pointer(&self) -> usize {
        cortex_m::register::msp::read() as usize
    }

    fn instructions(&mut self) -> u64 {
        self.ticks() * self.calib_instructions / self.calib_ticks
    }

    fn calibration(&self) -> (u64, u64) {
        (self.calib_ticks, self.calib_instructions)
    }

    fn write_str(&mut self, s: &str) {
        if let Some(out) = self.stdout.as_mut() {
            let _ = out.write_all(s.as_bytes());
        }
    }

    fn exit(&mut self, pass: bool) -> ! {
        debug::exit(if pass {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// The body of every Cortex-M test firmware's `main.rs`: the generated
/// suite, the arena, the entry point and the SysTick handler. The firmware
/// crate depends on `cortex-m`, `cortex-m-rt` and `panic-semihosting`, and
/// its build script runs `kiln_suite_builder::generate`. With a second
/// argument, the entry point hands the suite to that function of this
/// crate instead of [`crate::run`] (`profile_ops` for `bin/opprof.rs`).
#[macro_export]
macro_rules! cortex_m_firmware {
    ($target:literal) => {
        $crate::cortex_m_firmware!($target, run);
    };
    ($target:literal, $runner:ident) => {
        use panic_semihosting as _;

        include!(concat!(env!("OUT_DIR"), "/suite.rs"));

        static ARENA: $crate::static_cell::ConstStaticCell<kiln::Arena<{ model::ARENA_BYTES }>> =
            $crate::static_cell::ConstStaticCell::new(kiln::Arena::new());

        #[cortex_m_rt::entry]
        fn main() -> ! {
            let peripherals = cortex_m::Peripherals::take().unwrap();
            let mut platform = $crate::cortex_m::CortexM::new(peripherals.SYST);
            let arena = ARENA.take();
            let mut suite = match ModelSuite::new(arena) {
                Ok(suite) => suite,
                Err(e) => $crate::refuse(&mut platform, $target, e),
            };
            $crate::$runner(&mut suite, &mut platform, $target)
        }

        #[cortex_m_rt::exception]
        fn SysTick() {
            $crate::cortex_m::on_systick();
        }
    };
}

/// The body of a Cortex-M self-test firmware's `src/bin/selftest.rs`: the
/// fast kernels against the reference ones (`kiln::arch::selftest`).
#[macro_export]
macro_rules! cortex_m_selftest {
    ($target:literal) => {
        use panic_semihosting as _;

        static WORKSPACE: $crate::static_cell::ConstStaticCell<kiln::arch::selftest::Workspace> =
            $crate::static_cell::ConstStaticCell::new(kiln::arch::selftest::Workspace::new());

        #[cortex_m_rt::entry]
        fn main() -> ! {
            let peripherals = cortex_m::Peripherals::take().unwrap();
            let mut platform = $crate::cortex_m::CortexM::new(peripherals.SYST);
            let workspace = WORKSPACE.take();
            $crate::selftest(workspace, &mut platform, $target)
        }

        #[cortex_m_rt::exception]
        fn SysTick() {
            $crate::cortex_m::on_systick();
        }
    };
}
