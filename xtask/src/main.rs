//! `cargo xtask bench [--shared DIR] [--write]`
//! `cargo xtask bench-host [--shared DIR] [--samples N] [--write]`
//! `cargo xtask bench-cores [--shared DIR] [--baseline REV] [--write]`
//! `cargo xtask difftest [--write] [--keep] [--cases N] [--first SEED] [OP ...]`
//! (random differential testing against TFLite Micro: see `difftest.rs`)
//!
//! Measures kiln on the emulated Cortex-M4F (QEMU `mps2-an386`, `-icount
//! shift=6`, SysTick): for every int8 model of `../shared` and the project's
//! digits example, instructions per inference, MACs per instruction, arena,
//! stack and flash; in the same run, the peer engine microflow 0.1.3 on its
//! own sine and speech models (speech is byte-identical to
//! micro_speech_quantized, sine is its hello_world); and beside them TFLite
//! Micro's figures from `../shared/README.md` ("Figures to beat", measured
//! with the same QEMU method). Prints the tables as Markdown; `--write` also
//! writes them to `docs/benchmarks.md`.
//!
//! Instructions come from the `release` profile (opt-level 3), flash from the
//! `flash` profile (opt-level "s"), as TFLM's instruction figures are -O2 and
//! its flash figures -Os. Flash is the whole image (text + data) minus the
//! model's constants and the embedded test vectors, as TFLM's is.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod difftest;

#[path = "../../tests/common/models.rs"]
mod models;
use models::INT8_MODELS as MODELS;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

/// `key=value` pairs of the line starting with `prefix` in `text`.
fn fields(text: &str, prefix: &str) -> BTreeMap<String, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| fail(format!("no '{prefix}' line in:\n{text}")));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(f: &BTreeMap<String, String>, key: &str) -> u64 {
    f.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(format!("missing {key} in {f:?}")))
}

/// Runs `cargo run` in a firmware folder with `envs`; returns stdout.
fn cargo_run(folder: &str, profile: &str, envs: &[(&str, &str)]) -> String {
    cargo_run_in(&repo(), folder, profile, envs)
}

/// `cargo_run` in the checkout at `root` (this one, or a baseline's).
fn cargo_run_in(root: &Path, folder: &str, profile: &str, envs: &[(&str, &str)]) -> String {
    try_cargo_run_in(root, folder, profile, envs).unwrap_or_else(|e| fail(e))
}

/// [`cargo_run_in`], its failure returned (a baseline revision that cannot
/// build a model it predates).
fn try_cargo_run_in(
    root: &Path,
    folder: &str,
    profile: &str,
    envs: &[(&str, &str)],
) -> Result<String, String> {
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "--locked", "-q", "--profile", profile])
        .current_dir(root.join("targets").join(folder))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{folder} {envs:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// text + data of a firmware image, in bytes.
fn flash_of(folder_binary: &str, profile: &str) -> u64 {
    let elf = repo()
        .join("targets/target/thumbv7em-none-eabihf")
        .join(profile)
        .join(folder_binary);
    let out = Command::new("arm-none-eabi-size")
        .arg(&elf)
        .output()
        .unwrap_or_else(|e| fail(format!("arm-none-eabi-size: {e}")));
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    if row.len() != 2 {
        fail(format!("cannot read the size of {}: {text}", elf.display()));
    }
    row[0] + row[1]
}

/// TFLM's row of "Figures to beat": (reference instructions, CMSIS-NN
/// instructions, arena, reference flash, CMSIS-NN flash).
fn tflm_figures(readme: &str, model: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let row = readme
        .lines()
        .find(|l| l.starts_with(&format!("| {model} |")) && l.matches('|').count() >= 8)?;
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let n = |s: &str| s.replace(',', "").trim().parse::<u64>().ok();
    let (fr, fc) = cells.get(7)?.split_once('/')?;
    Some((n(cells[3])?, n(cells[4])?, n(cells[6])?, n(fr)?, n(fc)?))
}

struct Kiln {
    name: String,
    macs: u64,
    instructions: u64,
    arena: u64,
    stack: u64,
    flash: u64,
    flash_beyond_weights: u64,
}

fn measure_kiln(name: &str, model: &Path, cases: &Path) -> Kiln {
    let envs = [
        ("KILN_MODEL", model.to_str().unwrap()),
        ("KILN_CASES", cases.to_str().unwrap()),
        ("KILN_MAX_CASES", "1"),
    ];
    let text = cargo_run("cortex-m4", "release", &envs);
    if !text.contains("RESULT PASS")
        || !cargo_run(
            "cortex-m4",
            "flash",
            &[&envs[..], &[("KILN_FLASH_IMAGE", "1")]].concat(),
        )
        .contains("RESULT PASS")
    {
        fail(format!("{name} did not pass on the device:\n{text}"));
    }
    let run = fields(&text, "RESULT ");
    let flash = flash_of("kiln-cortex-m4", "flash");
    let constants = num(&run, "weights_bytes") + num(&run, "sample_bytes");
    Kiln {
        name: name.to_string(),
        macs: num(&run, "macs"),
        instructions: num(&run, "instructions"),
        arena: num(&run, "arena_bytes"),
        stack: num(&run, "inference_stack_bytes"),
        flash,
        flash_beyond_weights: flash - constants,
    }
}

fn ratio(a: u64, b: u64) -> String {
    format!("{:.2}", a as f64 / b as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args),
        Some("bench-host") => bench_host(&args),
        Some("bench-cores") => bench_cores(&args),
        Some("difftest") => difftest::main(&args),
        _ => {
            eprintln!("usage: cargo xtask bench [--shared DIR] [--write]\n       cargo xtask bench-host [--shared DIR] [--samples N] [--write]\n       cargo xtask bench-cores [--shared DIR] [--baseline REV] [--write]\n       cargo xtask difftest [--write] [--keep] [--cases N] [--first SEED] [OP ...]");
            std::process::exit(2);
        }
    }
}

