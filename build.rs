//! Picks the runtime's fast paths from the target: `kiln_dsp` on Cortex-M
//! cores with the DSP extension (SMLAD, SXTB16), which stable Rust cannot
//! detect with `cfg(target_feature)` on these targets. Every Armv7E-M core
//! (Cortex-M4, M7) has it; on Armv8-M Mainline (Cortex-M33, M35P, M55) it
//! is an option nearly every vendor takes, so it is assumed there too: set
//! `KILN_NO_DSP=1` when building for a Cortex-M33 without it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kiln_dsp)");
    println!("cargo::rerun-if-env-changed=TARGET");
    println!("cargo::rerun-if-env-changed=KILN_NO_DSP");
    let target = std::env::var("TARGET").unwrap_or_default();
    let opted_out = std::env::var_os("KILN_NO_DSP").is_some_and(|v| v != "0" && !v.is_empty());
    let dsp = target.starts_with("thumbv7em-") || target.starts_with("thumbv8m.main-");
    if dsp && !opted_out {
        println!("cargo::rustc-cfg=kiln_dsp");
    }
}
