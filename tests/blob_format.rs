//! The blob wire format is pinned. It is the order of `kiln::Op`'s variants
//! (the op list in `src/ops/mod.rs`) and the layout of every descriptor, of
//! `TensorIo`, of `StateTensor` and of `BlobHeader`; `tests/fixtures/blob/format_vN.txt`
//! records it for format version N, and committed golden blobs of the
//! project's own models must still decode, re-encode to the same bytes and
//! run to TFLite Micro's outputs.
//!
//! Changing a descriptor or the op order means bumping `kiln::BLOB_VERSION`.
//! Then `KILN_BLESS=1 cargo test --test blob_format` writes the new
//! version's format file and golden blobs (it never overwrites a version's
//! files: a version, once written, is fixed).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use kiln::blob::{BlobHeader, PREFIX};
use kiln::wire::Wire;
use kiln::{Op, StateTensor, TensorIo, BLOB_VERSION};
use kiln_codegen::npy;

mod common;
use common::OP_ZOO;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn blessing() -> bool {
    std::env::var_os("KILN_BLESS").is_some()
}

/// The format as text: the header, the tensor descriptor, then every op
/// variant in wire order with its descriptor's layout.
fn format_text() -> String {
    let mut s = format!("kiln blob format {BLOB_VERSION}\n\nBlobHeader\n");
    BlobHeader::wire_type().write_layout(&mut s, 1).unwrap();
    s += "\nTensorIo\n";
    TensorIo::wire_type().write_layout(&mut s, 1).unwrap();
    s += "\nStateTensor\n";
    StateTensor::wire_type().write_layout(&mut s, 1).unwrap();
    for (index, (variant, layout)) in Op::VARIANTS.iter().enumerate() {
        let ty = layout();
        let _ = write!(s, "\nop {index} {variant}(");
        ty.write_name(&mut s).unwrap();
        s += ")\n";
        ty.write_layout(&mut s, 1).unwrap();
    }
    s
}

fn format_file(version: u32) -> PathBuf {
    fixtures().join(format!("blob/format_v{version}.txt"))
}

/// The `op N Name(...)` lines of a format text.
fn op_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("op ")).collect()
}

#[test]
fn the_format_is_the_one_its_version_promises() {
    let text = format_text();
    let path = format_file(BLOB_VERSION);
    match std::fs::read_to_string(&path) {
        Ok(pinned) => assert!(
            pinned == text,
            "the blob format changed without a version bump: bump kiln::BLOB_VERSION \
             (now {BLOB_VERSION}) and run `KILN_BLESS=1 cargo test --test blob_format`.\n\
             pinned in {}:\n{pinned}\nnow:\n{text}",
            path.display()
        ),
        Err(_) if blessing() => std::fs::write(&path, &text).unwrap(),
        Err(_) => panic!(
            "{} is missing: format version {BLOB_VERSION} is new; write its files with \
             `KILN_BLESS=1 cargo test --test blob_format`",
            path.display()
        ),
    }
}

/// Variants that kept their slot under a new name, with the format version
/// that renamed them: float32 EXP's descriptor became the unary-function
/// family's (format 21); float32 LOGISTIC and TANH joined that family, and
/// their slots took the new GATHER and CAST, and REDUCE_MAX's descriptors
/// serve REDUCE_MIN too (format 23).
const RENAMED_IN_PLACE: &[(&str, &str, u32)] = &[
    ("ExpF32", "UnaryF32", 21),
    ("LogisticF32", "Gather", 23),
    ("TanhF32", "Cast", 23),
    ("ReduceMax", "ReduceExtreme", 23),
    ("ReduceMaxF32", "ReduceExtremeF32", 23),
    ("TiledPair", "TiledChain", 40),
];

#[test]
fn op_variants_are_only_ever_appended() {
    let text = format_text();
    let now = op_lines(&text);
    for version in 1..BLOB_VERSION {
        let Ok(old) = std::fs::read_to_string(format_file(version)) else {
            continue;
        };
        let old_names: Vec<&str> = op_lines(&old)
            .iter()
            .map(|l| l.split('(').next().unwrap())
            .collect();
        // A variant renamed in place (same slot) since that version counts
        // under its old name.
        let now_names: Vec<String> = now
            .iter()
            .map(|l| l.split('(').next().unwrap())
            .map(|line| {
                // "op N Variant": the old name in the same words.
                RENAMED_IN_PLACE
                    .iter()
                    .find(|(_, new, since)| line.ends_with(&format!(" {new}")) && version < *since)
                    .map_or(line.to_string(), |(old, new, _)| {
                        format!("{}{old}", &line[..line.len() - new.len()])
                    })
            })
            .collect();
        assert!(
            now_names.len() >= old_names.len()
                && now_names
                    .iter()
                    .zip(&old_names)
                    .all(|(now, old)| now == old),
            "format {version}'s ops are not a prefix of today's: append new ops at the end \
             of the list in src/ops/mod.rs"
        );
    }
    assert_eq!(now.len(), Op::VARIANTS.len());
}

