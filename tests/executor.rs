//! What a caller of the runtime can get wrong is a `kiln::Error`, checked
//! once when binding: an arena too small or misaligned, input of the wrong
//! length or type, a tensor index that does not exist, and a corrupted graph.

use std::path::Path;

use kiln::ops::Conv2dOp;
use kiln::{Error, Executor, Op, Span};

fn digits() -> kiln_codegen::CompiledModel {
    kiln_codegen::compile_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits/digits_int8.tflite"),
    )
    .unwrap()
}

fn arena(bytes: usize) -> Vec<u128> {
    vec![0; bytes.div_ceil(16) + 1]
}

#[test]
fn arena_too_small_is_an_error() {
    let model = digits();
    let graph = model.runtime_graph();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    let short = model.arena_bytes() - 1;
    assert_eq!(
        Executor::new(&graph, &mut bytes[..short]).err(),
        Some(Error::ArenaTooSmall {
            needed: model.arena_bytes() as u32,
            got: short
        })
    );
    assert!(Executor::new(&graph, &mut bytes[..model.arena_bytes()]).is_ok());
}

#[test]
fn misaligned_arena_is_an_error() {
    let model = digits();
    let graph = model.runtime_graph();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    assert_eq!(
        Executor::new(&graph, &mut bytes[1..]).err(),
        Some(Error::ArenaMisaligned)
    );
}

#[test]
fn wrong_inputs_are_errors() {
    let model = digits();
    let graph = model.runtime_graph();
    let mut a = arena(model.arena_bytes());
    let mut exec = Executor::new(&graph, bytemuck::cast_slice_mut(&mut a)).unwrap();
    assert_eq!(
        exec.set_input(0, &[0; 63]),
        Err(Error::InputLength {
            index: 0,
            expected: 64,
            got: 63
        })
    );
    assert_eq!(
        exec.set_input(1, &[0; 64]),
        Err(Error::NoSuchTensor { index: 1 })
    );
    assert_eq!(exec.output(3).err(), Some(Error::NoSuchTensor { index: 3 }));
    assert!(exec.set_input_i8(0, &[0; 64]).is_ok());
    exec.run();
    assert_eq!(exec.output(0).unwrap().len(), 10);
    let message = Error::InputLength {
        index: 0,
        expected: 64,
        got: 63,
    }
    .to_string();
    assert_eq!(message, "input #0 must be 64 bytes, got 63");
}

#[test]
fn corrupted_graphs_are_rejected_when_binding() {
    let model = digits();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);

    // An op reading past the arena.
    let mut ops = model.ops.clone();
    let Op::Conv2d(Conv2dOp { conv, .. }) = &mut ops[0] else {
        panic!("digits starts with CONV_2D")
    };
    conv.input = Span::new(model.arena_bytes() as u32, conv.input.len);
    let graph = kiln::Graph {
        ops: &ops,
        ..model.runtime_graph()
    };
    assert!(matches!(
        Executor::new(&graph, bytes),
        Err(Error::InvalidGraph { op: 0, .. })
    ));

    // Weights shorter than the filter.
    let ops = model.ops.clone();
    let graph = kiln::Graph {
        ops: &ops,
        weights: &model.weights()[..16],
        ..model.runtime_graph()
    };
    assert!(matches!(
        Executor::new(&graph, bytes),
        Err(Error::InvalidGraph { .. })
    ));

    // An output written over its own input.
    let mut ops = model.ops.clone();
    let Op::Conv2d(Conv2dOp { conv, .. }) = &mut ops[0] else {
        unreachable!()
    };
    conv.output = Span::new(conv.input.offset, conv.output.len);
    let graph = kiln::Graph {
        ops: &ops,
        ..model.runtime_graph()
    };
    let err = Executor::new(&graph, bytes).err().unwrap();
    assert!(err.to_string().contains("invalid graph at op #0"), "{err}");

    // A bool model input (the codegen never writes one).
    let mut inputs = model.inputs.clone();
    inputs[0].dtype = kiln::DType::Bool;
    let graph = kiln::Graph {
        inputs: &inputs,
        ..model.runtime_graph()
    };
    let err = Executor::new(&graph, bytes).err().unwrap();
    assert!(err.to_string().contains("a bool model input"), "{err}");
}

/// The kernel a layer names is checked with its own needs: scratch that is
/// large enough and shares no byte with the operands, non-negative
/// multipliers, one group.
#[test]
fn fast_kernels_refuse_what_they_cannot_run() {
    let model = digits();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    let mut refused = |change: &dyn Fn(&mut Conv2dOp), reason: &str| {
        let mut ops = model.ops.clone();
        let Op::Conv2d(conv) = &mut ops[0] else {
            panic!("digits starts with CONV_2D")
        };
        assert_eq!(
            conv.kernel,
            kiln::arch::KernelChoice::Gemm,
            "the codegen picks gemm"
        );
        change(conv);
        let graph = kiln::Graph {
            ops: &ops,
            ..model.runtime_graph()
        };
        let err = Executor::new(&graph, &mut bytes[..]).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains(reason), "{reason}: got {text:?}");
    };
    refused(&|c| c.scratch.len = 2, "scratch too small");
    refused(
        &|c| c.scratch = Span::new(c.conv.input.offset, c.scratch.len),
        "scratch overlaps",
    );
    refused(
        &|c| c.kernel = kiln::arch::KernelChoice::DepthwiseBlocked,
        "kernel not available",
    );
    // The unchanged graph binds.
    assert!(Executor::new(&model.runtime_graph(), bytes).is_ok());
}

