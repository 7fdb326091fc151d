//! The generated Rust module: weights as one aligned `static` pulled in with
//! `include_bytes!` (so large models compile quickly), each op as a `const`
//! descriptor, the same graph as `kiln::Graph` data, and a `Model` whose
//! `run` calls the ops in order with no dispatch and no run-time checks.
//!
//! Layer: emit; uses `lower` and the runtime's `graph`. Op descriptors are
//! printed with their `Debug` form, which is valid Rust for these plain
//! structs; the integration tests compile every generated module.

use std::fmt::Write;

use kiln::graph::Op;
use kiln::{DType, TensorIo};

use crate::lower::CompiledModel;

/// The Rust type of an element of `dtype`.
fn rust_type(dtype: DType) -> &'static str {
    match dtype {
        DType::I8 => "i8",
        DType::I16 => "i16",
        DType::I32 => "i32",
        DType::F32 => "f32",
    }
}

/// `(variant, struct literal, run call)` of one op.
fn describe(op: &Op) -> (&'static str, String, &'static str) {
    match op {
        Op::Conv2d(o) => ("Conv2d", format!("{o:?}"), "run(arena, weights)"),
        Op::TransposeConv2d(o) => (
            "TransposeConv2d",
            format!("{o:?}"),
            "run_transposed(arena, weights)",
        ),
        Op::DepthwiseConv2d(o) => ("DepthwiseConv2d", format!("{o:?}"), "run(arena, weights)"),
        Op::FullyConnected(o) => ("FullyConnected", format!("{o:?}"), "run(arena, weights)"),
        Op::AveragePool2d(o) => ("AveragePool2d", format!("{o:?}"), "run_average(arena)"),
        Op::MaxPool2d(o) => ("MaxPool2d", format!("{o:?}"), "run_max(arena)"),
        Op::Add(o) => ("Add", format!("{o:?}"), "run(arena, weights)"),
        Op::Sub(o) => ("Sub", format!("{o:?}"), "run_sub(arena, weights)"),
        Op::PRelu(o) => ("PRelu", format!("{o:?}"), "run(arena, weights)"),
        Op::Mul(o) => ("Mul", format!("{o:?}"), "run(arena, weights)"),
        Op::Softmax(o) => ("Softmax", format!("{o:?}"), "run(arena)"),
        Op::Logistic(o) => ("Logistic", format!("{o:?}"), "run_logistic(arena)"),
        Op::Tanh(o) => ("Tanh", format!("{o:?}"), "run_tanh(arena)"),
        Op::Requantize(o) => ("Requantize", format!("{o:?}"), "run(arena)"),
        Op::LeakyRelu(o) => ("LeakyRelu", format!("{o:?}"), "run(arena)"),
        Op::HardSwish(o) => ("HardSwish", format!("{o:?}"), "run(arena)"),
        Op::Concatenation(o) => ("Concatenation", format!("{o:?}"), "run(arena)"),
        Op::Pad(o) => ("Pad", format!("{o:?}"), "run(arena)"),
        Op::Mean(o) => ("Mean", format!("{o:?}"), "run(arena)"),
        Op::Quantize(o) => ("Quantize", format!("{o:?}"), "run_quantize(arena)"),
        Op::Dequantize(o) => ("Dequantize", format!("{o:?}"), "run_dequantize(arena)"),
        Op::Conv2dF32(o) => ("Conv2dF32", format!("{o:?}"), "run(arena, weights)"),
        Op::DepthwiseConv2dF32(o) => (
            "DepthwiseConv2dF32",
            format!("{o:?}"),
            "run(arena, weights)",
        ),
        Op::FullyConnectedF32(o) => ("FullyConnectedF32", format!("{o:?}"), "run(arena, weights)"),
        Op::AveragePool2dF32(o) => ("AveragePool2dF32", format!("{o:?}"), "run_average(arena)"),
        Op::MaxPool2dF32(o) => ("MaxPool2dF32", format!("{o:?}"), "run_max(arena)"),
        Op::AddF32(o) => ("AddF32", format!("{o:?}"), "run_add(arena, weights)"),
        Op::MulF32(o) => ("MulF32", format!("{o:?}"), "run_mul(arena, weights)"),
        Op::SoftmaxF32(o) => ("SoftmaxF32", format!("{o:?}"), "run(arena)"),
        Op::LogisticF32(o) => ("LogisticF32", format!("{o:?}"), "run_logistic(arena)"),
        Op::TanhF32(o) => ("TanhF32", format!("{o:?}"), "run_tanh(arena)"),
        Op::ClampF32(o) => ("ClampF32", format!("{o:?}"), "run_clamp(arena)"),
        Op::Transpose(o) => ("Transpose", format!("{o:?}"), "run(arena)"),
        Op::SubF32(o) => ("SubF32", format!("{o:?}"), "run_sub(arena, weights)"),
        Op::TransposeConv2dF32(o) => (
            "TransposeConv2dF32",
            format!("{o:?}"),
            "run_transposed(arena, weights)",
        ),
        Op::Slice(o) => ("Slice", format!("{o:?}"), "run(arena)"),
        Op::MeanF32(o) => ("MeanF32", format!("{o:?}"), "run_f32(arena)"),
        Op::PadF32(o) => ("PadF32", format!("{o:?}"), "run(arena)"),
        Op::PReluF32(o) => ("PReluF32", format!("{o:?}"), "run_prelu(arena, weights)"),
        Op::DivF32(o) => ("DivF32", format!("{o:?}"), "run_div(arena, weights)"),
        Op::LeakyReluF32(o) => ("LeakyReluF32", format!("{o:?}"), "run_leaky_relu(arena)"),
        Op::HardSigmoidF32(o) => (
            "HardSigmoidF32",
            format!("{o:?}"),
            "run_hard_sigmoid(arena, false)",
        ),
        Op::HardSwishF32(o) => (
            "HardSwishF32",
            format!("{o:?}"),
            "run_hard_sigmoid(arena, true)",
        ),
    }
}

