//! The `kiln` binary end to end: `run` on the project's example and on every
//! shared golden sample gives TFLite Micro's bytes; `inspect --json` has the
//! documented fields; `compile` writes a module and its weights.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_codegen::npy;
use kiln_codegen::ObserverKind;

fn kiln(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln");
    assert!(
        out.status.success(),
        "kiln {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `kiln run` on one sample and returns the written output bytes.
fn run_cli(model: &Path, inputs: &[PathBuf], out: &Path) -> (String, Vec<u8>) {
    let mut args = vec!["run".to_string(), model.display().to_string()];
    for i in inputs {
        args.push("--input".into());
        args.push(i.display().to_string());
    }
    args.push("--output".into());
    args.push(out.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = kiln(&args);
    (stdout, npy::read(out).unwrap().data)
}

#[test]
fn run_matches_tflm_on_the_example_model() {
    let scratch = common::ScratchDir::new("cli");
    let dir = repo().join("examples/digits");
    let outputs = npy::read_outputs(&dir.join("samples")).unwrap();
    assert_eq!(outputs.len(), 8);
    for (k, expected) in outputs.iter().enumerate() {
        let (stdout, got) = run_cli(
            &dir.join("digits_int8.tflite"),
            &[dir.join(format!("samples/input_{k}.npy"))],
            &scratch.join(format!("digit{k}.npy")),
        );
        assert_eq!(got, expected.data, "sample {k}");
        assert!(stdout.contains("top class: "), "{stdout}");
    }
}

#[test]
fn run_matches_tflm_on_every_shared_golden() {
    let scratch = common::ScratchDir::new("cli");
    let Some(shared) = common::shared_dir(&repo()) else {
        return;
    };
    let mut total = 0;
    for &(name, file) in common::INT8_MODELS {
        for case in common::cases(&shared, name) {
            let (_, got) = run_cli(
                &shared.join("models").join(file),
                &case.inputs,
                &scratch.join(format!("{name}.npy")),
            );
            assert_eq!(
                got,
                npy::read(&case.output).unwrap().data,
                "{}",
                case.output.display()
            );
            total += 1;
        }
    }
    println!("kiln run: {total} samples bit-exact");
}

/// Compiles `model` with `--blob` and returns the blob's path.
fn compile_blob(scratch: &Path, model: &Path, name: &str) -> PathBuf {
    let dir = scratch.join(format!("blob-{name}"));
    kiln(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--name",
        name,
        "--blob",
    ]);
    dir.join(format!("{name}.kiln"))
}

/// `kiln run model.kiln` gives the bytes (and prints the lines) of `kiln run`
/// on the model it came from: the project's int8 and float models and, with
/// `../shared`, the first sample of every shared int8 model.
#[test]
fn run_on_a_blob_gives_its_model_bytes() {
    let scratch = common::ScratchDir::new("cli");
    let examples = repo().join("examples");
    let float_input = scratch.join("float_digit.npy");
    let image = npy::read(&examples.join("onnx/data/test_x.npy")).unwrap();
    npy::write(
        &float_input,
        &npy::NpyArray {
            dtype: image.dtype,
            shape: vec![1, 1, 8, 8],
            data: image.data[..image.data.len() / image.shape[0]].to_vec(),
        },
    )
    .unwrap();
    let mut cases = vec![
        (
            examples.join("digits/digits_int8.tflite"),
            vec![examples.join("digits/samples/input_5.npy")],
        ),
        (
            examples.join("motion/motion_int8.tflite"),
            vec![examples.join("motion/samples/input_0.npy")],
        ),
        (examples.join("onnx/digits_cnn.onnx"), vec![float_input]),
    ];
    if let Some(shared) = common::shared_dir(&repo()) {
        for &(name, file) in common::INT8_MODELS {
            let case = common::cases(&shared, name).swap_remove(0);
            cases.push((shared.join("models").join(file), case.inputs));
        }
    }
    for (k, (model, inputs)) in cases.iter().enumerate() {
        let blob = compile_blob(&scratch, model, &format!("model{k}"));
        let (model_stdout, model_bytes) = run_cli(model, inputs, &scratch.join("from-model.npy"));
        let (blob_stdout, blob_bytes) = run_cli(&blob, inputs, &scratch.join("from-blob.npy"));
        assert_eq!(blob_bytes, model_bytes, "{model:?}");
        assert_eq!(blob_stdout.lines().next(), model_stdout.lines().next());
    }
}

/// `kiln inspect` of a blob shows the ops, kernels and compiled params,
/// inputs, outputs, arena and constants of its model's `inspect`.
#[test]
fn inspect_on_a_blob_shows_what_its_model_compiled_to() {
    let scratch = common::ScratchDir::new("cli");
    let model = repo().join("examples/digits/digits_int8.tflite");
    let blob = compile_blob(&scratch, &model, "digits");
    let json = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&kiln(&["inspect", "--json", path.to_str().unwrap()])).unwrap()
    };
    let (from_model, from_blob) = (json(&model), json(&blob));
    // RESHAPE compiles to nothing: the blob has every other op.
    let compiled: Vec<_> = from_model["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["params"].is_string())
        .collect();
    let blob_ops = from_blob["ops"].as_array().unwrap();
    assert_eq!(blob_ops.len(), compiled.len());
    assert_eq!(blob_ops.len(), 7);
    for (b, m) in blob_ops.iter().zip(&compiled) {
        for key in ["op", "kernel", "params"] {
            assert_eq!(b[key], m[key], "{key}");
        }
    }
    assert_eq!(from_blob["arena_bytes"], from_model["arena_bytes"]);
    assert_eq!(from_blob["flash_bytes"], from_model["flash_bytes"]);
    for list in ["inputs", "outputs"] {
        let (b, m) = (&from_blob[list][0], &from_model[list][0]);
        for key in ["shape", "dtype", "scale", "zero_point", "arena_offset"] {
            assert_eq!(b[key], m[key], "{list} {key}");
        }
    }
    let text = kiln(&["inspect", blob.to_str().unwrap()]);
    assert!(
        text.contains("kiln blob") && text.contains("depthwise blocked"),
        "{text}"
    );
}

/// A damaged blob is refused with the loader's reason, and `run` writes no
/// output file.
#[test]
fn a_damaged_blob_is_a_clear_error() {
    let scratch = common::ScratchDir::new("cli");
    let blob = compile_blob(
        &scratch,
        &repo().join("examples/digits/digits_int8.tflite"),
        "damaged",
    );
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&blob, &bytes).unwrap();
    let input = repo().join("examples/digits/samples/input_0.npy");
    let output = scratch.join("never-written.npy");
    let _ = std::fs::remove_file(&output);
    for args in [
        vec!["inspect", blob.to_str().unwrap()],
        vec![
            "run",
            blob.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains("damaged.kiln") && stderr.contains("checksum"),
            "{stderr}"
        );
    }
    assert!(!output.exists());
}