/// The project's models whose blobs are pinned (the example and the int8
/// op zoo), with their TFLM samples (directory of `input_K.npy` files and
/// outputs).
fn golden_models() -> Vec<(&'static str, PathBuf, PathBuf)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut models = vec![(
        "digits",
        repo.join("examples/digits/digits_int8.tflite"),
        repo.join("examples/digits/samples"),
    )];
    for &name in OP_ZOO {
        let zoo = fixtures().join("op_zoo");
        models.push((name, zoo.join(format!("{name}.tflite")), zoo.join(name)));
    }
    models
}

/// The committed golden blob of `name` for this format version. When
/// blessing and it is missing, it is compiled from `model` first (written
/// whole, then renamed, because both tests below may ask for it at once).
fn golden_blob(name: &str, model: &Path) -> Vec<u8> {
    let path = fixtures().join(format!("blob/v{BLOB_VERSION}/{name}.kiln"));
    if !path.exists() && blessing() {
        let compiled = kiln_codegen::compile_file(model).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let partial = path.with_extension(format!("{:?}.partial", std::thread::current().id()));
        std::fs::write(&partial, kiln_codegen::emit::blob::blob(&compiled)).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: write it with `KILN_BLESS=1 cargo test --test blob_format`",
            path.display()
        )
    })
}

/// Blob bytes in a 16-byte aligned buffer, as flash would hold them.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut v = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

/// Decodes the postcard part of a blob item by item and encodes each item
/// again: the bytes must not change.
fn assert_reencodes(blob: &[u8], name: &str) {
    fn again<'a, T: serde::Serialize + serde::Deserialize<'a>>(rest: &mut &'a [u8], name: &str) {
        let (value, remaining) = postcard::take_from_bytes::<T>(rest)
            .unwrap_or_else(|e| panic!("{name}: does not decode: {e}"));
        let used = &rest[..rest.len() - remaining.len()];
        let mut buf = vec![0u8; used.len() + 64];
        let encoded = postcard::to_slice(&value, &mut buf).unwrap();
        assert_eq!(encoded, used, "{name}: encodes differently today");
        *rest = remaining;
    }
    let mut rest = &blob[PREFIX..];
    let (header, _) = postcard::take_from_bytes::<BlobHeader>(rest).unwrap();
    again::<BlobHeader>(&mut rest, name);
    for _ in 0..header.input_count + header.output_count {
        again::<TensorIo>(&mut rest, name);
    }
    for _ in 0..header.state_count {
        again::<StateTensor>(&mut rest, name);
    }
    for _ in 0..header.op_count {
        again::<Op>(&mut rest, name);
    }
}

fn run(graph: &kiln::Graph, inputs: &[PathBuf]) -> Vec<u8> {
    assert!(!inputs.is_empty(), "a sample without inputs");
    let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
    let mut exec = kiln::Executor::new(graph, bytemuck::cast_slice_mut(&mut arena)).unwrap();
    for (i, input) in inputs.iter().enumerate() {
        exec.set_input(i, &npy::read(input).unwrap().data).unwrap();
    }
    exec.run();
    exec.output(0).unwrap().to_vec()
}

#[test]
fn golden_blobs_decode_reencode_and_run_to_tflm_outputs() {
    for (name, model, samples) in golden_models() {
        let bytes = golden_blob(name, &model);
        assert_eq!(
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
            BLOB_VERSION,
            "{name}"
        );
        assert_reencodes(&bytes, name);
        let storage = aligned(&bytes);
        let blob = &bytemuck::cast_slice::<u128, u8>(&storage)[..bytes.len()];
        let loaded = kiln::blob::load::<64>(blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        let graph = loaded.graph();
        let outputs = npy::read_outputs(&samples).unwrap();
        assert!(!outputs.is_empty(), "{name}: no samples");
        for (k, expected) in outputs.iter().enumerate() {
            let got = run(&graph, &common::sample_inputs(&samples, k));
            assert_eq!(got, expected.data, "{name}: sample {k}");
        }
    }
}

#[test]
fn the_golden_blobs_cover_most_op_kinds() {
    // Not every op has a committed model (the float ones come from ONNX
    // fixtures); the format text covers them all. This keeps the goldens
    // from silently shrinking to a single op.
    let mut seen = std::collections::BTreeSet::new();
    for (name, model, _) in golden_models() {
        let bytes = golden_blob(name, &model);
        let storage = aligned(&bytes);
        let blob = &bytemuck::cast_slice::<u128, u8>(&storage)[..bytes.len()];
        if let Ok(loaded) = kiln::blob::load::<64>(blob) {
            seen.extend(loaded.graph().ops.iter().map(|op| op.variant()));
        }
    }
    assert!(seen.len() >= 15, "golden blobs cover only {seen:?}");
}
