//! The CUDA backend: every kernel compiles to PTX with NVRTC for sm_80 and
//! sm_90 (needs NVRTC, not a GPU); the same CUDA C, run on the CPU through
//! `tests/cuda/host_driver.cpp`, gives the Rust kernels' bytes for every model
//! on golden and random inputs; and on a machine with a GPU, the GPU gives
//! the CPU's bytes. `kiln validate` is exercised on both devices.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::host::{batch, cuda, HostError};
use kiln::Op;
use kiln_codegen::npy;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Every model this test can reach: the project's own, and the shared ones.
fn models() -> Vec<(String, PathBuf, Vec<PathBuf>)> {
    let zoo = repo().join("tests/fixtures/op_zoo");
    let mut list = vec![
        (
            "digits".to_string(),
            repo().join("examples/digits/digits_int8.tflite"),
            vec![repo().join("examples/digits/samples")],
        ),
        (
            "motion".to_string(),
            repo().join("examples/motion/motion_int8.tflite"),
            vec![repo().join("examples/motion/samples")],
        ),
        (
            "onnx_ops".to_string(),
            repo().join("tests/fixtures/onnx_ops/onnx_ops.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/onnx_ops")],
        ),
        (
            "shape_arith".to_string(),
            repo().join("tests/fixtures/onnx_ops/shape_arith.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/shape_arith")],
        ),
        (
            "reduce_mean".to_string(),
            repo().join("tests/fixtures/onnx_ops/reduce_mean.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/reduce_mean")],
        ),
        (
            "attention".to_string(),
            repo().join("tests/fixtures/onnx_ops/attention.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/attention")],
        ),
        (
            "where".to_string(),
            repo().join("tests/fixtures/onnx_ops/where.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/where")],
        ),
        (
            "if".to_string(),
            repo().join("tests/fixtures/onnx_ops/if.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/if")],
        ),
        (
            "gelu_norm".to_string(),
            repo().join("tests/fixtures/onnx_ops/gelu_norm.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/gelu_norm")],
        ),
        (
            "arg_extreme".to_string(),
            repo().join("tests/fixtures/onnx_ops/arg_extreme.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/arg_extreme")],
        ),
        (
            "layer_norm".to_string(),
            repo().join("tests/fixtures/onnx_ops/layer_norm.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/layer_norm")],
        ),
        (
            "onnx_gru".to_string(),
            repo().join("tests/fixtures/onnx_ops/gru.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/gru")],
        ),
        (
            "onnx_lstm".to_string(),
            repo().join("tests/fixtures/onnx_ops/lstm.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/lstm")],
        ),
        (
            "onnx_lstm_peepholes".to_string(),
            repo().join("tests/fixtures/onnx_ops/lstm_peepholes.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/lstm_peepholes")],
        ),
        (
            "onnx_rnn_directions".to_string(),
            repo().join("tests/fixtures/onnx_ops/rnn_directions.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/rnn_directions")],
        ),
        (
            "onnx_rnn_initial_states".to_string(),
            repo().join("tests/fixtures/onnx_ops/rnn_initial_states.onnx"),
            vec![repo().join("tests/fixtures/onnx_ops/rnn_initial_states")],
        ),
        (
            "svdf_float".to_string(),
            zoo.join("svdf_float.tflite"),
            vec![zoo.join("svdf_float")],
        ),
    ];
    list.extend(common::OP_ZOO.iter().chain(common::FLOAT_ZOO).map(|&z| {
        (
            z.to_string(),
            zoo.join(format!("{z}.tflite")),
            vec![zoo.join(z)],
        )
    }));
    if let Some(shared) = common::shared_dir(&repo()) {
        for &(name, file) in common::INT8_MODELS.iter().chain(common::FLOAT_MODELS) {
            let g = shared.join("golden").join(name);
            list.push((
                name.to_string(),
                shared.join("models").join(file),
                vec![g.clone(), g.join("real")],
            ));
        }
    }
    list
}

