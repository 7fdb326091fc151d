//! RISC-V boards under QEMU: instructions from the `minstret` counter (with
//! `-icount` QEMU derives it from its virtual clock, so it is calibrated at
//! start-up on a loop of known length like the Cortex-M SysTick), stack
//! painting between the end of the statics and the stack pointer, and
//! semihosting for output and exit.

use riscv_semihosting::{debug, hio};

extern "C" {
    // From riscv-rt's link.x: the end of the statics and the stack top.
    static __sheap: u32;
    static _stack_start: u32;
}

pub struct Riscv {
    calib_instructions: u64,
    calib_counts: u64,
    stdout: Option<hio::HostStream>,
}

impl Riscv {
    pub fn new() -> Self {
        let mut this = Riscv {
            calib_instructions: 1,
            calib_counts: 1,
            stdout: hio::hstdout().ok(),
        };
        const ITERATIONS: u32 = 1 << 20;
        let start = riscv::register::minstret::read64();
        // SAFETY: a register-only countdown loop; touches no memory.
        unsafe {
            core::arch::asm!(
                "2:",
                "addi {n}, {n}, -1",
                "bnez {n}, 2b",
                n = inout(reg) ITERATIONS => _,
                options(nomem, nostack),
            );
        }
        let counts = riscv::register::minstret::read64() - start;
        this.calib_instructions = 2 * u64::from(ITERATIONS);
        this.calib_counts = counts.max(1);
        this
    }
}

impl Default for Riscv {
    fn default() -> Self {
        Self::new()
    }
}

fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register only.
    unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

impl crate::Platform for Riscv {
    fn stack_bounds(&self) -> (usize, usize) {
        // Only the addresses of the linker symbols are taken, never their values.
        (
            core::ptr::addr_of!(__sheap) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    fn stack_pointer(&self) -> usize {
        stack_pointer()
    }

    fn instructions(&mut self) -> u64 {
        riscv::register::minstret::read64() * self.calib_instructions / self.calib_counts
    }

    fn calibration(&self) -> (u64, u64) {
        (self.calib_counts, self.calib_instructions)
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
            riscv::asm::wfi();
        }
    }
}

/// The body of every RISC-V test firmware's `main.rs`: the generated suite,
/// the arena and the entry point. The firmware crate depends on `riscv-rt`
/// and `panic-halt`, and its build script runs
/// `kiln_suite_builder::generate`. With a second argument, the entry point
/// hands the suite to that function of this crate instead of
/// [`crate::run`] (`profile_ops` for `bin/opprof.rs`).
#[macro_export]
macro_rules! riscv_firmware {
    ($target:literal) => {
        $crate::riscv_firmware!($target, run);
    };
    ($target:literal, $runner:ident) => {
        use panic_halt as _;

        include!(concat!(env!("OUT_DIR"), "/suite.rs"));

        static ARENA: $crate::static_cell::ConstStaticCell<kiln::Arena<{ model::ARENA_BYTES }>> =
            $crate::static_cell::ConstStaticCell::new(kiln::Arena::new());

        #[riscv_rt::entry]
        fn main() -> ! {
            let mut platform = $crate::riscv::Riscv::new();
            let arena = ARENA.take();
            let mut suite = match ModelSuite::new(arena) {
                Ok(suite) => suite,
                Err(e) => $crate::refuse(&mut platform, $target, e),
            };
            $crate::$runner(&mut suite, &mut platform, $target)
        }
    };
}
