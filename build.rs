//! Picks the runtime's fast paths from the target: `kiln_dsp` on Cortex-M
//! cores with the DSP extension (SMLAD, SXTB16), which stable Rust cannot
//! detect with `cfg(target_feature)` on these targets.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kiln_dsp)");
    println!("cargo::rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em-") {
        println!("cargo::rustc-cfg=kiln_dsp");
    }
}