/// `count` samples for the model's single input: the golden ones, then
/// pseudo-random ones (integers uniform, or float32 in [-3, 3]).
fn samples(
    model: &kiln_codegen::CompiledModel,
    dirs: &[PathBuf],
    count: usize,
    seed: u64,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n_inputs = model.inputs.len();
    for dir in dirs {
        for k in 0.. {
            let single = dir.join(format!("input_{k}.npy"));
            let files: Vec<PathBuf> = if single.exists() {
                vec![single]
            } else {
                (0..n_inputs)
                    .map(|i| dir.join(format!("input_{k}_{i}.npy")))
                    .take_while(|p| p.exists())
                    .collect()
            };
            if files.len() != n_inputs || files.is_empty() {
                break;
            }
            out.push(
                files
                    .iter()
                    .flat_map(|f| npy::read(f).unwrap().data)
                    .collect(),
            );
        }
    }
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while out.len() < count {
        let mut sample = Vec::new();
        for io in &model.inputs {
            for _ in 0..io.elements() {
                match io.dtype {
                    kiln::DType::F32 => {
                        sample.extend(((next() % 6001) as f32 / 1000.0 - 3.0).to_le_bytes())
                    }
                    other => sample.extend(&next().to_le_bytes()[..other.size()]),
                }
            }
        }
        out.push(sample);
    }
    out.truncate(count);
    out
}

/// Per model input, every sample's bytes back to back.
fn stacked(model: &kiln_codegen::CompiledModel, samples: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut per_input = vec![Vec::new(); model.inputs.len()];
    for s in samples {
        let mut at = 0;
        for (i, io) in model.inputs.iter().enumerate() {
            per_input[i].extend_from_slice(&s[at..at + io.span.len as usize]);
            at += io.span.len as usize;
        }
    }
    per_input
}

/// Each sample's outputs after running `graph` `runs` times on one
/// executor (each run from the state the last left), stacked per output.
fn run_repeatedly(
    graph: &kiln::Graph,
    inputs: &[&[u8]],
    samples: usize,
    runs: usize,
) -> Vec<Vec<u8>> {
    let mut outputs = vec![Vec::new(); graph.outputs.len()];
    let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
    for k in 0..samples {
        arena.fill(0);
        let mut exec = kiln::Executor::new(graph, bytemuck::cast_slice_mut(&mut arena)).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            let len = input.len() / samples;
            exec.set_input(i, &input[k * len..][..len]).unwrap();
        }
        for _ in 0..runs {
            exec.run();
        }
        for (o, out) in outputs.iter_mut().enumerate() {
            out.extend_from_slice(exec.output(o).unwrap());
        }
    }
    outputs
}

/// int8 outputs must be identical; float32 ones may differ only where
/// exp/tanh come from a different math library (CUDA's or glibc's vs libm).
fn same_outputs(graph: &kiln::Graph, a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    a.len() == b.len()
        && graph
            .outputs
            .iter()
            .zip(a.iter().zip(b))
            .all(|(io, (x, y))| {
                if io.dtype == kiln::DType::F32 {
                    common::floats_close(&common::f32s(x), &common::f32s(y))
                } else {
                    x == y
                }
            })
}

#[test]
fn every_kernel_compiles_to_ptx_for_sm_80_and_sm_90() {
    if !cuda::compiler_available() {
        assert!(!in_ci(), "NVRTC is missing and CI is set: .ci/run installs nvidia-cuda-nvrtc-cu12 and sets LD_LIBRARY_PATH");
        eprintln!("skipped: NVRTC not found (pip install nvidia-cuda-nvrtc-cu12; add nvidia/cuda_nvrtc/lib to LD_LIBRARY_PATH)");
        return;
    }
    for arch in ["sm_80", "sm_90"] {
        let ptx = cuda::compile(arch)
            .unwrap_or_else(|e| panic!("{arch}: {e}"))
            .to_src();
        for name in Op::CUDA_KERNELS.iter().filter(|k| !k.is_empty()) {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{arch}: no entry {name} in the PTX"
            );
        }
        // Compiled with --fmad=false: a fused multiply-add rounds once where
        // the CPU kernels round twice, so no kernel's own arithmetic may be
        // contracted into one. The only fused ops left are inside CUDA's
        // expf, tanhf, sqrtf, logf, sinf, cosf, erff and fmodf (explicit
        // fmaf in its math library), which the float unary functions,
        // LOGISTIC, SOFTMAX, LOG_SOFTMAX, TANH, the float LSTM and GRU,
        // FLOOR_MOD and the detection post-process (exp, in double) call;
        // their outputs are compared with a
        // tolerance (`same_outputs`), as glibc's exp differs from libm's too.
        let mut function = "";
        let mut fused = std::collections::BTreeSet::new();
        for line in ptx.lines() {
            if let Some(name) = line.split(".entry ").nth(1).or(line.split(".func ").nth(1)) {
                function = name;
            }
            if line.contains("fma.") {
                fused.insert(function);
            }
        }
        let math_library: std::collections::BTreeSet<&str> = [
            "kiln_unary_f32(",
            "kiln_logistic_f32(",
            "kiln_softmax_f32(",
            "kiln_log_softmax(",
            "kiln_tanh_f32(",
            "kiln_lstm_f32(",
            "kiln_gru_f32(",
            "kiln_floor_mod_f32(",
            "kiln_detection_postprocess(",
        ]
        .into();
        let contracted: Vec<_> = fused.difference(&math_library).collect();
        assert!(
            contracted.is_empty(),
            "{arch}: fused float ops in: {contracted:?}"
        );
        assert!(ptx.contains("mul.rn.f32") && ptx.contains("add.rn.f32"));
        println!(
            "{arch}: {} kernels, {} bytes of PTX",
            Op::CUDA_KERNELS.len(),
            ptx.len()
        );
    }
}

