//! Build-script side of the firmware test suites.
//!
//! Layer: host tooling for `targets/`; uses `kiln-codegen`. A firmware's
//! `build.rs` calls [`generate`], which compiles the model named by
//! `KILN_MODEL` with `kiln_codegen::Builder` and embeds the reference samples
//! found in `KILN_CASES` (folders of `input_K.npy` or `input_K_I.npy` with
//! `output_K.npy` as `../shared/golden` holds them, or with one stacked
//! `outputs.npy` as the project's examples do: see `npy::read_outputs`). Without the variables it uses the project's digits example. The
//! result is `$OUT_DIR/suite.rs`: the model module, the samples, and a
//! `Suite` implementation that `kiln_target_common::run` drives.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use kiln::DType;
use kiln_codegen::npy;

struct Case {
    inputs: Vec<PathBuf>,
    /// TFLM's output bytes.
    expected: Vec<u8>,
    /// Where the case came from, for messages.
    name: String,
}

fn cases_in(dir: &Path) -> Vec<Case> {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
    let outputs = npy::read_outputs(dir).unwrap_or_else(|e| panic!("{e}"));
    let mut cases = Vec::new();
    for (k, output) in outputs.into_iter().enumerate() {
        let single = dir.join(format!("input_{k}.npy"));
        let inputs = if single.exists() {
            vec![single]
        } else {
            (0..)
                .map(|i| dir.join(format!("input_{k}_{i}.npy")))
                .take_while(|p| p.exists())
                .collect()
        };
        cases.push(Case {
            inputs,
            expected: output.data,
            name: format!("{} case {k}", dir.display()),
        });
    }
    cases
}