/// Variable tensors start from their reset value (a fill byte, or initial
/// bytes of the weights) when an executor binds, and `reset_state`
/// restores it; a state span past the arena, two that share bytes, and an
/// initial value outside the weights or of another size are refused.
#[test]
fn state_is_reset_when_binding_and_on_request() {
    use kiln::StateTensor;
    let model = digits();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    bytes.fill(0x55);
    let state = [
        StateTensor {
            span: Span::new(0, 6),
            fill: -3,
            initial: Span::EMPTY,
        },
        StateTensor {
            span: Span::new(16, 4),
            fill: 0,
            initial: Span::EMPTY,
        },
        StateTensor {
            span: Span::new(32, 4),
            fill: 0,
            initial: Span::new(4, 4),
        },
    ];
    let graph = kiln::Graph {
        state: &state,
        ..model.runtime_graph()
    };
    Executor::new(&graph, &mut bytes[..]).unwrap();
    assert_eq!(bytes[..6], [0xFD; 6]);
    assert_eq!(bytes[6..16], [0x55; 10], "bytes between states untouched");
    assert_eq!(bytes[16..20], [0; 4]);
    let weights = graph.weights;
    assert_ne!(weights[4..8], [0x55; 4]);
    assert_eq!(bytes[32..36], weights[4..8], "the initial value");
    bytes[..40].fill(7);
    Executor::new(&graph, &mut bytes[..]).unwrap().reset_state();
    assert_eq!(bytes[..6], [0xFD; 6]);
    assert_eq!(bytes[32..36], weights[4..8]);

    let refused = |state: &[StateTensor], reason: &str| {
        let graph = kiln::Graph {
            state,
            ..model.runtime_graph()
        };
        let err = kiln::exec::validate(&graph).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains(reason), "{reason}: got {text:?}");
    };
    let past = StateTensor {
        span: Span::new(model.arena_bytes() as u32 - 2, 4),
        fill: 0,
        initial: Span::EMPTY,
    };
    refused(&[past], "outside the arena");
    let overlapping = StateTensor {
        span: Span::new(4, 4),
        fill: 0,
        initial: Span::EMPTY,
    };
    refused(&[state[0], overlapping], "share bytes");
    let beyond = StateTensor {
        initial: Span::new(weights.len() as u32 - 2, 4),
        ..state[2]
    };
    refused(&[beyond], "outside the weights");
    let shorter = StateTensor {
        initial: Span::new(4, 3),
        ..state[2]
    };
    refused(&[shorter], "does not match");
}

/// Compiles the resize fixture, lets `edit` change its RESIZE_NEAREST_NEIGHBOR
/// (whose spans it has emptied), and returns the error `Executor::new` gives
/// with the index of the op it names.
fn resize_refusal(edit: impl FnOnce(&mut kiln::kernels::resize::ResizeParams)) -> (usize, String) {
    let model = kiln_codegen::compile_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op_zoo/resize.tflite"),
    )
    .unwrap();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    let mut ops = model.ops.clone();
    let (index, params) = ops
        .iter_mut()
        .enumerate()
        .find_map(|(i, op)| match op {
            Op::ResizeNearest(r) => {
                // Spans of no bytes, as tensors of no values need.
                r.input.len = 0;
                r.output.len = 0;
                Some((i, &mut r.params))
            }
            _ => None,
        })
        .expect("the resize fixture has a RESIZE_NEAREST_NEIGHBOR");
    edit(params);
    let graph = kiln::Graph {
        ops: &ops,
        ..model.runtime_graph()
    };
    let err = Executor::new(&graph, bytes).err().expect("refused");
    (index, err.to_string())
}

/// A resize whose pixels hold no values reaches no byte, so the span checks
/// pass; billions of such pixels would run for hours. It is refused.
#[test]
fn a_resize_of_empty_pixels_is_refused() {
    let (index, err) = resize_refusal(|p| {
        p.depth = 0;
        p.batches = 1 << 10;
        p.output_height = 1 << 12;
        p.output_width = 1 << 12;
    });
    assert!(
        err.contains(&format!("invalid graph at op #{index}")),
        "{err}"
    );
    assert!(err.contains("empty tensor"), "{err}");
}

/// Any op's tensor of no values is refused, whichever dimension is zero:
/// the others could still drive its loops.
#[test]
fn an_empty_tensor_is_refused() {
    let (index, err) = resize_refusal(|p| {
        p.batches = 0;
        p.output_height = 1 << 12;
        p.output_width = 1 << 12;
    });
    assert!(
        err.contains(&format!("invalid graph at op #{index}")),
        "{err}"
    );
    assert!(err.contains("empty tensor"), "{err}");
}

/// A log whose input correction would shift a uint32 by 32 bits or more
/// (undefined in TFLM's C) is refused when the graph is bound, as a
/// corrupted blob could carry one.
#[test]
fn a_log_correction_of_32_bits_is_refused() {
    let model = kiln_codegen::compile_file(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/op_zoo/signal_filter_bank_log.tflite"),
    )
    .unwrap();
    let mut a = arena(model.arena_bytes());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    let mut ops = model.ops.clone();
    match ops.first_mut() {
        Some(Op::SignalFilterBankLog(log)) => log.correction_bits = 32,
        other => panic!("the fixture is one SignalFilterBankLog, not {other:?}"),
    }
    let graph = kiln::Graph {
        ops: &ops,
        ..model.runtime_graph()
    };
    let err = Executor::new(&graph, bytes).err().expect("refused");
    assert!(
        err.to_string()
            .contains("log input correction of 32 bits or more"),
        "{err}"
    );
}