/// Builds the CUDA kernels for the CPU: `kiln_kernels.cu` is what NVRTC
/// compiles (the generated declarations, whose static asserts check every
/// descriptor's C layout against Rust's, then every kernel file).
fn build_host_driver(dir: &Path) -> Option<PathBuf> {
    let exe = dir.join("host_driver");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cuda/host_driver.cpp");
    std::fs::write(dir.join("kiln_kernels.cu"), cuda::source()).unwrap();
    let status = Command::new("g++")
        .args(["-O2", "-std=c++17", "-fwrapv", "-ffp-contract=off", "-o"])
        .arg(&exe)
        .arg(&source)
        .arg("-I")
        .arg(dir)
        .status();
    match status {
        Ok(s) if s.success() => Some(exe),
        Ok(s) => panic!("g++ failed to build the kernels for the CPU ({s})"),
        Err(e) => {
            assert!(!in_ci(), "g++ is missing and CI is set: {e}");
            eprintln!("skipped: g++ not found ({e})");
            None
        }
    }
}

/// Runs a graph's CUDA plan through the CPU build of the kernels, `runs`
/// times over one arena image (a stateful graph's later runs read the
/// state the earlier ones left).
fn run_kernels_on_cpu(
    exe: &Path,
    dir: &Path,
    graph: &kiln::Graph,
    inputs: &[&[u8]],
    samples: usize,
    runs: usize,
) -> Vec<Vec<u8>> {
    let plan = cuda::plan::plan(graph);
    let arena_bytes = plan.arena_bytes;
    let mut job = Vec::new();
    let u64le = |v: usize| (v as u64).to_le_bytes();
    job.extend(u64le(arena_bytes));
    job.extend(u64le(samples));
    job.extend(u64le(plan.params.len()));
    job.extend(&plan.params);
    job.extend(u64le(graph.weights.len()));
    job.extend(graph.weights);
    job.extend(u64le(plan.launches.len() * runs));
    for l in plan
        .launches
        .iter()
        .cycle()
        .take(plan.launches.len() * runs)
    {
        job.extend(u64le(l.kernel.len()));
        job.extend(l.kernel.as_bytes());
        job.extend(u64le(l.params.start));
    }
    job.extend(cuda::arena_image(graph, arena_bytes, inputs, 0, samples));
    let (job_path, out_path) = (dir.join("job.bin"), dir.join("out.bin"));
    std::fs::write(&job_path, job).unwrap();
    let status = Command::new(exe)
        .arg(&job_path)
        .arg(&out_path)
        .status()
        .unwrap();
    assert!(status.success(), "host driver failed: {status}");
    let image = std::fs::read(&out_path).unwrap();
    graph
        .outputs
        .iter()
        .map(|o| {
            let len = o.span.len as usize;
            (0..samples)
                .flat_map(|k| image[k * arena_bytes + o.span.offset as usize..][..len].to_vec())
                .collect()
        })
        .collect()
}

