//! `cargo xtask difftest [--write] [--keep] [--cases N] [--first SEED] [OP ...]`
//!
//! Random differential testing against TensorFlow Lite Micro. For each op
//! kind (default: all of `kiln_differential::OPS`), generates the cases of
//! seeds `SEED .. SEED+N` (default 0 .. 200), asks TFLM's Python
//! interpreter (`scripts/tflm_reference.py`, in `.venv-bench`) for their
//! outputs, runs each on kiln's host runner and prints, per op, how many
//! cases matched byte for byte, how many TFLM refused, how many kiln
//! refused and how many differ, with the seeds of the failures.
//! `--write` stores TFLM's outputs as the committed fixtures
//! (`tests/fixtures/differential/OP.cases`); without it nothing is written,
//! so `--first 1000000 --cases 10000` runs fresh cases on demand. `--keep`
//! leaves each case's model, inputs and TFLM output in a temporary folder
//! (printed) for a closer look.

use std::path::Path;
use std::process::Command;

use kiln_codegen::npy;
use kiln_differential::fixture::{self, Expected};
use kiln_differential::{case, fnv1a, OpKind, OPS};

use crate::{bench_python, fail, repo};

fn flag_value(args: &[String], flag: &str) -> Option<u64> {
    args.iter().position(|a| a == flag).map(|i| {
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| fail(format!("{flag} needs a number")))
    })
}

/// What happened to one case.
enum Outcome {
    Equal,
    TflmRefused,
    KilnRefused(String),
    Differs { elements: usize, first: usize },
}

pub fn main(args: &[String]) {
    let write = args.iter().any(|a| a == "--write");
    let keep = args.iter().any(|a| a == "--keep");
    let cases = flag_value(args, "--cases").unwrap_or(200);
    let first = flag_value(args, "--first").unwrap_or(0);
    let mut names: Vec<&str> = Vec::new();
    let mut skip = false;
    for a in &args[1..] {
        if skip {
            skip = false;
        } else if a == "--cases" || a == "--first" {
            skip = true;
        } else if !a.starts_with("--") {
            names.push(a);
        }
    }
    let ops: Vec<&OpKind> = if names.is_empty() {
        OPS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                kiln_differential::op(n).unwrap_or_else(|| {
                    let all: Vec<_> = OPS.iter().map(|o| o.name).collect();
                    fail(format!("no op kind {n}; there are {}", all.join(", ")))
                })
            })
            .collect()
    };
    let python = bench_python(&["tflite_micro"]);
    let work = std::env::temp_dir().join(format!("kiln-difftest-{}", std::process::id()));

    println!("| op | cases | equal | TFLM refused | kiln refused | differ |\n| --- | --- | --- | --- | --- | --- |");
    let mut failures = Vec::new();
    let mut total_bad = 0;
    for op in ops {
        let dir = work.join(op.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
        let generated: Vec<_> = (first..first + cases)
            .map(|seed| (seed, case(op, seed)))
            .collect();
        for (k, (_, c)) in generated.iter().enumerate() {
            std::fs::write(dir.join(format!("{k}.tflite")), &c.model).unwrap();
            for (i, input) in c.inputs.iter().enumerate() {
                npy::write(&dir.join(format!("{k}_input_{i}.npy")), input)
                    .unwrap_or_else(|e| fail(e));
            }
        }
        tflm_answers(&python, &dir, generated.len());

        let (mut counts, mut expected) = ([0usize; 4], Vec::new());
        for (k, (seed, c)) in generated.iter().enumerate() {
            let outcome = match tflm_output(&dir, k) {
                Err(_) => Outcome::TflmRefused,
                Ok(reference) => {
                    expected.push(Expected {
                        seed: *seed,
                        model_hash: fnv1a(&c.model),
                        output: reference.clone(),
                    });
                    match kiln_differential::run_on_host(c) {
                        Err(e) => Outcome::KilnRefused(e),
                        Ok(out) if out == reference => Outcome::Equal,
                        Ok(out) => Outcome::Differs {
                            elements: out.len().max(reference.len()),
                            first: out
                                .iter()
                                .zip(&reference)
                                .position(|(a, b)| a != b)
                                .unwrap_or(out.len().min(reference.len())),
                        },
                    }
                }
            };
            let slot = match &outcome {
                Outcome::Equal => 0,
                Outcome::TflmRefused => 1,
                Outcome::KilnRefused(_) => 2,
                Outcome::Differs { .. } => 3,
            };
            counts[slot] += 1;
            match outcome {
                Outcome::Equal | Outcome::TflmRefused => {}
                Outcome::KilnRefused(e) => {
                    failures.push(format!("{} seed {seed}: kiln refused: {e}", op.name))
                }
                Outcome::Differs { elements, first } => failures.push(format!(
                    "{} seed {seed}: output differs from TFLM's (first at byte {first} of {elements})",
                    op.name
                )),
            }
        }
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            op.name, cases, counts[0], counts[1], counts[2], counts[3]
        );
        if counts[1] > 0 {
            let why = (0..generated.len())
                .find_map(|k| tflm_output(&dir, k).err())
                .unwrap_or_default();
            eprintln!(
                "  {}: TFLM refused {} cases, e.g.: {why}",
                op.name, counts[1]
            );
        }
        total_bad += counts[2] + counts[3];
        if write {
            let path = kiln_differential::fixture_dir().join(format!("{}.cases", op.name));
            std::fs::create_dir_all(kiln_differential::fixture_dir()).unwrap();
            fixture::write(&path, &expected)
                .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if keep {
        eprintln!(
            "cases kept in {} (case K is seed {first} + K)",
            work.display()
        );
    }
    for f in &failures {
        println!("{f}");
    }
    if write {
        eprintln!("wrote {}", kiln_differential::fixture_dir().display());
    }
    if total_bad > 0 {
        fail(format!(
            "{total_bad} cases where kiln does not give TFLM's bytes"
        ));
    }
}

/// Runs TFLM on every case of `dir`. A case that aborts the interpreter
/// process (a failed check inside TFLM) is recorded as refused, and the
/// script goes on from the next one.
fn tflm_answers(python: &Path, dir: &Path, count: usize) {
    loop {
        let out = Command::new(python)
            .arg(repo().join("scripts/tflm_reference.py"))
            .arg(dir)
            .output()
            .unwrap_or_else(|e| fail(format!("python: {e}")));
        let missing = (0..count).find(|k| {
            !dir.join(format!("{k}_output.npy")).exists()
                && !dir.join(format!("{k}.error")).exists()
        });
        match missing {
            None => return,
            Some(k) => {
                let why = String::from_utf8_lossy(&out.stderr);
                let last = why.lines().last().unwrap_or("no message");
                std::fs::write(
                    dir.join(format!("{k}.error")),
                    format!("TFLM aborted: {last}"),
                )
                .unwrap();
            }
        }
    }
}

/// TFLM's output bytes for case `k`, or why it refused it.
fn tflm_output(dir: &Path, k: usize) -> Result<Vec<u8>, String> {
    let error = dir.join(format!("{k}.error"));
    if error.exists() {
        return Err(std::fs::read_to_string(error).unwrap_or_default());
    }
    npy::read(&dir.join(format!("{k}_output.npy")))
        .map(|a| a.data)
        .map_err(|e| e.to_string())
}
