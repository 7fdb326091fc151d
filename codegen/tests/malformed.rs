//! Bad input gets a clear error, never a panic: truncated files, random
//! bytes, flipped bytes in the flatbuffer tables, unsupported operators, and
//! wrong input data. Each is checked through the library and through the
//! `kiln` binary (non-zero exit, a message, no panic).

use std::path::{Path, PathBuf};
use std::process::Command;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use kiln_codegen::{npy, Error};

#[path = "../../tests/common/mod.rs"]
mod common;

fn kiln(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> common::ScratchDir {
    common::ScratchDir::new(&format!("malformed-{name}"))
}

/// The project's own example model: always present, no `../shared` needed.
fn example_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/digits_int8.tflite")
}

/// Imports, compiles and runs `bytes` as a model; returns the first error.
/// Panics propagate and fail the test.
fn load_and_run(bytes: &[u8]) -> Result<(), Error> {
    let graph = kiln_codegen::import::tflite::import_bytes(bytes, Path::new("corrupt.tflite"))?;
    let model = kiln_codegen::lower::compile(graph)?;
    let inputs: Vec<npy::NpyArray> = model
        .inputs
        .iter()
        .map(|io| npy::NpyArray {
            dtype: npy::NpyType::I8,
            shape: vec![io.elements()],
            data: vec![1; io.elements()],
        })
        .collect();
    if model.inputs.iter().all(|io| io.dtype == kiln::DType::I8) {
        kiln_codegen::run::HostRunner::new(&model).run(&inputs)?;
    }
    Ok(())
}

fn assert_cli_error(args: &[&str], expect: &str) {
    let (ok, _, stderr) = kiln(args);
    assert!(!ok, "kiln {args:?} succeeded");
    assert!(stderr.starts_with("error: "), "kiln {args:?}: {stderr}");
    assert!(
        stderr.contains(expect),
        "kiln {args:?}: expected '{expect}' in: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "kiln {args:?} panicked: {stderr}"
    );
}

#[test]
fn every_truncation_is_rejected_without_panic() {
    let bytes = std::fs::read(example_model()).unwrap();
    for n in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        assert!(
            load_and_run(&bytes[..n]).is_err(),
            "truncated to {n} bytes was accepted"
        );
    }
    let dir = temp_dir("truncated");
    let path = dir.join("truncated.tflite");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_cli_error(
        &["inspect", path.to_str().unwrap()],
        "not a valid model file",
    );
}

#[test]
fn random_bytes_are_rejected() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 3, 8, 64, 1000, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(load_and_run(&bytes).is_err());
        // The same with the right identifier, so the flatbuffer parser is exercised.
        let mut tagged = bytes.clone();
        if tagged.len() >= 8 {
            tagged[4..8].copy_from_slice(b"TFL3");
            assert!(
                load_and_run(&tagged).is_err(),
                "random bytes tagged TFL3 accepted ({len})"
            );
        }
    }
    let dir = temp_dir("random");
    let path = dir.join("random.tflite");
    std::fs::write(&path, b"definitely not a flatbuffer, just some text").unwrap();
    assert_cli_error(
        &[
            "run",
            path.to_str().unwrap(),
            "--input",
            path.to_str().unwrap(),
        ],
        "not a valid model file",
    );
}

/// Flip each byte of the flatbuffer tables in turn (every byte before the
/// first large weight buffer): each variant is either rejected with an
/// error or, where the flip only changes a value, still compiles and runs.
/// Nothing may panic.
#[test]
fn flipped_bytes_never_panic() {
    let bytes = std::fs::read(example_model()).unwrap();
    let mut rejected = 0;
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        if load_and_run(&b).is_err() {
            rejected += 1;
        }
    }
    assert!(rejected > 0, "no flipped byte was detected");
    // A flip in the root offset always breaks the file.
    let mut b = bytes.clone();
    b[0] ^= 0xff;
    assert!(matches!(load_and_run(&b), Err(Error::Malformed { .. })));
    let dir = temp_dir("flipped");
    let path = dir.join("flipped.tflite");
    std::fs::write(&path, &b).unwrap();
    assert_cli_error(
        &[
            "compile",
            path.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ],
        "flipped.tflite",
    );
}

