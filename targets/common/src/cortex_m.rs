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

    fn stack_bounds() -> (usize, usize) {
        // Only the addresses of the linker symbols are taken, never their values.
        (
            core::ptr::addr_of!(__sheap) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }
}

impl crate::Platform for CortexM {
    fn instructions(&mut self) -> u64 {
        self.ticks() * self.calib_instructions / self.calib_ticks
    }

    #[inline(always)]
    fn paint_stack(&mut self) {
        let (bottom, _) = Self::stack_bounds();
        let sp = cortex_m::register::msp::read() as usize;
        // SAFETY: from the end of the statics to 64 bytes below the current
        // stack pointer is unused stack (nothing else lives between them; the
        // margin holds the painting loop's own frame and exception entry).
        unsafe { crate::stack::paint((bottom + 3) & !3, sp - 64) };
    }

    fn stack_used(&mut self) -> usize {
        let (bottom, top) = Self::stack_bounds();
        // SAFETY: the range is the RAM between the statics and the stack top.
        unsafe { crate::stack::used((bottom + 3) & !3, top) }
    }

    fn stack_pointer(&self) -> usize {
        cortex_m::register::msp::read() as usize
    }

    fn stack_top(&self) -> usize {
        Self::stack_bounds().1
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