#[test]
fn cuda_kernels_run_on_the_cpu_match_the_rust_kernels() {
    let dir = common::ScratchDir::new("cuda");
    let Some(exe) = build_host_driver(&dir) else {
        return;
    };
    let mut used = std::collections::BTreeSet::new();
    for (name, path, golden) in models() {
        let model = kiln_codegen::compile_file(&path).unwrap();
        let graph = model.runtime_graph();
        used.extend(cuda::plan::plan(&graph).launches.iter().map(|l| l.kernel));
        let count = if model.inputs.iter().map(|i| i.span.len).sum::<u32>() > 20_000 {
            12
        } else {
            64
        };
        let samples = samples(&model, &golden, count, 0x9E37_79B9_7F4A_7C15);
        let per_input = stacked(&model, &samples);
        let refs: Vec<&[u8]> = per_input.iter().map(Vec::as_slice).collect();
        let cpu = batch::run_batch(&graph, &refs, samples.len(), 0).unwrap();
        let emulated = run_kernels_on_cpu(&exe, &dir, &graph, &refs, samples.len(), 1);
        assert!(
            same_outputs(&graph, &emulated, &cpu),
            "{name}: the CUDA kernels disagree with the Rust kernels"
        );
        if !graph.state.is_empty() {
            // Later runs read the state the earlier ones left: the kernels'
            // updates of it must agree too (four runs: a stacker by steps
            // of 3 first drops frames on the third).
            let emulated = run_kernels_on_cpu(&exe, &dir, &graph, &refs, samples.len(), 4);
            let cpu = run_repeatedly(&graph, &refs, samples.len(), 4);
            assert!(
                same_outputs(&graph, &emulated, &cpu),
                "{name}: the CUDA kernels' fourth run, from the state the first three left, disagrees with the Rust kernels'"
            );
        }
        println!("{name}: {} samples, CUDA C == Rust", samples.len());
    }
    let unused: Vec<_> = Op::CUDA_KERNELS
        .iter()
        .filter(|k| !k.is_empty() && !used.contains(*k))
        .collect();
    println!(
        "{} of {} kernels run by these models; not run: {unused:?}",
        used.len(),
        Op::CUDA_KERNELS.len()
    );
}

