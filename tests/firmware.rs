//! Generated models on emulated microcontrollers: for every target in
//! `targets/` and every model that fits it, build the firmware with the model
//! and its reference samples embedded, run it in QEMU, and require that the
//! device reports every output equal to TensorFlow Lite Micro's (and exits 0):
//! byte for byte for int8 models, within 1e-4 relative for float32 ones.
//!
//! Needs QEMU (`qemu-system-arm`, `qemu-system-riscv32`) and the Rust
//! targets; `scripts/test.sh` installs both. Without them the test fails when
//! `CI` is set and is skipped otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `(target folder, QEMU binary, Rust target)`.
const TARGETS: &[(&str, &str, &str)] = &[
    ("cortex-m4", "qemu-system-arm", "thumbv7em-none-eabihf"),
    ("cortex-m33", "qemu-system-arm", "thumbv8m.main-none-eabihf"),
    ("cortex-m0", "qemu-system-arm", "thumbv6m-none-eabi"),
    (
        "riscv32",
        "qemu-system-riscv32",
        "riscv32imac-unknown-none-elf",
    ),
];

/// Models whose arena, weights and samples fit the Cortex-M0's 16 KiB of RAM
/// and 256 KiB of flash (and every op-coverage fixture, which all do).
const FITS_CORTEX_M0: &[&str] = &[
    "hello_world_int8",
    "micro_speech_quantized",
    "digits_int8",
    "keyword_scrambled",
    "trained_lstm_int8",
];

fn tools_present() -> bool {
    let have = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let targets_ok = installed
        .map(|o| {
            let list = String::from_utf8_lossy(&o.stdout).into_owned();
            TARGETS
                .iter()
                .all(|(_, _, t)| list.lines().any(|l| l == *t))
        })
        .unwrap_or(false);
    let ok = have("qemu-system-arm", "--version")
        && have("qemu-system-riscv32", "--version")
        && targets_ok;
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("QEMU or the Rust targets are missing and CI is set (scripts/test.sh installs them)");
        }
        eprintln!("skipped: QEMU or the Rust targets are missing (scripts/test.sh installs them)");
    }
    ok
}

