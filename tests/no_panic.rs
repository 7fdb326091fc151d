//! No panic path in inference: in the Cortex-M4F firmware of the digits
//! example and of vww_96_int8 (generated code), and of the digits example
//! loaded from its blob (`kiln::blob::load`, `Executor::new`, `set_input`
//! and `run`, which links every op's kernel), no code of the `kiln` crate can
//! reach a panic.
//!
//! The check reads the linked image: `arm-none-eabi-objdump` gives every
//! function's branches (`b`, `bl`, `cbz` and the conditional forms), which
//! make the call graph; a function can panic if it reaches one of core's
//! panic entry points (`core::panicking::*`, `slice_index_fail`,
//! `unwrap_failed`, bytemuck's cast failure, ...). Two findings fail the
//! test: a `kiln` function that can panic, and a branch to a function that
//! can panic from `kiln` code inlined into another crate's function (the
//! inline chain of its address, from `arm-none-eabi-addr2line -i`, has a
//! frame in `src/`). The firmware's own harness code may panic (it slices
//! its test vectors); it is not kiln.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_present() -> bool {
    let ok = ["arm-none-eabi-objdump", "arm-none-eabi-addr2line"]
        .iter()
        .all(|t| {
            Command::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        && Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("thumbv7em-none-eabihf"));
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("arm-none-eabi binutils or the thumbv7em target are missing and CI is set (scripts/test.sh installs them)");
        }
        eprintln!("skipped: arm-none-eabi binutils or the thumbv7em target are missing");
    }
    ok
}

/// Builds `targets/cortex-m4` with `envs` and returns a copy of its image.
fn build(name: &str, envs: &[(&str, &Path)], blob: bool) -> PathBuf {
    let folder = repo().join("targets/cortex-m4");
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--locked", "-q"])
        .current_dir(&folder)
        .env("KILN_BLOB", if blob { "1" } else { "0" })
        .env_remove("KILN_MODEL")
        .env_remove("KILN_CASES")
        .env_remove("KILN_MAX_CASES")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building the {name} image failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = repo().join("targets/target/thumbv7em-none-eabihf/release/kiln-cortex-m4");
    let copy =
        std::env::temp_dir().join(format!("kiln-no-panic-{}-{name}.elf", std::process::id()));
    std::fs::copy(&elf, &copy).expect("copy the image");
    copy
}

/// Whether `symbol` is one of core's (or bytemuck's) ways to panic.
fn is_panic_entry(symbol: &str) -> bool {
    [
        "core::panicking::",
        "panic_bounds_check",
        "panic_fmt",
        "rust_begin_unwind",
        "_fail",
        "unwrap_failed",
        "expect_failed",
        "something_went_wrong",
    ]
    .iter()
    .any(|p| symbol.contains(p))
}

/// A function of the kiln crate (or a generic of it instantiated anywhere).
fn is_kiln(symbol: &str) -> bool {
    symbol.starts_with("kiln::") || symbol.starts_with("<kiln::")
}

struct Image {
    /// Every function and the functions it branches to.
    calls: BTreeMap<String, BTreeSet<String>>,
    /// `(address, function, target)` of every branch.
    branches: Vec<(String, String, String)>,
}