/// On a graph built by hand, the CUDA C run on the CPU gives the Rust
/// kernels' outputs for the kernels no model above runs (float32 LOGISTIC,
/// TANH and MAX_POOL_2D) and for cases no model reaches: PRELU (float32) on
/// infinities, and a LEAKY_RELU whose two rescalings differ in output zero
/// point and clamp.
#[test]
fn kernels_match_the_rust_kernels_on_a_graph_built_by_hand() {
    use kiln::ops::{
        Broadcast, ConstantOperand, LeakyReluOp, MaxPool2dF32Op, PReluF32Op, Pool2dF32,
        PoolGeometry, RequantizeParams, UnaryF32Op, UnaryFunction,
    };
    use kiln::tensor::{DType, FloatRange, Nhwc, Quantization, Span};

    let dir = common::ScratchDir::new("cuda-by-hand");
    let Some(exe) = build_host_driver(&dir) else {
        return;
    };
    // A [1, 4, 4, 2] float32 input at 0 and 32 int8 values at 544; each op
    // writes its own output.
    let (input, logistic, tanh, pooled, prelu) = (
        Span::new(0, 128),
        Span::new(128, 128),
        Span::new(256, 128),
        Span::new(384, 32),
        Span::new(416, 128),
    );
    let (input_s8, leaky) = (Span::new(544, 32), Span::new(576, 32));
    let rescaling = RequantizeParams {
        input_zero_point: 3,
        output_zero_point: -5,
        multiplier: 1 << 30,
        shift: 1,
        activation_min: -128,
        activation_max: 127,
    };
    let ops = [
        Op::UnaryF32(UnaryF32Op {
            function: UnaryFunction::Logistic,
            input,
            output: logistic,
        }),
        Op::UnaryF32(UnaryF32Op {
            function: UnaryFunction::Tanh,
            input,
            output: tanh,
        }),
        Op::MaxPool2dF32(MaxPool2dF32Op {
            pool: Pool2dF32 {
                geometry: PoolGeometry {
                    input: Nhwc::new(1, 4, 4, 2),
                    output: Nhwc::new(1, 2, 2, 2),
                    filter_height: 2,
                    filter_width: 2,
                    stride_height: 1,
                    stride_width: 1,
                    padding_top: 0,
                    padding_left: 0,
                    // Taps two apart: a 2x2 window reaching over 3x3.
                    dilation_height: 2,
                    dilation_width: 2,
                },
                activation: FloatRange {
                    min: -1.0,
                    max: 2.5,
                },
                input,
                output: pooled,
            },
        }),
        // Each value is its own slope.
        Op::PReluF32(PReluF32Op {
            broadcast: Broadcast {
                output_dims: [1, 1, 1, 1, 1, 32],
                input1_strides: [0, 0, 0, 0, 0, 1],
                input2_strides: [0, 0, 0, 0, 0, 1],
                same_shape: true,
            },
            constant: ConstantOperand::Neither,
            input,
            alpha: input,
            output: prelu,
        }),
        Op::LeakyRelu(LeakyReluOp {
            positive: rescaling,
            negative: RequantizeParams {
                output_zero_point: 7,
                multiplier: 1 << 29,
                shift: -1,
                activation_min: -100,
                activation_max: 50,
                ..rescaling
            },
            input: input_s8,
            output: leaky,
        }),
    ];
    let io = |span: Span, dtype: DType, dims: [u32; 4]| kiln::TensorIo {
        span,
        dtype,
        dims: [dims[0], dims[1], dims[2], dims[3], 0, 0],
        rank: 4,
        quantization: Quantization::default(),
    };
    let inputs = [
        io(input, DType::F32, [1, 4, 4, 2]),
        io(input_s8, DType::I8, [1, 1, 1, 32]),
    ];
    let outputs = [
        io(logistic, DType::F32, [1, 4, 4, 2]),
        io(tanh, DType::F32, [1, 4, 4, 2]),
        io(pooled, DType::F32, [1, 2, 2, 2]),
        io(prelu, DType::F32, [1, 4, 4, 2]),
        io(leaky, DType::I8, [1, 1, 1, 32]),
    ];
    let graph = kiln::Graph {
        ops: &ops,
        inputs: &inputs,
        outputs: &outputs,
        state: &[],
        arena_bytes: 608,
        weights: &[],
    };
    // Floats in [-8, 8] (past both functions' saturation) and one infinity
    // per sample; int8 values of every kind.
    let samples = 64;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut floats = Vec::new();
    let mut ints = Vec::new();
    for s in 0..samples {
        for e in 0..32 {
            let v = match (e == s % 32, s % 2) {
                (true, 0) => f32::INFINITY,
                (true, _) => f32::NEG_INFINITY,
                _ => (next() % 16001) as f32 / 1000.0 - 8.0,
            };
            floats.extend(v.to_le_bytes());
            ints.push(next() as u8);
        }
    }
    let data: [&[u8]; 2] = [&floats, &ints];
    let cpu = batch::run_batch(&graph, &data, samples, 0).unwrap();
    let emulated = run_kernels_on_cpu(&exe, &dir, &graph, &data, samples, 1);
    // exp and tanh come from different math libraries; the rest is exact.
    for o in 0..2 {
        assert!(
            common::floats_close(&common::f32s(&emulated[o]), &common::f32s(&cpu[o])),
            "{}: the CUDA kernel disagrees with the Rust kernel",
            ops[o].name()
        );
    }
    for o in 2..5 {
        assert!(
            emulated[o] == cpu[o],
            "{}: the CUDA kernel disagrees with the Rust kernel",
            ops[o].name()
        );
    }
    let kernels: Vec<_> = ops.iter().map(Op::cuda_kernel).collect();
    println!("{kernels:?}: {samples} samples, CUDA C == Rust");
}