/// Builds and runs one firmware; returns its `RESULT` line or why it failed.
fn run_on_device(
    target: &str,
    model: &Path,
    cases: &[PathBuf],
    from_blob: bool,
) -> Result<String, String> {
    // Every sample the folders hold must run: the image reports how many.
    let embedded: usize = cases
        .iter()
        .filter(|d| d.is_dir())
        .map(|d| kiln_codegen::npy::read_outputs(d).map_or(0, |o| o.len()))
        .sum();
    assert!(
        embedded > 0,
        "no samples for {} in {cases:?}",
        model.display()
    );
    let cases = std::env::join_paths(cases).unwrap();
    let out = Command::new("timeout")
        .args(["900", "cargo", "run", "--release", "--locked", "-q"])
        .current_dir(repo().join("targets").join(target))
        .env("KILN_MODEL", model)
        .env("KILN_CASES", cases)
        .env("KILN_BLOB", if from_blob { "1" } else { "0" })
        // A cap left in the environment would shrink the run unnoticed.
        .env_remove("KILN_MAX_CASES")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .map(str::to_owned);
    let reported = result.as_deref().and_then(|r| {
        r.split_whitespace()
            .find_map(|kv| kv.strip_prefix("cases="))
            .and_then(|v| v.parse::<usize>().ok())
    });
    match (out.status.success(), result) {
        (true, Some(r)) if r.starts_with("RESULT PASS") && reported == Some(embedded) => Ok(r),
        (_, r) => Err(format!(
            "{} on {target}: exit {:?}, {} ({embedded} samples embedded)\n{stdout}\n{}",
            model.display(),
            out.status.code(),
            r.unwrap_or_else(|| "no RESULT line".into()),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Every model to try: the project's own, then the shared int8 and float
/// models.
fn models(shared: Option<&Path>) -> Vec<(String, PathBuf, Vec<PathBuf>)> {
    let zoo = repo().join("tests/fixtures/op_zoo");
    let mut list = vec![(
        "digits_int8".to_string(),
        repo().join("examples/digits/digits_int8.tflite"),
        vec![repo().join("examples/digits/samples")],
    )];
    list.extend(common::OP_ZOO.iter().map(|&z| {
        (
            z.to_string(),
            zoo.join(format!("{z}.tflite")),
            vec![zoo.join(z)],
        )
    }));
    if let Some(shared) = shared {
        for &(name, file) in common::INT8_MODELS.iter().chain(common::FLOAT_MODELS) {
            let golden = shared.join("golden").join(name);
            let real = golden.join("real");
            let mut cases = vec![golden];
            if real.is_dir() {
                cases.push(real);
            }
            list.push((name.to_string(), shared.join("models").join(file), cases));
        }
    }
    list
}

/// Float models run on the Cortex-M4F (hardware single precision), within
/// 1e-4 of TFLM's float reference; the other cores run the int8 models.
fn runs_on(target: &str, name: &str) -> bool {
    let float = common::FLOAT_MODELS.iter().any(|(n, _)| *n == name);
    let fits_m0 = FITS_CORTEX_M0.contains(&name) || common::OP_ZOO.contains(&name);
    match target {
        "cortex-m0" => fits_m0 && !float,
        "cortex-m4" => true,
        _ => !float,
    }
}

/// Arena + stack measured on the device is what `kiln inspect` predicts
/// for its core (`ram_bytes_estimate_by_core`): within 10 %, as the memory
/// issue asks, on every model; an op-coverage fixture may be over-predicted
/// by up to 25 % or 128 bytes.
fn ram_matches_the_prediction(target: &str, model: &Path, result: &str) -> Result<(), String> {
    let field = |key: &str| -> u64 {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let measured = field("arena_bytes") + field("inference_stack_bytes");
    let graph = kiln_codegen::import::import(model).map_err(|e| e.to_string())?;
    let compiled = kiln_codegen::lower::compile(graph.clone()).map_err(|e| e.to_string())?;
    let report = kiln_codegen::report::inspect_json(&graph, Some(&compiled), None);
    let predicted = report["ram_bytes_estimate_by_core"][target]
        .as_u64()
        .ok_or_else(|| format!("no RAM estimate for {target}"))?;
    let error = (measured as f64 - predicted as f64).abs() / measured as f64;
    println!(
        "{} on {target}: RAM measured {measured} bytes, predicted {predicted} ({:.1}%)",
        model.display(),
        error * 100.0
    );
    // An op-coverage fixture is one or a few ops, each specialized by
    // link-time optimization for its one call site, and its RAM is mostly
    // stack: its frames come in under the per-op figure, which holds the
    // frame of the same op with several callers. Specialization saves
    // bytes, not a fraction: the int8 MEAN's frame is 172 bytes on the
    // RV32 with several callers and 68 with one (the reductions fixture,
    // a 304-byte arena). So a fixture may be over-predicted by 25 % or by
    // 128 bytes, whichever is more. Over-predicting is safe;
    // under-predicting would leave a user's stack too small.
    let fixture = model
        .file_stem()
        .is_some_and(|stem| common::OP_ZOO.iter().any(|n| stem == *n));
    let limit = if fixture && predicted >= measured {
        f64::max(0.25, 128.0 / measured as f64)
    } else {
        0.10
    };
    if error > limit {
        return Err(format!(
            "{} on {target}: arena + stack {measured} bytes on the device, kiln inspect predicts {predicted}",
            model.display()
        ));
    }
    Ok(())
}

fn check_target(target: &str) {
    check(target, false)
}

fn check(target: &str, from_blob: bool) {
    if !tools_present() {
        return;
    }
    let shared = common::shared_dir(&repo());
    let mut failures = Vec::new();
    let mut passed = 0;
    for (name, model, cases) in models(shared.as_deref()) {
        if !runs_on(target, &name) {
            continue;
        }
        match run_on_device(target, &model, &cases, from_blob) {
            Ok(result) => {
                println!("{result}");
                passed += 1;
                let float = common::FLOAT_MODELS.iter().any(|(n, _)| *n == name);
                if !from_blob && !float {
                    if let Err(e) = ram_matches_the_prediction(target, &model, &result) {
                        failures.push(e);
                    }
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} model(s) failed on {target}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{passed} models match TFLM on {target}");
}

#[test]
fn cortex_m4_runs_every_model_bit_exact() {
    check_target("cortex-m4");
}

#[test]
fn cortex_m33_runs_every_model_bit_exact() {
    check_target("cortex-m33");
}

#[test]
fn cortex_m0_runs_the_models_that_fit_bit_exact() {
    check_target("cortex-m0");
}

#[test]
fn riscv32_runs_every_model_bit_exact() {
    check_target("riscv32");
}

/// The same models loaded at run time from postcard blobs
/// (`kiln::blob::load` + `kiln::Executor`) give the same bytes as the
/// generated code: TFLM's.
#[test]
fn cortex_m4_runs_every_model_from_its_blob_bit_exact() {
    check("cortex-m4", true);
}

/// The first committed random differential cases (tests/fixtures/
/// differential) of every op kind, each built into the Cortex-M4F image
/// with its random input and TFLM's output, bit-exact: the DSP kernels on
/// random shapes, strides, dilations and quantizations.
#[test]
fn cortex_m4_runs_random_differential_cases_bit_exact() {
    const PER_OP: usize = 4;
    if !tools_present() {
        return;
    }
    let work = std::env::temp_dir().join(format!("kiln-differential-m4-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut passed = 0;
    for op in kiln_differential::OPS {
        let name = op.name;
        let path = kiln_differential::fixture_dir().join(format!("{name}.cases"));
        for expected in kiln_differential::fixture::read(&path)
            .unwrap()
            .iter()
            .take(PER_OP)
        {
            let c = kiln_differential::case(op, expected.seed);
            let dir = work.join(format!("{name}_{}", expected.seed));
            std::fs::create_dir_all(&dir).unwrap();
            let model = dir.join("model.tflite");
            std::fs::write(&model, &c.model).unwrap();
            for (i, input) in c.inputs.iter().enumerate() {
                let file = if c.inputs.len() == 1 {
                    "input_0.npy".to_string()
                } else {
                    format!("input_0_{i}.npy")
                };
                kiln_codegen::npy::write(&dir.join(file), input).unwrap();
            }
            let dtype = if name == "DEQUANTIZE" {
                kiln_codegen::npy::NpyType::F32
            } else {
                kiln_codegen::npy::NpyType::I8
            };
            let output = kiln_codegen::npy::NpyArray {
                dtype,
                shape: vec![expected.output.len() / dtype.size()],
                data: expected.output.clone(),
            };
            kiln_codegen::npy::write(&dir.join("output_0.npy"), &output).unwrap();
            match run_on_device("cortex-m4", &model, &[dir], false) {
                Ok(_) => passed += 1,
                Err(e) => failures.push(format!("{name} seed {}: {e}", expected.seed)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(passed, PER_OP * kiln_differential::OPS.len());
    println!("{passed} random differential cases bit-exact on cortex-m4");
}

/// The fast kernels against the reference ones on seeded random cases
/// (`kiln::arch::selftest`), built for the core and run in QEMU: the DSP
/// micro-kernels on the M4 and the M33, the portable ones on RV32.
fn selftest_on(target: &str) {
    if !tools_present() {
        return;
    }
    let out = Command::new("timeout")
        .args([
            "900",
            "cargo",
            "run",
            "--release",
            "--locked",
            "-q",
            "--bin",
            "selftest",
        ])
        .current_dir(repo().join("targets").join(target))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout.lines().find(|l| l.starts_with("SELFTEST "));
    assert!(
        out.status.success() && result.is_some_and(|r| r.starts_with("SELFTEST PASS")),
        "{target}: {result:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", result.unwrap_or_default());
}

#[test]
fn cortex_m4_fast_kernels_match_the_reference_kernels() {
    selftest_on("cortex-m4");
}

#[test]
fn cortex_m33_fast_kernels_match_the_reference_kernels() {
    selftest_on("cortex-m33");
}

#[test]
fn riscv32_fast_kernels_match_the_reference_kernels() {
    selftest_on("riscv32");
}