/// A TFLite file built here with the official builder: `input -> IF ->
/// CUSTOM(MyOp) -> FULLY_CONNECTED -> output`, to check that every
/// unsupported op is named at once.
fn model_with_unsupported_ops() -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let mut tensors = Vec::new();
    for name in ["input", "gather_out", "custom_out"] {
        let n = b.create_string(name);
        let shape = b.create_vector(&[1i32, 4]);
        let t = b.start_table();
        b.push_slot_always::<WIPOffset<_>>(4, shape);
        b.push_slot::<i8>(6, 9, 0); // INT8
        b.push_slot_always::<WIPOffset<_>>(10, n);
        tensors.push(b.end_table(t));
    }
    let tensors = b.create_vector(&tensors);
    let mut codes = Vec::new();
    for (code, custom) in [(118i32, None), (32, Some("MyOp"))] {
        let custom = custom.map(|c| b.create_string(c));
        let t = b.start_table();
        // Codes past 127 leave the deprecated byte at its placeholder.
        b.push_slot::<i8>(4, code.min(127) as i8, 0);
        if let Some(c) = custom {
            b.push_slot_always::<WIPOffset<_>>(6, c);
        }
        b.push_slot::<i32>(10, code, 0);
        codes.push(b.end_table(t));
    }
    let codes = b.create_vector(&codes);
    let mut ops = Vec::new();
    for (opcode, input, output) in [(0u32, 0i32, 1i32), (1, 1, 2)] {
        let inputs = b.create_vector(&[input]);
        let outputs = b.create_vector(&[output]);
        let t = b.start_table();
        b.push_slot::<u32>(4, opcode, 0);
        b.push_slot_always::<WIPOffset<_>>(6, inputs);
        b.push_slot_always::<WIPOffset<_>>(8, outputs);
        ops.push(b.end_table(t));
    }
    let ops = b.create_vector(&ops);
    let (inputs, outputs) = (b.create_vector(&[0i32]), b.create_vector(&[2i32]));
    let sg = b.start_table();
    b.push_slot_always::<WIPOffset<_>>(4, tensors);
    b.push_slot_always::<WIPOffset<_>>(6, inputs);
    b.push_slot_always::<WIPOffset<_>>(8, outputs);
    b.push_slot_always::<WIPOffset<_>>(10, ops);
    let sg = b.end_table(sg);
    let subgraphs = b.create_vector(&[sg]);
    let empty = b.start_table();
    let empty = b.end_table(empty);
    let buffers = b.create_vector(&[empty]);
    let m = b.start_table();
    b.push_slot::<u32>(4, 3, 0);
    b.push_slot_always::<WIPOffset<_>>(6, codes);
    b.push_slot_always::<WIPOffset<_>>(8, subgraphs);
    b.push_slot_always::<WIPOffset<_>>(12, buffers);
    let m = b.end_table(m);
    b.finish(m, Some("TFL3"));
    b.finished_data().to_vec()
}

