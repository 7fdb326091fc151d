//! Model blobs (`kiln compile --blob`, `kiln::blob::load`): a blob runs to
//! the same bytes as the compiled graph, and truncated, bit-flipped and
//! length-tampered blobs are refused with `kiln::Error`, never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::Aligned;
use kiln::{BlobError, Error, Executor};
use kiln_codegen::npy;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn digits_blob() -> (kiln_codegen::CompiledModel, Vec<u8>) {
    let model =
        kiln_codegen::compile_file(&repo().join("examples/digits/digits_int8.tflite")).unwrap();
    let blob = kiln_codegen::emit::blob::blob(&model);
    (model, blob)
}

fn run(graph: &kiln::Graph, inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
    let mut exec = Executor::new(graph, bytemuck::cast_slice_mut(&mut arena)).unwrap();
    for (i, bytes) in inputs.iter().enumerate() {
        exec.set_input(i, bytes).unwrap();
    }
    exec.run();
    exec.output(0).unwrap().to_vec()
}

/// `cases`: input files and TFLM's output bytes.
fn check_round_trip(model_path: &Path, cases: &[(Vec<PathBuf>, Vec<u8>)]) {
    let model = kiln_codegen::compile_file(model_path).unwrap();
    let blob = Aligned::new(&kiln_codegen::emit::blob::blob(&model));
    let loaded = kiln::blob::load::<128>(blob.bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let graph = loaded.graph();
    assert_eq!(graph.ops, &model.ops[..]);
    assert_eq!(graph.weights, model.weights());
    for (k, (inputs, expected)) in cases.iter().enumerate() {
        let inputs: Vec<Vec<u8>> = inputs.iter().map(|p| npy::read(p).unwrap().data).collect();
        let from_blob = run(&graph, &inputs);
        assert_eq!(from_blob, run(&model.runtime_graph(), &inputs));
        assert_eq!(&from_blob, expected, "{}: case {k}", model_path.display());
    }
}

#[test]
fn blobs_run_to_the_same_bytes_as_compiled_graphs() {
    let digits = repo().join("examples/digits/samples");
    let cases: Vec<_> = npy::read_outputs(&digits)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(k, out)| (vec![digits.join(format!("input_{k}.npy"))], out.data))
        .collect();
    assert_eq!(cases.len(), 8);
    check_round_trip(&repo().join("examples/digits/digits_int8.tflite"), &cases);
    let Some(shared) = common::shared_dir(&repo()) else {
        return;
    };
    for &(name, file) in common::INT8_MODELS {
        let cases: Vec<_> = common::cases(&shared, name)
            .into_iter()
            .map(|c| (c.inputs, npy::read(&c.output).unwrap().data))
            .collect();
        check_round_trip(&shared.join("models").join(file), &cases);
    }
}

#[test]
fn truncated_blobs_are_refused() {
    let (_, blob) = digits_blob();
    for n in 0..blob.len() {
        let b = Aligned::new(&blob[..n]);
        assert!(
            kiln::blob::load::<64>(b.bytes()).is_err(),
            "truncated to {n} bytes was accepted"
        );
    }
}

#[test]
fn every_single_bit_flip_is_refused() {
    let (_, blob) = digits_blob();
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut b = blob.clone();
            b[i] ^= 1 << bit;
            let b = Aligned::new(&b);
            let err = kiln::blob::load::<64>(b.bytes()).err();
            assert!(err.is_some(), "flip of bit {bit} of byte {i} was accepted");
        }
    }
}

#[test]
fn length_tampering_is_refused() {
    let (_, blob) = digits_blob();
    // Declared length changed.
    let mut b = blob.clone();
    b[12..16].copy_from_slice(&(blob.len() as u32 + 16).to_le_bytes());
    assert_eq!(
        kiln::blob::load::<64>(Aligned::new(&b).bytes()).err(),
        Some(Error::Blob(BlobError::Length {
            declared: blob.len() + 16,
            actual: blob.len()
        }))
    );
    // Bytes appended.
    let mut b = blob.clone();
    b.extend([0u8; 16]);
    assert!(matches!(
        kiln::blob::load::<64>(Aligned::new(&b).bytes()),
        Err(Error::Blob(BlobError::Length { .. }))
    ));
    // Too few slots for the ops.
    assert!(matches!(
        kiln::blob::load::<2>(Aligned::new(&blob).bytes()),
        Err(Error::Blob(BlobError::TooManyOps { max: 2, .. }))
    ));
}

/// Changes inside the checksummed part with the checksum recomputed, as a
/// deliberate forgery would: the decoder and the graph validation must
/// still refuse anything that does not fit, and nothing may panic, neither
/// loading nor running what was accepted. Covers every op kind of the digits
/// model and the op-coverage fixtures, int8 and float32, and the recurrent
/// ONNX fixtures.
#[test]
fn forged_contents_with_valid_checksums_never_panic() {
    let zoo = repo().join("tests/fixtures/op_zoo");
    // The recurrent ONNX fixtures: their float32 LSTM and GRU read initial
    // states (spans no TFLite model gives).
    let recurrent = ["rnn_directions", "rnn_initial_states"]
        .map(|n| repo().join(format!("tests/fixtures/onnx_ops/{n}.onnx")));
    let models = std::iter::once(repo().join("examples/digits/digits_int8.tflite"))
        .chain(
            common::OP_ZOO
                .iter()
                .chain(common::FLOAT_ZOO)
                .map(|z| zoo.join(format!("{z}.tflite"))),
        )
        .chain(recurrent);
    for path in models {
        let model = kiln_codegen::compile_file(&path).unwrap();
        let blob = kiln_codegen::emit::blob::blob(&model);
        let weights_offset = blob.len() - model.weights().len();
        let mut refused = 0;
        for i in kiln::blob::PREFIX..weights_offset {
            let byte = blob[i];
            for value in [
                0x00,
                0x01,
                0x7f,
                0x80,
                0xff,
                byte ^ 0x01,
                byte ^ 0x40,
                byte.wrapping_add(1),
            ] {
                let mut b = blob.clone();
                b[i] = value;
                let crc = kiln::blob::crc32(&b[kiln::blob::PREFIX..]);
                b[16..20].copy_from_slice(&crc.to_le_bytes());
                let aligned = Aligned::new(&b);
                match kiln::blob::load::<64>(aligned.bytes()) {
                    Ok(loaded) if loaded.graph().arena_bytes < 1 << 24 => {
                        let graph = loaded.graph();
                        let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
                        if let Ok(mut exec) =
                            Executor::new(&graph, bytemuck::cast_slice_mut(&mut arena))
                        {
                            exec.run();
                        }
                    }
                    Ok(_) => {} // a forged, enormous arena: valid, but not worth allocating here
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(refused > 0, "{}: no forgery refused", path.display());
    }
}

#[test]
fn a_misaligned_blob_is_refused() {
    let (_, blob) = digits_blob();
    let mut v = vec![0u128; blob.len().div_ceil(16) + 1];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
    bytes[1..=blob.len()].copy_from_slice(&blob);
    assert_eq!(
        kiln::blob::load::<64>(&bytes[1..=blob.len()]).err(),
        Some(Error::WeightsMisaligned)
    );
}