#[test]
fn gpu_matches_cpu_on_ten_thousand_random_inputs_per_model() {
    let no_gpu = |why: String| eprintln!("skipped: no CUDA device ({why})");
    if !cuda::driver_available() {
        return no_gpu("no driver".into());
    }
    for (name, path, golden) in models() {
        let model = kiln_codegen::compile_file(&path).unwrap();
        let graph = model.runtime_graph();
        let runner = match cuda::CudaRunner::new(&graph) {
            Ok(r) => r,
            Err(e @ (HostError::NoDevice(_) | HostError::NoDriver)) => {
                return no_gpu(e.to_string())
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let samples = samples(&model, &golden, 10_000, 0x2545_F491_4F6C_DD1D);
        let per_input = stacked(&model, &samples);
        let refs: Vec<&[u8]> = per_input.iter().map(Vec::as_slice).collect();
        let cpu = batch::run_batch(&graph, &refs, samples.len(), 0).unwrap();
        let gpu = runner.run_batch(&refs, samples.len(), 1024).unwrap();
        let out_len = graph.outputs[0].span.len as usize;
        let float = graph.outputs[0].dtype == kiln::DType::F32;
        let differing = (0..samples.len())
            .filter(|&s| {
                let (c, g) = (
                    &cpu[0][s * out_len..(s + 1) * out_len],
                    &gpu[0][s * out_len..(s + 1) * out_len],
                );
                if float {
                    !common::floats_close(&common::f32s(g), &common::f32s(c))
                } else {
                    c != g
                }
            })
            .count();
        assert_eq!(
            differing,
            0,
            "{name}: {differing} of {} samples differ between GPU and CPU",
            samples.len()
        );
        println!(
            "{name}: {} samples byte-identical on {} and the CPU",
            samples.len(),
            runner.device()
        );
    }
}

#[test]
fn missing_cuda_is_an_error_not_a_panic() {
    if cuda::driver_available() {
        eprintln!("skipped: a CUDA driver is present");
        return;
    }
    let model =
        kiln_codegen::compile_file(&repo().join("examples/digits/digits_int8.tflite")).unwrap();
    let graph = model.runtime_graph();
    assert_eq!(
        cuda::CudaRunner::new(&graph).err(),
        Some(HostError::NoDriver)
    );
    let data = validate_data();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "validate",
            repo()
                .join("examples/digits/digits_int8.tflite")
                .to_str()
                .unwrap(),
            "--data",
        ])
        .arg(data.join("x.npy"))
        .args(["--device", "cuda"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("no CUDA driver found")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// The digits samples stacked as `kiln validate` takes them, with labels.
fn validate_data() -> common::ScratchDir {
    let dir = common::ScratchDir::new("validate");
    let samples = repo().join("examples/digits/samples");
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for k in 0..8 {
        data.extend(
            npy::read(&samples.join(format!("input_{k}.npy")))
                .unwrap()
                .data,
        );
        let label: i64 = std::fs::read_to_string(samples.join(format!("label_{k}.txt")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        labels.extend(label.to_le_bytes());
    }
    npy::write(
        &dir.join("x.npy"),
        &npy::NpyArray {
            dtype: npy::NpyType::I8,
            shape: vec![8, 8, 8, 1],
            data,
        },
    )
    .unwrap();
    npy::write(
        &dir.join("y.npy"),
        &npy::NpyArray {
            dtype: npy::NpyType::I64,
            shape: vec![8],
            data: labels,
        },
    )
    .unwrap();
    dir
}

#[test]
fn validate_reports_accuracy_and_throughput_on_the_cpu() {
    let data = validate_data();
    let (x, y) = (data.join("x.npy"), data.join("y.npy"));
    let model = repo().join("examples/digits/digits_int8.tflite");
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "validate",
            model.to_str().unwrap(),
            "--data",
            x.to_str().unwrap(),
            "--labels",
            y.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samples"], 8);
    assert!(v["inferences_per_second"].as_f64().unwrap() > 0.0);
    // The accuracy is the labels' agreement with TFLM's own outputs' classes.
    let outputs = npy::read_outputs(&repo().join("examples/digits/samples")).unwrap();
    let tflm_correct = (0..8)
        .filter(|k| {
            let out = outputs[*k].to_f64();
            let label: usize = std::fs::read_to_string(
                repo().join(format!("examples/digits/samples/label_{k}.txt")),
            )
            .unwrap()
            .trim()
            .parse()
            .unwrap();
            kiln::argmax(&out) == label
        })
        .count();
    assert_eq!(v["accuracy"].as_f64().unwrap(), tflm_correct as f64 / 8.0);

    // Wrong shapes and label counts are clear errors.
    let bad = x.with_file_name("bad.npy");
    npy::write(
        &bad,
        &npy::NpyArray {
            dtype: npy::NpyType::I8,
            shape: vec![2, 7],
            data: vec![0; 14],
        },
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "validate",
            model.to_str().unwrap(),
            "--data",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("expected [N, 8, 8, 1]"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "validate",
            model.to_str().unwrap(),
            "--data",
            x.to_str().unwrap(),
            "--labels",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("14 labels for 8 samples"));
}