/// `kiln keygen`, `kiln compile --blob --sign`, then `inspect` and `run`
/// with `--public-key`: the signed blob verifies with its key, gives the
/// model's bytes, and is refused with another key.
#[test]
fn signed_blobs_verify_with_their_key_only() {
    let scratch = common::ScratchDir::new("cli");
    let dir = scratch.join("signing");
    let _ = std::fs::remove_dir_all(&dir);
    let keygen = kiln(&["keygen", "-o", dir.to_str().unwrap()]);
    assert!(
        keygen.contains("pub const PUBLIC_KEY: [u8; 32] = [0x"),
        "{keygen}"
    );
    kiln(&["keygen", "-o", dir.to_str().unwrap(), "--name", "other"]);
    let model = repo().join("examples/digits/digits_int8.tflite");
    let secret = dir.join("kiln.key");
    let compiled = kiln(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--blob",
        "--sign",
        secret.to_str().unwrap(),
    ]);
    assert!(compiled.contains("signed"), "{compiled}");
    let blob = dir.join("digits_int8.kiln");
    assert!(std::fs::read(&blob).unwrap().starts_with(b"KILNSIGN"));
    let public = dir.join("kiln.pub");
    let report = kiln(&[
        "inspect",
        blob.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert!(report.contains("signature: verified"), "{report}");
    let unchecked = kiln(&["inspect", blob.to_str().unwrap()]);
    assert!(unchecked.contains("signature: not checked"), "{unchecked}");

    let input = repo().join("examples/digits/samples/input_6.npy");
    let out = scratch.join("signed-out.npy");
    kiln(&[
        "run",
        blob.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let (_, from_model) = run_cli(
        &model,
        std::slice::from_ref(&input),
        &scratch.join("model-out.npy"),
    );
    assert_eq!(npy::read(&out).unwrap().data, from_model);

    let other = dir.join("other.pub");
    let refused = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["inspect", blob.to_str().unwrap(), "--public-key"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("signature does not verify"), "{stderr}");
    // A second keygen into the same place must not destroy the first key.
    let again = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["keygen", "-o"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        kiln_codegen::signing::public_key_of(&secret).unwrap(),
        kiln_codegen::signing::read_key(&public).unwrap()
    );
}

#[test]
fn inspect_json_has_the_documented_fields() {
    let out = kiln(&[
        "inspect",
        "--json",
        repo()
            .join("examples/digits/digits_int8.tflite")
            .to_str()
            .unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ops = v["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 8);
    let macs: u64 = ops.iter().map(|o| o["macs"].as_u64().unwrap()).sum();
    assert_eq!(v["macs"].as_u64().unwrap(), macs);
    assert!(v["macs"].as_u64().unwrap() > 0);
    assert!(v["arena_bytes"].as_u64().unwrap() <= v["unshared_activation_bytes"].as_u64().unwrap());
    assert!(v["weight_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ops[0]["op"], "CONV_2D");
    assert!(ops[0]["params"].as_str().unwrap().contains("Conv2dParams"));
    // Each layer names its kernel; the matrix-product convolution takes
    // scratch from the arena, the blocked depthwise one none.
    assert_eq!(ops[0]["kernel"], "gemm");
    assert!(ops[0]["scratch_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ops[1]["kernel"], "depthwise blocked");
    assert_eq!(ops[1]["scratch_bytes"], 0);
    // Each op's stack frame, per core; the estimate is the deepest.
    for core in ["cortex-m0", "cortex-m4", "cortex-m33", "riscv32"] {
        let deepest = ops
            .iter()
            .map(|o| o["stack_bytes_by_core"][core].as_u64().unwrap())
            .max();
        assert_eq!(deepest, v["stack_bytes_estimate_by_core"][core].as_u64());
    }
    let text = kiln(&[
        "inspect",
        repo()
            .join("examples/digits/digits_int8.tflite")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        text.contains("arena (planned):")
            && text.contains("DEPTHWISE_CONV_2D")
            && text.contains("gemm (")
            && text.contains("(deepest: op #1 DEPTHWISE_CONV_2D)"),
        "{text}"
    );
}

/// With link-time optimization a convolution kernel that one or two layers
/// call is specialized for their constants and takes less stack
/// (`stack::FEW_CALLERS`): the digits example's one depthwise layer gets
/// the smaller figure, and the same kernel in kws (four layers) the larger.
#[test]
fn a_kernel_few_layers_call_gets_the_specialized_stack_figure() {
    let Some(shared) = common::shared_dir(&repo()) else {
        return;
    };
    let depthwise_frame = |model: &Path| -> u64 {
        let out = kiln(&["inspect", "--json", model.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let ops = v["ops"].as_array().unwrap().clone();
        let frames: Vec<u64> = ops
            .iter()
            .filter(|o| o["op"] == "DEPTHWISE_CONV_2D" && o["kernel"] == "depthwise blocked")
            .map(|o| o["stack_bytes_by_core"]["cortex-m4"].as_u64().unwrap())
            .collect();
        assert!(!frames.is_empty(), "{}", model.display());
        frames.into_iter().max().unwrap()
    };
    let few = depthwise_frame(&repo().join("examples/digits/digits_int8.tflite"));
    let many = depthwise_frame(&shared.join("models/mlperf-tiny/kws_ref_model.tflite"));
    assert!(few < many, "one layer {few} bytes, four layers {many}");
}

#[test]
fn compile_writes_a_module_and_its_weights() {
    let scratch = common::ScratchDir::new("cli");
    let dir = scratch.join("compiled");
    let out = kiln(&[
        "compile",
        repo()
            .join("examples/digits/digits_int8.tflite")
            .to_str()
            .unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(out.contains("arena: "), "{out}");
    let module = std::fs::read_to_string(dir.join("digits_int8.rs")).unwrap();
    assert!(module.contains("pub const ARENA_BYTES: usize = "));
    assert!(module.contains("include_bytes!(\"digits_int8.weights.bin\")"));
    let weights = std::fs::metadata(dir.join("digits_int8.weights.bin"))
        .unwrap()
        .len();
    assert!(module.contains(&format!("pub const WEIGHTS_BYTES: usize = {weights};")));
}

#[test]
fn help_explains_every_command() {
    let help = kiln(&["--help"]);
    for cmd in ["inspect", "compile", "run"] {
        assert!(help.contains(cmd), "{help}");
    }
    assert!(kiln(&["run", "--help"]).contains("--input"));
}

#[test]
fn compile_calibrate_quantizes_a_float_model() {
    let scratch = common::ScratchDir::new("cli");
    let Some(shared) = common::shared_dir(&repo()) else {
        return;
    };
    let model = shared.join("models/tflm/hello_world_float.tflite");
    let calib = scratch.join("calib.npy");
    let data: Vec<u8> = (0..100)
        .flat_map(|i| (i as f32 * 0.0628).to_le_bytes())
        .collect();
    npy::write(
        &calib,
        &npy::NpyArray {
            dtype: npy::NpyType::F32,
            shape: vec![100, 1],
            data,
        },
    )
    .unwrap();
    for observer in ["min-max", "percentile", "mse"] {
        let dir = scratch.join(format!("quantized-{observer}"));
        let out = kiln(&[
            "compile",
            model.to_str().unwrap(),
            "--calibrate",
            calib.to_str().unwrap(),
            "--observer",
            observer,
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.contains("quantized to int8 with 100 calibration samples"),
            "{out}"
        );
        let module = std::fs::read_to_string(dir.join("hello_world_float.rs")).unwrap();
        assert!(
            module.contains("FullyConnectedOp {"),
            "int8 fully connected layers expected"
        );
        assert!(
            module.contains("Op::Quantize(") && module.contains("Op::Dequantize("),
            "float interface expected"
        );
    }
    // sin(x) on the golden input, through the quantized model, is close to the float model's.
    let golden_in = shared.join("golden/hello_world_float/input_0.npy");
    let float_out = npy::read(&shared.join("golden/hello_world_float/output_0.npy"))
        .unwrap()
        .to_f64()[0];
    let q = kiln_codegen::quantize_file(
        &model,
        &npy::read(&calib).unwrap(),
        kiln_codegen::quantize::observer::ObserverKind::MinMax,
    )
    .unwrap();
    let got = kiln_codegen::run::HostRunner::new(&q)
        .run(&[npy::read(&golden_in).unwrap()])
        .unwrap()[0]
        .to_f64()[0];
    assert!((got - float_out).abs() < 0.05, "{got} vs {float_out}");
}

/// `Builder` in a build script and `kiln compile` give the same files, byte
/// for byte: a float ONNX model quantized from calibration samples (with
/// each observer) and a pre-quantized (QDQ) one.
#[test]
fn builder_writes_what_compile_writes() {
    let scratch = common::ScratchDir::new("cli");
    let onnx = repo().join("examples/onnx");
    let calibration = onnx.join("data/calibration.npy");
    let cases = [
        ("digits_cnn.onnx", Some(("min-max", ObserverKind::MinMax))),
        ("digits_cnn.onnx", Some(("mse", ObserverKind::Mse))),
        (
            "digits_cnn.onnx",
            Some(("percentile", ObserverKind::Percentile)),
        ),
        ("digits_cnn_qdq.onnx", None),
    ];
    for (k, (model, observer)) in cases.into_iter().enumerate() {
        let model = onnx.join(model);
        let cli_dir = scratch.join(format!("builder-cli-{k}"));
        let builder_dir = scratch.join(format!("builder-lib-{k}"));
        let mut args = vec![
            "compile".to_string(),
            model.display().to_string(),
            "-o".into(),
            cli_dir.display().to_string(),
            "--name".into(),
            "net".into(),
        ];
        let mut builder = kiln_codegen::Builder::new(&model)
            .module("net")
            .out_dir(&builder_dir);
        if let Some((flag, kind)) = observer {
            args.extend([
                "--calibrate".into(),
                calibration.display().to_string(),
                "--observer".into(),
                flag.into(),
            ]);
            builder = builder.calibrate(&calibration).observer(kind);
        }
        kiln(&args.iter().map(String::as_str).collect::<Vec<_>>());
        builder.generate().unwrap();
        for file in ["net.rs", "net.weights.bin"] {
            let cli = std::fs::read(cli_dir.join(file)).unwrap();
            let lib = std::fs::read(builder_dir.join(file)).unwrap();
            assert!(cli == lib, "{file} differs for case {k} ({model:?})");
        }
        let module = std::fs::read_to_string(builder_dir.join("net.rs")).unwrap();
        assert!(module.contains("Conv2dOp {"), "an int8 model expected");
    }
}

/// A pre-quantized (QDQ) ONNX model: `compile` writes the int8 module
/// without calibration data, `inspect` shows int8 ops, and `validate`
/// compares its float ops with its int8 model.
#[test]
fn qdq_onnx_compiles_inspects_and_validates_as_int8() {
    let scratch = common::ScratchDir::new("cli");
    let examples = repo().join("examples/onnx");
    let model = examples.join("digits_cnn_qdq.onnx");
    let dir = scratch.join("qdq");
    let out = kiln(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(out.contains("wrote"), "{out}");
    let module = std::fs::read_to_string(dir.join("digits_cnn_qdq.rs")).unwrap();
    assert!(
        module.contains("Op::Conv2d(") && !module.contains("Op::Conv2dF32("),
        "int8 convolutions expected"
    );
    assert!(
        module.contains("Op::Quantize(") && module.contains("Op::Dequantize("),
        "float interface expected"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&kiln(&["inspect", model.to_str().unwrap(), "--json"])).unwrap();
    let text = inspect.to_string();
    assert!(
        text.contains("\"int8\"") && inspect["compilable"] == true,
        "{text}"
    );
    let summary: serde_json::Value = serde_json::from_str(&kiln(&[
        "validate",
        model.to_str().unwrap(),
        "--data",
        examples.join("data/test_x.npy").to_str().unwrap(),
        "--labels",
        examples.join("data/test_y.npy").to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let float = summary["float_accuracy"].as_f64().unwrap();
    let int8 = summary["int8_accuracy"].as_f64().unwrap();
    assert!(float > 0.95 && float - int8 <= 0.01, "{summary}");
}

/// `kiln inspect MODEL | head`: a reader that stops early ends kiln
/// quietly, with no panic message.
#[test]
fn closed_stdout_is_not_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // every write now fails with a broken pipe
    let model = repo().join("examples/digits/digits_int8.tflite");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["inspect", model.to_str().unwrap()])
        .stdout(writer)
        .output()
        .expect("run kiln");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// `kiln ops` prints the support matrix that `docs/ops.md` shows (below
/// its marker), and `--json` the same rows with their counts.
#[test]
fn ops_prints_the_matrix_docs_ops_md_holds() {
    let table = kiln(&["ops"]);
    let page = std::fs::read_to_string(repo().join("docs/ops.md")).unwrap();
    let (_, shown) = page
        .split_once("<!-- table -->\n")
        .expect("docs/ops.md has the table marker");
    assert!(
        shown == table,
        "docs/ops.md is not `kiln ops`'s output; regenerate it as the page says"
    );
    let json: serde_json::Value = serde_json::from_str(&kiln(&["ops", "--json"])).unwrap();
    let ops = json["ops"].as_array().unwrap();
    assert_eq!(
        ops.len(),
        table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| op ") && !l.starts_with("| ---"))
            .count()
    );
    let row = |name: &str| {
        ops.iter()
            .find(|o| o["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(row("SVDF")["int8"], "yes");
    assert_eq!(row("CONV_2D")["float32"], "yes");
    assert_eq!(row("UNIDIRECTIONAL_SEQUENCE_LSTM")["int8"], "yes");
    assert_eq!(row("BATCH_MATMUL")["int8"], "yes");
    assert_eq!(row("GATHER")["int8"], "yes");
    assert_eq!(row("GATHER_ND")["int8"], "yes");
    assert_eq!(row("IF")["int8"], "yes");
    assert_eq!(row("WHILE")["int8"], "yes");
    assert_eq!(row("CIRCULAR_BUFFER")["int8"], "yes");
    assert_eq!(row("ethos-u")["int8"], "no");
    assert_eq!(row("SignalWindow")["kind"], "custom");
    let supported = json["builtin"]["supported"].as_u64().unwrap();
    assert!(table.starts_with(&format!("kiln runs {supported} of TFLM's")));
}

/// The op table stays aligned when an op's name is longer than the usual
/// column (a custom op's, CUSTOM(SignalFftAutoScale)).
#[test]
fn inspect_aligns_long_op_names() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/op_zoo/signal_fft_auto_scale.tflite");
    let text = kiln(&["inspect", model.to_str().unwrap()]);
    let header = text.lines().find(|l| l.contains("attributes")).unwrap();
    let column = header.find("attributes").unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .filter(|l| l.contains("CUSTOM(SignalFftAutoScale)"))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for row in rows {
        assert_eq!(row.find("the "), Some(column), "{text}");
    }
}
