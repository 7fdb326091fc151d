//! Every int8 model in `../shared` runs bit-exact with TensorFlow Lite Micro
//! through the host path (`kiln run` uses exactly this), and its planned
//! arena is no larger than TFLM's.

mod common;

use std::path::Path;

use kiln_codegen::npy;
use kiln_codegen::run::HostRunner;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn int8_models_match_tflite_micro_byte_for_byte() {
    let Some(shared) = common::shared_dir(repo()) else {
        return;
    };
    let mut failures = Vec::new();
    let mut total = 0;
    for &(name, file) in common::INT8_MODELS {
        let model = kiln_codegen::compile_file(&shared.join("models").join(file))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut runner = HostRunner::new(&model);
        let cases = common::cases(&shared, name);
        assert!(!cases.is_empty(), "{name}: no golden cases");
        for case in cases {
            let inputs: Vec<_> = case.inputs.iter().map(|p| npy::read(p).unwrap()).collect();
            let expected = npy::read(&case.output).unwrap();
            let got = runner
                .run(&inputs)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            total += 1;
            if got[0].data != expected.data {
                let differing = got[0]
                    .data
                    .iter()
                    .zip(&expected.data)
                    .filter(|(a, b)| a != b)
                    .count();
                failures.push(format!(
                    "{}: {differing} bytes differ",
                    case.output.display()
                ));
            }
        }
        println!("{name}: bit-exact");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} samples differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{total} samples bit-exact with TFLM");
}

#[test]
fn planned_activations_never_exceed_tflm_head() {
    let Some(shared) = common::shared_dir(repo()) else {
        return;
    };
    for &(name, file) in common::INT8_MODELS {
        let model = kiln_codegen::compile_file(&shared.join("models").join(file)).unwrap();
        let head = common::tflm_head(&shared, name);
        // TFLM keeps state in its tail; kiln's arena holds it.
        let state = common::tflm_variable_bytes(&shared, name);
        // TFLM's reference kernels take no scratch: hold kiln's activations
        // to its head (the fast kernels' scratch comes on top, as CMSIS-NN's
        // does in TFLM).
        let ours = model.plan.activation_bytes as u64;
        println!(
            "{name}: kiln {ours} bytes of activations ({} with scratch), TFLM head {head} bytes, state {state}",
            model.arena_bytes()
        );
        assert!(
            ours <= head + state,
            "{name}: kiln's activations need {ours} bytes, TFLM's head and state {}",
            head + state
        );
    }
}

/// MACs per inference agree with the figures in `../shared/README.md`.
#[test]
fn mac_counts_match_the_published_figures() {
    let Some(shared) = common::shared_dir(repo()) else {
        return;
    };
    let readme = std::fs::read_to_string(shared.join("README.md")).unwrap();
    let mut checked = 0;
    for &(name, file) in common::INT8_MODELS {
        let Some(row) = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")) && l.matches('|').count() > 7)
        else {
            continue;
        };
        let published: u64 = row
            .split('|')
            .nth(2)
            .unwrap()
            .trim()
            .replace(',', "")
            .parse()
            .unwrap();
        let graph = kiln_codegen::import::import(&shared.join("models").join(file)).unwrap();
        let ours: u64 = graph
            .nodes
            .iter()
            .map(|n| kiln_codegen::report::macs(&graph, n))
            .sum();
        assert_eq!(ours, published, "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "found figures for only {checked} models");
}

/// Float32 models match TFLM's outputs within 1e-4 relative (1e-5 absolute
/// near zero) on every golden sample.
#[test]
fn float_models_match_tflite_micro_within_tolerance() {
    let Some(shared) = common::shared_dir(repo()) else {
        return;
    };
    for &(name, file) in common::FLOAT_MODELS {
        let model = kiln_codegen::compile_file(&shared.join("models").join(file))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut runner = HostRunner::new(&model);
        let cases = common::cases(&shared, name);
        assert!(!cases.is_empty(), "{name}: no golden cases");
        let mut worst = 0f32;
        for case in &cases {
            let inputs: Vec<_> = case.inputs.iter().map(|p| npy::read(p).unwrap()).collect();
            let expected = npy::read(&case.output).unwrap();
            let got = runner
                .run(&inputs)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (g, w) = (common::f32s(&got[0].data), common::f32s(&expected.data));
            worst = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1e-6))
                .fold(worst, f32::max);
            assert!(
                common::floats_close(&g, &w),
                "{}: {g:?} vs {w:?}",
                case.output.display()
            );
        }
        println!(
            "{name}: {} samples within tolerance (worst relative difference {worst:e})",
            cases.len()
        );
    }
}