#[test]
fn unsupported_ops_are_all_named_with_index_and_tensors() {
    let bytes = model_with_unsupported_ops();
    let err =
        kiln_codegen::import::tflite::import_bytes(&bytes, Path::new("zoo.tflite")).unwrap_err();
    let Error::Unsupported { problems, .. } = &err else {
        panic!("expected Unsupported, got {err}")
    };
    assert_eq!(problems.len(), 2, "{err}");
    assert_eq!(
        (problems[0].op_index, problems[0].op_name.as_str()),
        (Some(0), "IF")
    );
    assert_eq!(
        (problems[1].op_index, problems[1].op_name.as_str()),
        (Some(1), "CUSTOM(MyOp)")
    );
    assert_eq!(problems[1].tensors, vec!["gather_out", "custom_out"]);

    let dir = temp_dir("unsupported");
    let path = dir.join("zoo.tflite");
    std::fs::write(&path, &bytes).unwrap();
    let (ok, _, stderr) = kiln(&[
        "compile",
        path.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(!ok);
    for needle in [
        "zoo.tflite",
        "2 unsupported",
        "op #0 IF",
        "op #1 CUSTOM(MyOp)",
        "gather_out",
        "custom_out",
    ] {
        assert!(stderr.contains(needle), "missing '{needle}' in: {stderr}");
    }
    // A build script's `.unwrap()` prints the error's Debug form: the same
    // text as the CLI's, not a struct dump.
    let err = kiln_codegen::Builder::new(&path)
        .out_dir(dir.join("generated"))
        .generate()
        .err()
        .expect("an unsupported model does not build");
    let debug = format!("{err:?}");
    assert_eq!(debug, err.to_string());
    assert!(stderr.contains(&debug), "{debug} vs CLI: {stderr}");
}

#[test]
fn wrong_input_data_is_a_clear_error() {
    let model = example_model();
    let dir = temp_dir("inputs");
    let wrong_len = dir.join("wrong_len.npy");
    npy::write(
        &wrong_len,
        &npy::NpyArray {
            dtype: npy::NpyType::I8,
            shape: vec![3],
            data: vec![0; 3],
        },
    )
    .unwrap();
    assert_cli_error(
        &[
            "run",
            model.to_str().unwrap(),
            "--input",
            wrong_len.to_str().unwrap(),
        ],
        "input #0: 3 values",
    );
    let wrong_type = dir.join("wrong_type.npy");
    npy::write(
        &wrong_type,
        &npy::NpyArray {
            dtype: npy::NpyType::I32,
            shape: vec![64],
            data: vec![0; 256],
        },
    )
    .unwrap();
    assert_cli_error(
        &[
            "run",
            model.to_str().unwrap(),
            "--input",
            wrong_type.to_str().unwrap(),
        ],
        "I32 data",
    );
    let not_npy = dir.join("not.npy");
    std::fs::write(&not_npy, b"1,2,3").unwrap();
    assert_cli_error(
        &[
            "run",
            model.to_str().unwrap(),
            "--input",
            not_npy.to_str().unwrap(),
        ],
        "not a usable .npy file",
    );
    assert_cli_error(
        &[
            "run",
            model.to_str().unwrap(),
            "--input",
            dir.join("missing.npy").to_str().unwrap(),
        ],
        "missing.npy",
    );
    let right = dir.join("right.npy");
    npy::write(
        &right,
        &npy::NpyArray {
            dtype: npy::NpyType::I8,
            shape: vec![1, 8, 8, 1],
            data: vec![0; 64],
        },
    )
    .unwrap();
    let args = [
        "run",
        model.to_str().unwrap(),
        "--input",
        right.to_str().unwrap(),
        "--input",
        right.to_str().unwrap(),
    ];
    assert_cli_error(&args, "takes 1 input(s), 2 given");
}

/// A custom operator's options (a FlexBuffer) that do not say what its
/// kernel needs are named in the error: a missing key, a corrupted buffer.
#[test]
fn unreadable_custom_options_are_named() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_window.tflite");
    let bytes = std::fs::read(path).unwrap();
    let key = b"shift\0";
    let at: Vec<usize> = (0..bytes.len() - key.len())
        .filter(|&i| &bytes[i..i + key.len()] == key)
        .collect();
    assert_eq!(at.len(), 2, "one options buffer per SignalWindow");
    let import = |b: &[u8]| {
        kiln_codegen::import::tflite::import_bytes(b, Path::new("window.tflite"))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };

    let mut renamed = bytes.clone();
    renamed[at[0] + 3] = b'g';
    let err = import(&renamed);
    assert!(err.contains("custom option 'shift' is missing"), "{err}");
    assert!(err.contains("shigt"), "{err}");

    // Each buffer is 16 bytes from its key; the last is the root's width.
    let mut corrupt = bytes.clone();
    corrupt[at[1] + 15] = 3;
    let err = import(&corrupt);
    assert!(
        err.contains("custom options: a root width of 3 bytes"),
        "{err}"
    );
}

/// A delay line of no samples would have no state: it is refused by name.
#[test]
fn a_delay_of_no_samples_is_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_delay.tflite");
    let mut bytes = std::fs::read(path).unwrap();
    let key = b"delay_length\0";
    let at = (0..bytes.len() - key.len())
        .find(|&i| &bytes[i..i + key.len()] == key)
        .unwrap();
    // The key, the keys vector (length, offset), the map's three header
    // bytes, then its one value: a delay of 5 or 3 samples.
    let value = at + key.len() + 2 + 3;
    assert!([3, 5].contains(&bytes[value]), "{}", bytes[value]);
    bytes[value] = 0;
    let err = kiln_codegen::import::tflite::import_bytes(&bytes, Path::new("delay.tflite"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a delay of 0 samples (kiln: at least 1)"),
        "{err}"
    );
}

/// A state input that is not a variable tensor (here, a delay line whose
/// importer-added state lost its variable mark) is refused by name, since
/// nothing would keep it across runs or reset it.
#[test]
fn a_state_that_is_no_variable_is_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_delay.tflite");
    let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    assert!(
        !graph.variables.is_empty(),
        "the delay's state is a variable"
    );
    let state = graph.variables.remove(0);
    let name = graph.tensors[state].name.clone();
    // Unwritten, the dataflow check would name it first: as a graph input
    // it holds values, and the op's own check refuses it.
    let mut as_input = graph.clone();
    as_input.inputs.push(state);
    let err = kiln_codegen::compile(as_input).err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "the state (input 1) is the non-variable tensor '{name}'"
        )),
        "{err}"
    );
    let err = kiln_codegen::compile(graph).err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "reads tensor '{name}', which is neither a constant"
        )),
        "{err}"
    );
}

