//! The committed random cases against TFLM's outputs, on the host: every op
//! kind has at least 200, each rebuilt from its seed (the model must hash
//! as it did when TFLM ran it) and compiled and run by kiln byte for byte.

use kiln_differential::{case, fixture, fixture_dir, fnv1a, run_on_host, OPS};

/// Cases each op kind must have: the floor.
const AT_LEAST: usize = 200;

#[test]
fn every_op_kind_has_its_fixture_and_no_other_exists() {
    for op in OPS {
        let path = fixture_dir().join(format!("{}.cases", op.name));
        let cases = fixture::read(&path).unwrap_or_else(|e| {
            panic!(
                "{e}: regenerate with `cargo xtask difftest --write {}`",
                op.name
            )
        });
        assert!(
            cases.len() >= AT_LEAST,
            "{}: {} cases, fewer than {AT_LEAST}",
            op.name,
            cases.len()
        );
    }
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let op = name.strip_suffix(".cases").unwrap_or(&name);
        assert!(
            kiln_differential::op(op).is_some(),
            "{name} in {} belongs to no op kind",
            fixture_dir().display()
        );
    }
}

#[test]
fn host_matches_tflm_on_every_committed_case() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in OPS {
        let path = fixture_dir().join(format!("{}.cases", op.name));
        for expected in fixture::read(&path).unwrap() {
            let c = case(op, expected.seed);
            assert_eq!(
                fnv1a(&c.model),
                expected.model_hash,
                "{} seed {}: the generator no longer builds the model TFLM ran; \
                 regenerate with `cargo xtask difftest --write`",
                op.name,
                expected.seed
            );
            match run_on_host(&c) {
                Ok(out) if out == expected.output => {}
                Ok(_) => failures.push(format!("{} seed {}: differs", op.name, expected.seed)),
                Err(e) => failures.push(format!("{} seed {}: {e}", op.name, expected.seed)),
            }
            checked += 1;
        }
    }
    assert!(checked >= AT_LEAST * OPS.len(), "only {checked} cases ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The seed decides everything: the same case twice is the same bytes, and
/// another seed gives another model.
#[test]
fn cases_are_a_function_of_their_seed() {
    for op in OPS {
        let (a, b, c) = (case(op, 7), case(op, 7), case(op, 8));
        assert_eq!(a.model, b.model, "{}", op.name);
        assert_eq!(
            a.inputs.iter().map(|i| &i.data).collect::<Vec<_>>(),
            b.inputs.iter().map(|i| &i.data).collect::<Vec<_>>(),
            "{}",
            op.name
        );
        assert_ne!(a.model, c.model, "{}", op.name);
    }
}

/// The features that no model with a TFLM reference covered before these
/// cases (grouped and dilated int8 convolution, RELU_N1_TO_1, int8-to-int8
/// QUANTIZE, per-channel fully connected, 5-D and 6-D broadcasting) are
/// each in enough committed cases.
#[test]
fn features_without_another_tflm_reference_are_covered() {
    let wanted: &[(&str, &str, usize)] = &[
        ("CONV_2D", "grouped", 30),
        ("CONV_2D", "dilated", 30),
        ("DEPTHWISE_CONV_2D", "dilated", 30),
        ("QUANTIZE", "int8 to int8", 60),
        ("QUANTIZE", "float32 to int8", 60),
        ("CONV_2D", "fused RELU_N1_TO_1", 15),
        ("DEPTHWISE_CONV_2D", "fused RELU_N1_TO_1", 15),
        ("FULLY_CONNECTED", "fused RELU_N1_TO_1", 15),
        ("ADD", "fused RELU_N1_TO_1", 15),
        ("FULLY_CONNECTED", "per-channel", 40),
        ("ADD", "rank 5 or 6", 20),
        ("MUL", "rank 5 or 6", 20),
    ];
    for &(name, feature, least) in wanted {
        let op = kiln_differential::op(name).unwrap();
        let path = fixture_dir().join(format!("{name}.cases"));
        let count = fixture::read(&path)
            .unwrap()
            .iter()
            .filter(|e| case(op, e.seed).tags.contains(&feature))
            .count();
        assert!(
            count >= least,
            "{name}: {count} committed cases are {feature}, fewer than {least}"
        );
    }
}