fn shared_arg(args: &[String]) -> PathBuf {
    args.iter()
        .position(|a| a == "--shared")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("KILN_SHARED").map(PathBuf::from))
        .unwrap_or_else(|| repo().join("../shared"))
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// in docs/benchmarks.md.
fn write_section(name: &str, md: &str) {
    let path = repo().join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let new = match (doc.find(&start), doc.find(&end)) {
        (Some(s), Some(e)) => format!("{}{start}\n{md}{}", &doc[..s], &doc[e..]),
        _ => fail(format!(
            "{} has no {start} ... {end} markers",
            path.display()
        )),
    };
    std::fs::write(&path, new).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    eprintln!("wrote {}", path.display());
}

/// The Python of `.venv-bench`, created or completed (tflite-micro,
/// ai-edge-litert, numpy from PyPI) when one of `modules` does not import.
fn bench_python(modules: &[&str]) -> PathBuf {
    let venv = repo().join(".venv-bench");
    let python = venv.join("bin/python");
    let have = |module: &str| {
        Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !python.exists() || !modules.iter().all(|m| have(m)) {
        let ok = (python.exists()
            || Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .map(|s| s.success())
                .unwrap_or(false))
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "tflite-micro", "ai-edge-litert", "numpy"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        if !ok {
            fail("cannot create .venv-bench with tflite-micro and ai-edge-litert");
        }
    }
    python
}

/// Host CPU throughput on vww_96_int8: `kiln validate` (every core, and one
/// thread) against TFLite Micro's Python interpreter on the same inputs.
fn bench_host(args: &[String]) {
    let write = args.iter().any(|a| a == "--write");
    let samples: usize = args
        .iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let model = shared_arg(args).join("models/mlperf-tiny/vww_96_int8.tflite");
    let dir = repo().join("target/bench-host");
    std::fs::create_dir_all(&dir).unwrap();
    // Seeded uniform int8 inputs, as an .npy of [N, 96, 96, 3].
    let elements = 96 * 96 * 3;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..samples * elements)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let header =
        format!("{{'descr': '|i1', 'fortran_order': False, 'shape': ({samples}, 96, 96, 3), }}");
    let mut header = header.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header);
    npy.extend(&data);
    let data_path = dir.join("vww_inputs.npy");
    std::fs::write(&data_path, npy).unwrap();

    let kiln_bin = repo().join("target/release/kiln");
    let status = Command::new("cargo")
        .args(["build", "--release", "--locked", "-q", "-p", "kiln-codegen"])
        .current_dir(repo())
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        fail("cannot build the kiln CLI");
    }
    let validate = |threads: usize| -> f64 {
        let out = Command::new(&kiln_bin)
            .args([
                "validate",
                model.to_str().unwrap(),
                "--data",
                data_path.to_str().unwrap(),
                "--json",
                "--threads",
                &threads.to_string(),
            ])
            .output()
            .unwrap_or_else(|e| fail(format!("kiln: {e}")));
        if !out.status.success() {
            fail(String::from_utf8_lossy(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["inferences_per_second"].as_f64().unwrap()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kiln_all = validate(0);
    let kiln_one = validate(1);

    // TFLM's Python interpreter and LiteRT, in a venv of their own.
    let python = bench_python(&["tflite_micro", "ai_edge_litert"]);
    let run_python = |script: &str, extra: &[String]| -> f64 {
        let out = Command::new(&python)
            .arg(repo().join("scripts").join(script))
            .arg(&model)
            .arg(&data_path)
            .args(extra)
            .output()
            .unwrap_or_else(|e| fail(format!("python: {e}")));
        if !out.status.success() {
            fail(String::from_utf8_lossy(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["inferences_per_second"].as_f64().unwrap()
    };
    let tflm = run_python("tflm_throughput.py", &[]);
    let litert_one = run_python("litert_throughput.py", &["1".to_string()]);
    let litert_all = run_python("litert_throughput.py", &[cores.to_string()]);

    let mut md = String::new();
    let _ = writeln!(md, "| engine | threads | inferences / s | kiln / this |");
    let _ = writeln!(md, "| --- | ---: | ---: | ---: |");
    let _ = writeln!(
        md,
        "| kiln `validate --device cpu` | {cores} (all cores) | {kiln_all:.1} | 1.00 |"
    );
    let _ = writeln!(
        md,
        "| kiln `validate --device cpu --threads 1` | 1 | {kiln_one:.1} | {:.2} |",
        kiln_all / kiln_one
    );
    let _ = writeln!(md, "| TFLite Micro Python interpreter (tflite-micro, reference kernels) | 1 | {tflm:.1} | {:.2} |", kiln_all / tflm);
    let _ = writeln!(
        md,
        "| LiteRT (ai-edge-litert, XNNPACK; not bit-exact with TFLM) | 1 | {litert_one:.1} | {:.2} |",
        kiln_all / litert_one
    );
    let _ = writeln!(
        md,
        "| LiteRT (ai-edge-litert, XNNPACK; not bit-exact with TFLM) | {cores} (all cores) | {litert_all:.1} | {:.2} |",
        kiln_all / litert_all
    );
    let _ = writeln!(
        md,
        "\nvww_96_int8, {samples} seeded random int8 inputs. Per thread, kiln / TFLM: {:.2}; kiln / LiteRT: {:.2}. All cores, kiln / LiteRT: {:.2}.",
        kiln_one / tflm,
        kiln_one / litert_one,
        kiln_all / litert_all
    );
    print!("{md}");
    if write {
        write_section("host", &md);
    }
}

fn bench(args: &[String]) {
    let write = args.iter().any(|a| a == "--write");
    let shared = shared_arg(args);
    let readme = std::fs::read_to_string(shared.join("README.md"))
        .unwrap_or_else(|e| fail(format!("{}: {e}", shared.display())));

    let mut results = Vec::new();
    for &(name, file) in MODELS {
        eprintln!("measuring {name} ...");
        results.push(measure_kiln(
            name,
            &shared.join("models").join(file),
            &shared.join("golden").join(name),
        ));
    }
    let digits = repo().join("examples/digits");
    results.push(measure_kiln(
        "digits_int8 (example)",
        &digits.join("digits_int8.tflite"),
        &digits.join("samples"),
    ));

    eprintln!("measuring microflow ...");
    let mut microflow = BTreeMap::new();
    for (model, twin) in [
        ("sine", "hello_world_int8"),
        ("speech", "micro_speech_quantized"),
    ] {
        let run = fields(
            &cargo_run("microflow-m4", "release", &[("MICROFLOW_MODEL", model)]),
            "MICROFLOW ",
        );
        cargo_run("microflow-m4", "flash", &[("MICROFLOW_MODEL", model)]);
        let flash = flash_of("kiln-microflow-m4", "flash");
        microflow.insert(
            twin,
            (
                model,
                num(&run, "instructions"),
                num(&run, "inference_stack_bytes"),
                flash,
            ),
        );
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "### kiln on Cortex-M4F (QEMU mps2-an386, -icount shift=6)\n"
    );
    let _ = writeln!(md, "| model | MACs | instructions / inference | MACs / instruction | arena (bytes) | stack (bytes) | flash (bytes) | flash beyond weights (bytes) |");
    let _ = writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for k in &results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.3} | {} | {} | {} | {} |",
            k.name,
            k.macs,
            k.instructions,
            k.macs as f64 / k.instructions as f64,
            k.arena,
            k.stack,
            k.flash,
            k.flash_beyond_weights
        );
    }
    let _ = writeln!(md, "\n### Against TensorFlow Lite Micro (figures from `../shared/README.md`, same QEMU method)\n");
    let _ = writeln!(md, "| model | kiln instructions | TFLM reference | kiln / reference | TFLM + CMSIS-NN | kiln / CMSIS-NN | kiln arena + stack | TFLM arena | kiln / TFLM | kiln flash beyond weights | TFLM flash (reference) | kiln / TFLM |");
    let _ = writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for k in &results {
        if let Some((reference, cmsis, arena, flash_ref, _)) = tflm_figures(&readme, &k.name) {
            let ram = k.arena + k.stack;
            let _ = writeln!(
                md,
                "| {} | {} | {reference} | {} | {cmsis} | {} | {ram} | {arena} | {} | {} | {flash_ref} | {} |",
                k.name,
                k.instructions,
                ratio(k.instructions, reference),
                ratio(k.instructions, cmsis),
                ratio(ram, arena),
                k.flash_beyond_weights,
                ratio(k.flash_beyond_weights, flash_ref)
            );
        }
    }
    let _ = writeln!(
        md,
        "\n### Against microflow 0.1.3 (same run, same counter)\n"
    );
    let _ = writeln!(md, "| kiln model | microflow model | kiln instructions | microflow instructions | kiln / microflow | kiln stack | microflow stack | kiln flash | microflow flash |");
    let _ = writeln!(
        md,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for k in &results {
        if let Some(&(model, instructions, stack, flash)) = microflow.get(k.name.as_str()) {
            let _ = writeln!(
                md,
                "| {} | {model} | {} | {instructions} | {} | {} | {stack} | {} | {flash} |",
                k.name,
                k.instructions,
                ratio(k.instructions, instructions),
                k.stack,
                k.flash
            );
        }
    }
    print!("{md}");
    if write {
        write_section("bench", &md);
    }
}

/// The models that fit each core without a DSP extension (as
/// `tests/firmware.rs` runs them).
const FITS_CORTEX_M0: &[&str] = &["hello_world_int8", "micro_speech_quantized"];

/// Instructions per inference on the emulated cores without a DSP
/// extension (Cortex-M0, QEMU `microbit`; RV32IMAC, QEMU
/// `virt`), for every model that fits, in this checkout and, with
/// `--baseline REV`, in a worktree of revision REV built and run the same
/// way (`target/bench-baseline/REV`), side by side.
fn bench_cores(args: &[String]) {
    let write = args.iter().any(|a| a == "--write");
    let shared = shared_arg(args);
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let baseline_root = baseline.as_ref().map(|rev| {
        let dir = repo().join("target/bench-baseline").join(rev);
        if !dir.join("targets").exists() {
            let ok = Command::new("git")
                .args(["worktree", "add", "--detach"])
                .arg(&dir)
                .arg(rev)
                .current_dir(repo())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                fail(format!("cannot check out {rev} into {}", dir.display()));
            }
        }
        dir
    });
    let digits = repo().join("examples/digits");
    let mut models: Vec<(String, PathBuf, PathBuf)> = MODELS
        .iter()
        .map(|&(name, file)| {
            (
                name.to_string(),
                shared.join("models").join(file),
                shared.join("golden").join(name),
            )
        })
        .collect();
    models.push((
        "digits_int8".to_string(),
        digits.join("digits_int8.tflite"),
        digits.join("samples"),
    ));
    let instructions = |root: &Path, core: &str, model: &Path, cases: &Path| {
        let envs = [
            ("KILN_MODEL", model.to_str().unwrap()),
            ("KILN_CASES", cases.to_str().unwrap()),
            ("KILN_MAX_CASES", "1"),
        ];
        let text = try_cargo_run_in(root, core, "release", &envs)?;
        if !text.contains("RESULT PASS") {
            return Err(format!(
                "{} did not pass on {core}:\n{text}",
                model.display()
            ));
        }
        Ok(num(&fields(&text, "RESULT "), "instructions"))
    };
    let mut md = String::new();
    let rev = baseline.clone().unwrap_or_default();
    let _ = writeln!(
        md,
        "| model | core | instructions at {rev} | instructions now | now / {rev} |"
    );
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: |");
    for core in ["cortex-m0", "riscv32"] {
        for (name, model, cases) in &models {
            let fits = core != "cortex-m0"
                || FITS_CORTEX_M0.contains(&name.as_str())
                || name == "digits_int8";
            if !fits {
                continue;
            }
            eprintln!("measuring {name} on {core} ...");
            let now = instructions(&repo(), core, model, cases).unwrap_or_else(|e| fail(e));
            // A model the baseline predates (an op it lacks) gets no
            // baseline figure.
            let before = baseline_root.as_ref().and_then(|root| {
                instructions(root, core, model, cases)
                    .map_err(|_| eprintln!("  {name}: the baseline cannot run it"))
                    .ok()
            });
            let (before_cell, ratio_cell) = match before {
                Some(b) => (b.to_string(), ratio(now, b)),
                None => ("-".to_string(), "-".to_string()),
            };
            let _ = writeln!(
                md,
                "| {name} | {core} | {before_cell} | {now} | {ratio_cell} |"
            );
        }
    }
    print!("{md}");
    if write {
        write_section("cores", &md);
    }
}