/// Energies of bins the spectrum does not have, or of a reversed range,
/// are refused by name (TFLM would read and write past its tensors).
#[test]
fn energies_outside_the_spectrum_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::SignalEnergy;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_energy.tflite");
    for (start, end) in [(0, 10), (5, 4), (-1, 3)] {
        let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
        assert_eq!(graph.nodes.len(), 1);
        graph.nodes[0].kind = OpKind::SignalEnergy(SignalEnergy { start, end });
        let err = kiln_codegen::compile(graph).err().unwrap().to_string();
        assert!(
            err.contains(&format!(
                "energies of bins {start}..{end} of a spectrum of 9"
            )),
            "{err}"
        );
    }
}

/// A PCAN gain lookup too short for noise estimates of 32 bits (TFLM would
/// read past it) is refused by name.
#[test]
fn a_short_pcan_gain_lookup_is_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_pcan.tflite");
    let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let lut = graph.nodes[0].inputs[2].expect("a gain lookup");
    let t = &mut graph.tensors[lut];
    t.shape = vec![124];
    t.data.as_mut().unwrap().truncate(248);
    let err = kiln_codegen::compile(graph).err().unwrap().to_string();
    assert!(
        err.contains("a gain lookup of shape [124] (TFLM: 125 coefficients"),
        "{err}"
    );
}

/// Square roots scaled down by 32 bits or more (undefined in TFLM's C), or
/// by other than one int32 (a computed scalar is read at run time: the
/// audio_front_end fixture), are refused by name.
#[test]
fn square_roots_scaled_down_too_far_or_by_several_values_are_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/signal_filter_bank_square_root.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let bits = graph.nodes[0].inputs[1].expect("scale bits");
    let mut far = graph.clone();
    far.tensors[bits].data = Some(32i32.to_le_bytes().to_vec());
    let err = kiln_codegen::compile(far).err().unwrap().to_string();
    assert!(
        err.contains("scaling square roots down by 32 bits"),
        "{err}"
    );
    let mut several = graph;
    several.tensors[bits].data = Some([3i32, 3].iter().flat_map(|b| b.to_le_bytes()).collect());
    several.tensors[bits].shape = vec![2];
    let err = kiln_codegen::compile(several).err().unwrap().to_string();
    assert!(
        err.contains("square roots scaled down by other than one int32"),
        "{err}"
    );
}

/// Filter bank tables whose bands read past the energies or the weights
/// (TFLM would read out of bounds) are refused by name.
#[test]
fn filter_bank_bands_outside_their_tables_are_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/signal_filter_bank.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let widths = graph.nodes[0].inputs[5].expect("channel widths");
    for width in [40i16, -1] {
        let mut g = graph.clone();
        let data = g.tensors[widths].data.as_mut().unwrap();
        data[12..14].copy_from_slice(&width.to_le_bytes());
        let err = kiln_codegen::compile(g).err().unwrap().to_string();
        assert!(
            err.contains("read outside 33 energies or their weights"),
            "{err}"
        );
    }
}