fn disassemble(elf: &Path) -> Image {
    let out = Command::new("arm-none-eabi-objdump")
        .args(["-d", "-C", "--no-show-raw-insn"])
        .arg(elf)
        .output()
        .expect("run objdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut image = Image {
        calls: BTreeMap::new(),
        branches: Vec::new(),
    };
    let mut current: Option<String> = None;
    for line in text.lines() {
        // `00001234 <name>:` starts a function.
        if let Some(name) = line
            .split_once(" <")
            .filter(|(addr, rest)| {
                rest.ends_with(">:") && addr.chars().all(|c| c.is_ascii_hexdigit())
            })
            .map(|(_, rest)| rest.trim_end_matches(">:").to_string())
        {
            image.calls.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        // `    1234:	bl	5678 <target>` (any branch form).
        let Some(function) = &current else { continue };
        let mut fields = line.trim_start().splitn(3, char::is_whitespace);
        let (Some(addr), Some(op), Some(args)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(addr) = addr.strip_suffix(':') else {
            continue;
        };
        let is_branch = (op.starts_with('b') && !op.starts_with("bi") && !op.starts_with("bf"))
            || op.starts_with("cb");
        let target = args
            .split_once('<')
            .and_then(|(_, t)| t.split_once('>'))
            .map(|(t, _)| t.split('+').next().unwrap_or(t).to_string());
        if let (true, Some(target)) = (is_branch, target) {
            if &target != function {
                image
                    .calls
                    .get_mut(function)
                    .unwrap()
                    .insert(target.clone());
                image
                    .branches
                    .push((addr.to_string(), function.clone(), target));
            }
        }
    }
    image
}

/// Every function that can reach a panic entry point.
fn can_panic(image: &Image) -> BTreeSet<String> {
    let mut reach: BTreeSet<String> = image
        .calls
        .keys()
        .filter(|f| is_panic_entry(f))
        .cloned()
        .collect();
    loop {
        let more: Vec<String> = image
            .calls
            .iter()
            .filter(|(f, targets)| !reach.contains(*f) && targets.iter().any(|t| reach.contains(t)))
            .map(|(f, _)| f.clone())
            .collect();
        if more.is_empty() {
            return reach;
        }
        reach.extend(more);
    }
}

/// The inline chain (innermost first) of each address: `(function, file)`.
fn inline_chains(elf: &Path, addresses: &[String]) -> Vec<Vec<(String, String)>> {
    if addresses.is_empty() {
        return Vec::new();
    }
    let out = Command::new("arm-none-eabi-addr2line")
        .args(["-i", "-f", "-C", "-a", "-e"])
        .arg(elf)
        .args(addresses)
        .output()
        .expect("run addr2line");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut chains = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("0x") {
            continue;
        }
        let mut chain = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("0x") {
                break;
            }
            let function = lines.next().unwrap().to_string();
            let file = lines.next().unwrap_or("").to_string();
            chain.push((function, file));
        }
        chains.push(chain);
    }
    chains
}

/// The kiln code of `elf` that can panic, one line each.
fn kiln_panic_paths(elf: &Path) -> (Vec<String>, usize, usize) {
    let image = disassemble(elf);
    let reach = can_panic(&image);
    let mut findings: Vec<String> = reach
        .iter()
        .filter(|f| is_kiln(f) && !is_panic_entry(f))
        .map(|f| {
            let via = image.calls[f]
                .iter()
                .find(|t| reach.contains(*t))
                .cloned()
                .unwrap_or_default();
            format!("{f} can panic (calls {via})")
        })
        .collect();
    // Kiln code inlined into the firmware's own functions.
    let sites: Vec<&(String, String, String)> = image
        .branches
        .iter()
        .filter(|(_, function, target)| !is_kiln(function) && reach.contains(target))
        .collect();
    let addresses: Vec<String> = sites.iter().map(|(a, _, _)| format!("0x{a}")).collect();
    let src = repo().join("src");
    let src = src.to_string_lossy();
    for (site, chain) in sites.iter().zip(inline_chains(elf, &addresses)) {
        if let Some((kiln_fn, file)) = chain.iter().find(|(_, file)| file.starts_with(&*src)) {
            findings.push(format!(
                "{kiln_fn} ({file}), inlined into {}, can panic (calls {})",
                site.1, site.2
            ));
        }
    }
    let kiln_functions = image.calls.keys().filter(|f| is_kiln(f)).count();
    let harness_can_panic = reach
        .iter()
        .filter(|f| !is_kiln(f) && !is_panic_entry(f))
        .count();
    (findings, kiln_functions, harness_can_panic)
}

#[test]
fn no_kiln_code_in_cortex_m4_firmware_can_panic() {
    if !tools_present() {
        return;
    }
    let mut images = vec![
        ("digits", build("digits", &[], false)),
        ("digits from its blob", build("digits-blob", &[], true)),
    ];
    match common::shared_dir(&repo()) {
        Some(shared) => {
            let model = shared.join("models/mlperf-tiny/vww_96_int8.tflite");
            let cases = shared.join("golden/vww_96_int8");
            images.push((
                "vww_96_int8",
                build(
                    "vww",
                    &[("KILN_MODEL", &model), ("KILN_CASES", &cases)],
                    false,
                ),
            ));
        }
        None => eprintln!("vww_96_int8 skipped: ../shared is missing"),
    }
    let mut failures = Vec::new();
    for (name, elf) in &images {
        let (findings, kiln_functions, harness_can_panic) = kiln_panic_paths(elf);
        // The analysis sees kiln's functions, and does find panics where
        // there are some: the harness slices its test vectors.
        assert!(
            kiln_functions >= 5,
            "{name}: only {kiln_functions} kiln functions found"
        );
        assert!(
            harness_can_panic > 0,
            "{name}: no function can panic at all; the analysis is blind"
        );
        println!(
            "{name}: {kiln_functions} kiln functions, {} panic paths in kiln code",
            findings.len()
        );
        failures.extend(findings.into_iter().map(|f| format!("{name}: {f}")));
        let _ = std::fs::remove_file(elf);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