/// `Debug` prints non-finite floats as `inf`, `-inf` and `NaN`, which are
/// not Rust; a model may carry them (an unbounded Clip, an infinite pad).
fn finite_literals(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "inf" => "f32::INFINITY",
            "NaN" => "f32::NAN",
            w => w,
        });
        word.clear();
    };
    for ch in debug.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == '.' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn struct_name(literal: &str) -> &str {
    literal.split([' ', '{']).next().unwrap_or("")
}

fn tensor_io(t: &TensorIo) -> String {
    format!(
        "TensorIo {{ span: {:?}, dtype: DType::{:?}, dims: {:?}, rank: {}, quantization: {:?} }}",
        t.span, t.dtype, t.dims, t.rank, t.quantization
    )
}

/// Writes one I/O tensor's constants: `{PREFIX}_LEN`, `_SHAPE`, `_SCALE`,
/// `_ZERO_POINT` and the private `_OFFSET`.
fn io_consts(s: &mut String, prefix: &str, what: &str, t: &TensorIo) {
    let shape: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let _ = writeln!(s, "/// Number of {} values in {what}.", rust_type(t.dtype));
    let _ = writeln!(s, "pub const {prefix}_LEN: usize = {};", t.elements());
    let _ = writeln!(
        s,
        "pub const {prefix}_SHAPE: [usize; {}] = [{}];",
        shape.len(),
        shape.join(", ")
    );
    let _ = writeln!(
        s,
        "/// Quantization of {what}: real = scale * (q - zero_point)."
    );
    let _ = writeln!(
        s,
        "pub const {prefix}_SCALE: f32 = {:?};",
        t.quantization.scale
    );
    let _ = writeln!(
        s,
        "pub const {prefix}_ZERO_POINT: i32 = {};",
        t.quantization.zero_point
    );
    let _ = writeln!(s, "const {prefix}_OFFSET: usize = {};", t.span.offset);
    let _ = writeln!(
        s,
        "const _: () = assert!({prefix}_OFFSET + {prefix}_LEN * core::mem::size_of::<{}>() <= ARENA_BYTES);\n",
        rust_type(t.dtype)
    );
}