/// Real FFTs kissfft cannot run (an odd length), kiln does not (a half
/// length with a prime factor above 5), or whose frames do not fit (longer
/// than the FFT, or a spectrum of the wrong length) are refused by name.
#[test]
fn real_ffts_of_lengths_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::SignalRfft;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_rfft.tflite");
    for (fft_length, message) in [
        (63, "a real FFT of 63 points (kissfft: an even length)"),
        (0, "a real FFT of 0 points"),
        (
            112,
            "a real FFT of 112 points: kiln runs lengths whose half factors into 2, 3 and 5",
        ),
        (
            48,
            "a real FFT of 48 points from frames of shape [3, 50] to [3, 66]",
        ),
        (
            128,
            "a real FFT of 128 points from frames of shape [3, 50] to [3, 66]",
        ),
    ] {
        let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
        assert_eq!(graph.nodes.len(), 2);
        graph.nodes[0].kind = OpKind::SignalRfft(SignalRfft { fft_length });
        let err = kiln_codegen::compile(graph).err().unwrap().to_string();
        assert!(err.contains(message), "{fft_length}: {err}");
    }
}

/// Inverse FFTs of lengths kiln cannot run, or whose spectra or samples
/// do not fit, are refused by name.
#[test]
fn inverse_ffts_of_lengths_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::SignalIrfft;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_irfft.tflite");
    for (fft_length, message) in [
        (
            241,
            "an inverse FFT of 241 points (kissfft: an even length)",
        ),
        (-2, "an inverse FFT of -2 points"),
        (
            224,
            "an inverse FFT of 224 points: kiln runs lengths whose half factors into 2, 3 and 5",
        ),
        (
            120,
            "an inverse FFT of 120 points from spectra of shape [2, 242] to [2, 240]",
        ),
    ] {
        let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
        assert_eq!(graph.nodes.len(), 1);
        graph.nodes[0].kind = OpKind::SignalIrfft(SignalIrfft { fft_length });
        let err = kiln_codegen::compile(graph).err().unwrap().to_string();
        assert!(err.contains(message), "{fft_length}: {err}");
    }
}

/// A spectral subtraction shifted by more bits than its values have (TFLM
/// shifts past the width, which C leaves undefined), or whose channel
/// count differs from its tensors', is refused by name.
#[test]
fn spectral_subtractions_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/signal_spectral_subtraction.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let OpKind::SignalSpectralSubtraction(op) = graph.nodes[0].kind else {
        panic!("not a spectral subtraction: {:?}", graph.nodes[0].kind);
    };
    let cases = [
        (
            kiln_codegen::ops::SignalSpectralSubtraction {
                smoothing_bits: 32,
                ..op
            },
            "smoothing bits 32 and spectral subtraction bits 14",
        ),
        (
            kiln_codegen::ops::SignalSpectralSubtraction {
                subtraction_bits: -1,
                ..op
            },
            "smoothing bits 10 and spectral subtraction bits -1",
        ),
        (
            kiln_codegen::ops::SignalSpectralSubtraction { channels: 13, ..op },
            "a spectral subtraction of 13 channels on a tensor of shape [12]",
        ),
    ];
    for (kind, message) in cases {
        let mut g = graph.clone();
        g.nodes[0].kind = OpKind::SignalSpectralSubtraction(kind);
        let err = kiln_codegen::compile(g).err().unwrap().to_string();
        assert!(err.contains(message), "{err}");
    }
}

/// Framers kiln cannot run (empty frames or steps, a prefilled framer
/// stepping past its frames, for which TFLM would write a negative count of
/// zeros) or whose samples are not whole steps are refused by name.
#[test]
fn framers_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::SignalFramer;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/signal_framer.tflite");
    for (size, step, message) in [
        (
            0,
            3,
            "frames of 0 samples by steps of 3, prefilled (kiln: positive",
        ),
        (5, 0, "frames of 5 samples by steps of 0, prefilled"),
        (2, 3, "frames of 2 samples by steps of 3, prefilled"),
        (
            5,
            5,
            "frames of 5 by 5 from samples of shape [2, 12] to [2, 4, 5]",
        ),
    ] {
        let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
        graph.nodes[0].kind = OpKind::SignalFramer(SignalFramer {
            size,
            step,
            prefill: true,
        });
        let err = kiln_codegen::compile(graph).err().unwrap().to_string();
        assert!(err.contains(message), "{size} by {step}: {err}");
    }
}