/// Generates `$OUT_DIR/suite.rs`. Panics with the codegen's message on any
/// error: a build script has no better way to fail.
pub fn generate() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let repo = manifest.join("../..");
    for var in [
        "KILN_MODEL",
        "KILN_CASES",
        "KILN_MAX_CASES",
        "KILN_BLOB",
        "KILN_FLASH_IMAGE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let model_path = std::env::var_os("KILN_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("examples/digits/digits_int8.tflite"));
    let case_dirs: Vec<PathBuf> = match std::env::var_os("KILN_CASES") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => vec![repo.join("examples/digits/samples")],
    };
    let max_cases: usize = std::env::var("KILN_MAX_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    println!("cargo:rerun-if-changed={}", model_path.display());

    // KILN_BLOB=1: run the model from its postcard blob through
    // kiln::blob::load and kiln::Executor instead of the generated Model::run.
    let from_blob = std::env::var("KILN_BLOB")
        .map(|v| v == "1")
        .unwrap_or(false);
    // KILN_FLASH_IMAGE=1: leave the misuse check (and with it the
    // Executor's validation code) out of the image whose flash is measured.
    let flash_image = std::env::var("KILN_FLASH_IMAGE")
        .map(|v| v == "1")
        .unwrap_or(false);
    let generated = kiln_codegen::Builder::new(&model_path)
        .module("model")
        .blob(from_blob)
        .out_dir(&out)
        .generate()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cases: Vec<Case> = case_dirs.iter().flat_map(|d| cases_in(d)).collect();
    cases.truncate(max_cases);
    assert!(!cases.is_empty(), "no reference samples in {case_dirs:?}");

    // One binary file per model input with every case's data back to back,
    // and one with the expected outputs.
    let n_inputs = generated.inputs.len();
    for i in 0..n_inputs {
        let mut bytes = Vec::new();
        for c in &cases {
            let path = c
                .inputs
                .get(i)
                .unwrap_or_else(|| panic!("{}: missing input #{i}", c.name));
            bytes.extend(npy::read(path).unwrap_or_else(|e| panic!("{e}")).data);
            println!("cargo:rerun-if-changed={}", path.display());
        }
        assert_eq!(
            bytes.len(),
            cases.len() * generated.inputs[i].span.len as usize,
            "input #{i} sizes differ from the model's"
        );
        std::fs::write(out.join(format!("input{i}.bin")), bytes).unwrap();
    }
    let mut expected = Vec::new();
    for c in &cases {
        expected.extend_from_slice(&c.expected);
    }
    let out_bytes = generated.outputs[0].span.len as usize;
    assert_eq!(
        expected.len(),
        cases.len() * out_bytes,
        "output sizes differ from the model's"
    );
    std::fs::write(out.join("expected.bin"), &expected).unwrap();

    let name = model_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = String::new();
    writeln!(
        s,
        "pub mod model {{ include!(concat!(env!(\"OUT_DIR\"), \"/model.rs\")); }}"
    )
    .unwrap();
    writeln!(s, "pub const CASES: usize = {};", cases.len()).unwrap();
    let single = n_inputs == 1;
    let mut args = Vec::new();
    for (i, io) in generated.inputs.iter().enumerate() {
        let len = if single {
            "INPUT_LEN".to_string()
        } else {
            format!("INPUT{i}_LEN")
        };
        let ty = kiln_codegen::emit::rust::rust_type(io.dtype);
        writeln!(s, "static INPUT{i}: kiln::Aligned<[u8; CASES * model::{len} * core::mem::size_of::<{ty}>()]> = kiln::Aligned(*include_bytes!(concat!(env!(\"OUT_DIR\"), \"/input{i}.bin\")));").unwrap();
        args.push(format!("kiln::exec::array_at::<{ty}, {{ model::{len} }}>(&INPUT{i}.0, case * model::{len} * core::mem::size_of::<{ty}>()).unwrap_or(&[{zero}; model::{len}])", zero = kiln_codegen::emit::rust::zero_literal(io.dtype)));
    }
    writeln!(s, "static EXPECTED: [u8; CASES * {out_bytes}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/expected.bin\"));").unwrap();
    let sample_bytes = (0..n_inputs)
        .map(|i| format!("INPUT{i}.0.len()"))
        .chain(["EXPECTED.len()".to_string()])
        .collect::<Vec<_>>()
        .join(" + ");
    let expected_case = format!("&EXPECTED[case * {out_bytes}..(case + 1) * {out_bytes}]");
    let common = format!(
        r#"    fn name(&self) -> &'static str {{
        "{name}"
    }}
    fn cases(&self) -> usize {{
        CASES
    }}
    fn arena_bytes(&self) -> usize {{
        model::ARENA_BYTES
    }}
    fn weights_bytes(&self) -> usize {{
        model::WEIGHTS_BYTES
    }}
    fn macs(&self) -> u64 {{
        model::MACS
    }}
    fn sample_bytes(&self) -> usize {{
        {sample_bytes}
    }}"#
    );
    // The reference samples each come from a fresh TFLM interpreter: a
    // stateful model starts every case from its reset state.
    let reset = |on: &str| match generated.state.is_empty() {
        true => String::new(),
        false => format!("{on}.reset_state();\n        "),
    };
    if from_blob {
        let out_ty = kiln_codegen::emit::rust::rust_type(generated.outputs[0].dtype);
        let input_args: Vec<String> = generated
            .inputs
            .iter()
            .enumerate()
            .map(|(i, io)| {
                let len = io.span.len;
                format!("let _ = self.exec.set_input({i}, &INPUT{i}.0[case * {len}..(case + 1) * {len}]);")
            })
            .collect();
        writeln!(
            s,
            r#"
static BLOB: kiln::Aligned<[u8; include_bytes!(concat!(env!("OUT_DIR"), "/model.kiln")).len()]> =
    kiln::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.kiln")));
// Room for exactly this model's ops: load returns the graph by value.
static BLOB_GRAPH: kiln_target_common::static_cell::StaticCell<kiln::blob::BlobGraph<'static, {op_count}>> = kiln_target_common::static_cell::StaticCell::new();
static GRAPH: kiln_target_common::static_cell::StaticCell<kiln::Graph<'static>> = kiln_target_common::static_cell::StaticCell::new();

/// The model loaded from its blob (KILN_BLOB=1), run through kiln::Executor.
pub struct ModelSuite<'a> {{
    exec: kiln::Executor<'static, 'a>,
}}

impl<'a> ModelSuite<'a> {{
    pub fn new(arena: &'a mut kiln::Arena<{{ model::ARENA_BYTES }}>) -> Result<Self, kiln::Error> {{
        let loaded = BLOB_GRAPH.init(kiln::blob::load(&BLOB.0)?);
        let graph = GRAPH.init(loaded.graph());
        Ok(ModelSuite {{ exec: kiln::Executor::new(graph, arena.bytes_mut())? }})
    }}
}}