/// The module source. `weights_file` is the name of the weights binary,
/// which must sit beside the module file.
pub fn module(model: &CompiledModel, weights_file: &str) -> String {
    let source = model
        .source()
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// @generated by kiln-codegen {} from `{source}`. Do not edit.",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(s, "//");
    let _ = writeln!(
        s,
        "// Include it with `include!`; it needs the `kiln` crate. `Model::run` performs"
    );
    let _ = writeln!(
        s,
        "// one inference in the caller's arena; `GRAPH` is the same model as data."
    );
    s += "#[allow(unused_imports)]\nuse kiln::graph::*;\n#[allow(unused_imports)]\nuse kiln::kernels::{activation::*, conv2d::*, depthwise_conv2d::*, elementwise::*, fully_connected::*, mean::*, pad::*, pooling::*, quantize::*, slice::*, softmax::*, transpose::*};\n#[allow(unused_imports)]\nuse kiln::tensor::*;\n\n";
    let macs: u64 = model
        .graph
        .nodes
        .iter()
        .map(|n| crate::report::macs(&model.graph, n))
        .sum();
    let _ = writeln!(s, "/// Bytes of working memory (RAM) one inference needs.");
    let _ = writeln!(s, "pub const ARENA_BYTES: usize = {};", model.arena_bytes());
    let _ = writeln!(
        s,
        "/// Bytes of constants (weights, biases, requantization params) in flash."
    );
    let _ = writeln!(
        s,
        "pub const WEIGHTS_BYTES: usize = {};",
        model.weights().len()
    );
    let _ = writeln!(s, "/// Multiply-accumulates per inference.");
    let _ = writeln!(s, "pub const MACS: u64 = {macs};\n");
    let single = |list: &[TensorIo]| list.len() == 1;
    for (i, t) in model.inputs.iter().enumerate() {
        let prefix = if single(&model.inputs) {
            "INPUT".to_string()
        } else {
            format!("INPUT{i}")
        };
        io_consts(&mut s, &prefix, &format!("input #{i}"), t);
    }
    for (i, t) in model.outputs.iter().enumerate() {
        let prefix = if single(&model.outputs) {
            "OUTPUT".to_string()
        } else {
            format!("OUTPUT{i}")
        };
        io_consts(&mut s, &prefix, &format!("output #{i}"), t);
    }
    let _ = writeln!(s, "static WEIGHTS: kiln::Aligned<[u8; WEIGHTS_BYTES]> = kiln::Aligned(*include_bytes!(\"{weights_file}\"));\n");

    let mut variants = Vec::new();
    let mut calls = String::new();
    for (k, op) in model.ops.iter().enumerate() {
        let node = &model.graph.nodes[model.op_nodes[k]];
        let (variant, literal, call) = describe(op);
        let literal = finite_literals(&literal);
        let _ = writeln!(s, "/// #{} {}", model.op_nodes[k], node.source_name);
        let _ = writeln!(s, "const OP_{k}: {} = {literal};", struct_name(&literal));
        variants.push(format!("Op::{variant}(OP_{k})"));
        let _ = writeln!(calls, "        OP_{k}.{call}; // {}", node.source_name);
    }
    let _ = writeln!(
        s,
        "\n/// The ops in execution order, as data (for `kiln::Executor`)."
    );
    let _ = writeln!(
        s,
        "pub static OPS: [Op; {}] = [{}];",
        variants.len(),
        variants.join(", ")
    );
    let ios = |l: &[TensorIo]| l.iter().map(tensor_io).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        s,
        "pub static INPUTS: [TensorIo; {}] = [{}];",
        model.inputs.len(),
        ios(&model.inputs)
    );
    let _ = writeln!(
        s,
        "pub static OUTPUTS: [TensorIo; {}] = [{}];",
        model.outputs.len(),
        ios(&model.outputs)
    );
    let _ = writeln!(
        s,
        "/// The whole model as data: what `Model::run` executes, for the interpreter."
    );
    let _ = writeln!(
        s,
        "pub static GRAPH: kiln::Graph<'static> = kiln::Graph {{ ops: &OPS, inputs: &INPUTS, outputs: &OUTPUTS, arena_bytes: {}, weights: &WEIGHTS.0 }};\n",
        model.arena_bytes()
    );

    // Model::run: typed inputs and outputs, sizes checked by the compiler.
    let in_params: Vec<String> = model
        .inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = if single(&model.inputs) {
                "INPUT".into()
            } else {
                format!("INPUT{i}")
            };
            format!("input{i}: &[{}; {p}_LEN]", rust_type(t.dtype))
        })
        .collect();
    let writes: String = model
        .inputs
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let p = if single(&model.inputs) {
                "INPUT".into()
            } else {
                format!("INPUT{i}")
            };
            format!("        kiln::exec::write_input(arena, {p}_OFFSET, input{i});\n")
        })
        .collect();
    let out_prefix = |i: usize| {
        if single(&model.outputs) {
            "OUTPUT".to_string()
        } else {
            format!("OUTPUT{i}")
        }
    };
    s += "/// One model bound to its arena. Construction checks nothing: the arena's\n/// type fixes its size and alignment, and the graph was validated when it\n/// was generated.\npub struct Model<'a> {\n    arena: &'a mut kiln::Arena<ARENA_BYTES>,\n}\n\n";
    s += "impl<'a> Model<'a> {\n    pub fn new(arena: &'a mut kiln::Arena<ARENA_BYTES>) -> Self {\n        Model { arena }\n    }\n\n";
    let (ret, tail) = if single(&model.outputs) {
        let t = &model.outputs[0];
        (
            format!(" -> &[{}; OUTPUT_LEN]", rust_type(t.dtype)),
            "        kiln::exec::array_at(arena, OUTPUT_OFFSET)\n".to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    let _ = writeln!(
        s,
        "    /// Runs one inference.\n    pub fn run(&mut self, {}){ret} {{",
        in_params.join(", ")
    );
    s += "        let arena = self.arena.bytes_mut();\n        #[allow(unused_variables)]\n        let weights: &[u8] = &WEIGHTS.0;\n";
    s += &writes;
    s += &calls;
    s += &tail;
    s += "    }\n";
    for (i, t) in model.outputs.iter().enumerate() {
        let p = out_prefix(i);
        let _ = writeln!(
            s,
            "\n    /// Output #{i} of the last run.\n    pub fn output{i}(&self) -> &[{ty}; {p}_LEN] {{\n        kiln::exec::array_at(self.arena.bytes(), {p}_OFFSET)\n    }}",
            ty = rust_type(t.dtype)
        );
    }
    s += "\n    /// The arena's bytes, for other uses between inferences (nothing in it\n    /// survives from one `run` to the next).\n    pub fn arena_bytes_mut(&mut self) -> &mut [u8] {\n        self.arena.bytes_mut()\n    }\n";
    s += "}\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_become_rust_constants() {
        let op = kiln::graph::UnaryF32Op {
            activation: kiln::tensor::FloatRange {
                min: f32::NEG_INFINITY,
                max: f32::INFINITY,
            },
            alpha: f32::NAN,
            beta: 0.5,
            input: kiln::tensor::Span::new(0, 4),
            output: kiln::tensor::Span::new(16, 4),
        };
        let text = finite_literals(&format!("{op:?}"));
        assert!(text.contains("min: -f32::INFINITY"), "{text}");
        assert!(text.contains("max: f32::INFINITY"), "{text}");
        assert!(text.contains("alpha: f32::NAN"), "{text}");
        assert!(
            text.contains("beta: 0.5") && text.contains("input: Span"),
            "{text}"
        );
    }
}