/// Stackers whose step lies outside their window (TFLM's circular buffer
/// asserts it, and without asserts loses its place), with negative
/// context, or whose frames do not have their channels are refused by
/// name.
#[test]
fn stackers_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::SignalStacker;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/signal_stacker.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let OpKind::SignalStacker(op) = graph.nodes[0].kind else {
        panic!("not a stacker: {:?}", graph.nodes[0].kind);
    };
    for (kind, message) in [
        (
            SignalStacker { step: 4, ..op },
            "a stacker of context 2 left and 0 right by steps of 4",
        ),
        (
            SignalStacker { step: 0, ..op },
            "a stacker of context 2 left and 0 right by steps of 0",
        ),
        (
            SignalStacker { left: -1, ..op },
            "a stacker of context -1 left and 0 right by steps of 1",
        ),
        (
            SignalStacker { channels: 5, ..op },
            "a stacker of 5 channels from a frame of shape [6] to [18]",
        ),
    ] {
        let mut g = graph.clone();
        g.nodes[0].kind = OpKind::SignalStacker(kind);
        let err = kiln_codegen::compile(g).err().unwrap().to_string();
        assert!(err.contains(message), "{err}");
    }
}

/// Detection post-processes kiln would not run as TFLM does are refused by
/// name: fast NMS with two classes per detection (TFLM writes past its
/// outputs), IoU thresholds outside (0, 1] (TFLM fails the inference),
/// regular NMS of no detections per class, and score columns that are
/// neither the classes nor one more.
#[test]
fn detection_postprocesses_kiln_cannot_run_are_refused() {
    use kiln_codegen::ir::OpKind;
    use kiln_codegen::ops::DetectionPostProcess;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/detection_postprocess.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let OpKind::DetectionPostProcess(op) = graph.nodes[0].kind else {
        panic!("not a detection post-process: {:?}", graph.nodes[0].kind);
    };
    for (kind, message) in [
        (
            DetectionPostProcess {
                max_classes_per_detection: 2,
                ..op
            },
            "fast NMS with 2 classes per detection",
        ),
        (
            DetectionPostProcess {
                iou_threshold: 0.0,
                ..op
            },
            "an IoU threshold of 0",
        ),
        (
            DetectionPostProcess {
                iou_threshold: f32::NAN,
                ..op
            },
            "an IoU threshold of NaN",
        ),
        (
            DetectionPostProcess {
                regular: true,
                detections_per_class: 0,
                ..op
            },
            "regular NMS of no detections per class",
        ),
        (
            DetectionPostProcess { classes: 2, ..op },
            "4 score columns for 2 classes",
        ),
        (
            DetectionPostProcess {
                max_detections: 5,
                ..op
            },
            "detection outputs of other than 5 rows",
        ),
    ] {
        let mut g = graph.clone();
        g.nodes[0].kind = OpKind::DetectionPostProcess(kind);
        let err = kiln_codegen::compile(g).err().unwrap().to_string();
        assert!(err.contains(message), "{err}");
    }
}

/// A tensor that an op reads but nothing gives a value (a constant whose
/// data the file lacks, or an output of a later op) is refused by name at
/// the tool, instead of being read as arena bytes nobody wrote.
#[test]
fn a_tensor_read_but_never_written_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/svdf.tflite");
    let graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    assert!(kiln_codegen::compile(graph.clone()).is_ok());

    // A constant (a weight of the first op) without its data.
    let mut dropped = graph.clone();
    let weight = (dropped.nodes[0].inputs.iter().flatten().copied())
        .find(|&t| dropped.tensors[t].is_constant())
        .expect("the first op reads a constant");
    dropped.tensors[weight].data = None;
    let name = dropped.tensors[weight].name.clone();
    let err = kiln_codegen::compile(dropped).err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "op #0 SVDF reads tensor '{name}', which is neither"
        )),
        "{err}"
    );

    // The ops out of order: the last one first, reading what the others
    // have not written yet.
    let mut reordered = graph;
    let last = reordered.nodes.pop().unwrap();
    let unwritten = (last.inputs.iter().flatten().copied())
        .find(|&t| !reordered.tensors[t].is_constant() && !reordered.inputs.contains(&t))
        .expect("the last op reads an earlier op's output");
    let name = reordered.tensors[unwritten].name.clone();
    let kind = last.kind.name();
    reordered.nodes.insert(0, last);
    let err = kiln_codegen::compile(reordered).err().unwrap().to_string();
    assert!(
        err.contains(&format!("op #0 {kind} reads tensor '{name}'")),
        "{err}"
    );
}