impl kiln_target_common::Suite for ModelSuite<'_> {{
{common}
    #[inline(never)]
    fn run(&mut self, case: usize) {{
        {inputs}
        {reset}self.exec.run();
    }}
    fn output_matches(&self, case: usize) -> bool {{
        self.exec.output(0).map(|got| kiln_target_common::outputs_match(got, {expected_case}, {float_output})).unwrap_or(false)
    }}
    fn top_class(&self) -> usize {{
        let bytes = self.exec.output(0).unwrap_or(&[]);
        kiln::argmax::<{out_ty}>(kiln_target_common::bytemuck::cast_slice(bytes))
    }}
    fn misuse_is_refused(&mut self) -> Option<bool> {{
        let truncated = kiln::blob::load::<{op_count}>(&BLOB.0[..BLOB.0.len() - 1]).err();
        let short = matches!(truncated, Some(kiln::Error::Blob(kiln::BlobError::Length {{ .. }})));
        let len = self.exec.graph().inputs[0].span.len as usize;
        let wrong_input = matches!(self.exec.set_input(0, &INPUT0.0[..len.saturating_sub(1)]), Err(kiln::Error::InputLength {{ .. }}));
        Some(short && wrong_input)
    }}
    fn run_op(&mut self, index: usize) -> Option<&'static str> {{
        let name = self.exec.graph().ops.get(index)?.name();
        self.exec.run_op(index);
        Some(name)
    }}
}}"#,
            inputs = input_args.join("\n        "),
            reset = reset("self.exec"),
            float_output = generated.outputs[0].dtype == DType::F32,
            op_count = generated.op_count,
        )
        .unwrap();
    } else {
        writeln!(
            s,
            r#"
pub struct ModelSuite<'a> {{
    model: model::Model<'a>,
}}

impl<'a> ModelSuite<'a> {{
    pub fn new(arena: &'a mut kiln::Arena<{{ model::ARENA_BYTES }}>) -> Result<Self, kiln::Error> {{
        Ok(ModelSuite {{ model: model::Model::new(arena) }})
    }}
}}

impl kiln_target_common::Suite for ModelSuite<'_> {{
{common}
    #[inline(never)]
    fn run(&mut self, case: usize) {{
        {reset}self.model.run({args});
    }}
    fn output_matches(&self, case: usize) -> bool {{
        let got: &[u8] = kiln_target_common::bytes_of(self.model.output0());
        kiln_target_common::outputs_match(got, {expected_case}, {float_output})
    }}
    fn top_class(&self) -> usize {{
        kiln::argmax(self.model.output0())
    }}
    fn misuse_is_refused(&mut self) -> Option<bool> {{
        {misuse_body}
    }}
}}"#,
            args = args.join(", "),
            reset = reset("self.model"),
            float_output = generated.outputs[0].dtype == DType::F32,
            misuse_body = if flash_image { "None" } else { MISUSE_CHECK },
        )
        .unwrap();
    }
    std::fs::write(out.join("suite.rs"), s).unwrap();
}

/// The generated `misuse_is_refused` body of the static variant. The
/// model's own arena is borrowed through the suite: misuse checks run after
/// the samples.
const MISUSE_CHECK: &str = r#"let arena = self.model.arena_bytes_mut();
        let short = kiln::Executor::new(&model::GRAPH, &mut arena[..model::ARENA_BYTES - 1]).err();
        let too_small = matches!(short, Some(kiln::Error::ArenaTooSmall { .. }));
        let wrong_input = match kiln::Executor::new(&model::GRAPH, arena) {
            Ok(mut exec) => {
                let len = model::GRAPH.inputs[0].span.len as usize;
                let zeros = [0u8; 1];
                let input: &[u8] = if len > 1 { &INPUT0.0[..len - 1] } else { &zeros[..0] };
                matches!(exec.set_input(0, input), Err(kiln::Error::InputLength { .. }))
            }
            Err(_) => false,
        };
        Some(too_small && wrong_input)"#;

/// Copies the firmware's `memory.x` where the linker finds it.
pub fn memory_x() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