/// A tensor of no elements without data (TFLite stores an empty shape
/// constant so, as for a RESHAPE to a scalar) holds nothing to read: the
/// dataflow check lets it through.
#[test]
fn an_empty_tensor_without_data_is_no_unwritten_read() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/gather_nd.tflite");
    let mut graph = kiln_codegen::import::tflite::import_file(&path).unwrap();
    let reshape = (graph.nodes.iter())
        .position(|n| n.kind.name() == "RESHAPE" && n.input(1).is_some())
        .expect("a RESHAPE with a shape input");
    let shape = graph.nodes[reshape].input(1).unwrap();
    graph.tensors[shape].data = None;
    graph.tensors[shape].shape = vec![0];
    kiln_codegen::compile(graph.clone()).unwrap();
    // The same tensor with one element and no data is an unwritten read.
    graph.tensors[shape].shape = vec![1];
    let err = kiln_codegen::compile(graph).err().unwrap().to_string();
    assert!(err.contains("which is neither a constant"), "{err}");
}

/// A TFLM_DECODE whose ancillary data names an encoding kiln does not
/// decode (here Huffman, type 1) or is cut short is refused by name at
/// import, with the tensor it would have decoded.
#[test]
fn decode_data_kiln_cannot_read_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/decode.tflite");
    let bytes = std::fs::read(&path).unwrap();
    // The first DECODE metadata header: LUT (0), version 1, two reserved
    // bytes, LUT version 1, then params, stride and nine zeros.
    let at = (0..bytes.len() - 16)
        .find(|&i| bytes[i..i + 5] == [0, 1, 0, 0, 1] && bytes[i + 7..i + 16] == [0; 9])
        .expect("decode.tflite holds a DECODE header");
    let import = |b: &[u8]| {
        kiln_codegen::import::tflite::import_bytes(b, Path::new("decode.tflite"))
            .unwrap_err()
            .to_string()
    };
    let mut huffman = bytes.clone();
    huffman[at] = 1;
    let err = import(&huffman);
    assert!(
        err.contains("TFLM_DECODE of '") && err.contains("Huffman"),
        "{err}"
    );
    let mut version = bytes.clone();
    version[at + 1] = 2;
    assert!(import(&version).contains("metadata version 2"));
    let mut no_bits = bytes;
    no_bits[at + 5] &= 0xf8;
    assert!(import(&no_bits).contains("indices of 0 bits"));
}

/// A bool constant's byte other than 0 or 1 (a file's bool is true
/// wherever it is not zero) is read as 1, so that no op's kernel, which
/// compares bool bytes as integers, sees it: the logical fixture with a
/// true byte of its constant written as 2 reads as the fixture itself.
#[test]
fn a_bool_constant_reads_as_zero_or_one() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/op_zoo/logical.tflite");
    let bytes = std::fs::read(&path).unwrap();
    let graph = kiln_codegen::import::tflite::import_bytes(&bytes, &path).unwrap();
    let bools = |g: &kiln_codegen::ir::Graph| -> Vec<Vec<u8>> {
        (g.tensors.iter())
            .filter(|t| t.dtype == kiln_codegen::ir::DataType::Bool)
            .filter_map(|t| t.data.clone())
            .collect()
    };
    let constant = (bools(&graph).into_iter())
        .find(|d| d.contains(&1) && d.len() > 2)
        .expect("the fixture has a bool constant with a true value");
    // Its bytes in the file (the buffer holds them as they are), one true
    // byte made 2.
    let at = (bytes.windows(constant.len()))
        .position(|w| w == &constant[..])
        .expect("the constant's buffer");
    let mut patched = bytes.clone();
    let one = at + constant.iter().position(|&b| b == 1).unwrap();
    patched[one] = 2;
    let read = kiln_codegen::import::tflite::import_bytes(&patched, &path).unwrap();
    assert_eq!(bools(&read), bools(&graph));
    assert!(bools(&read).iter().flatten().all(|&b| b <= 1));
}
