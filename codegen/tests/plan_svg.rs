//! The arena plan as a picture (`kiln inspect --memory-svg`): the SVG is
//! well formed, draws one rectangle per planned buffer (as the compiled
//! plan has them, read back from the `data-` attributes and compared), and
//! no two rectangles overlap while both buffers are live, except a buffer
//! and the one an in-place op writes over it (same `data-group`), at that
//! op, and a buffer planned inside another (a slice of its input, a
//! concatenation's input); the inspect report's lower bound is the most bytes the picture shows
//! alive at once.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Drawn {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    offset: usize,
    bytes: usize,
    first: usize,
    last: usize,
    group: usize,
}

/// Checks the picture of `model`'s plan; says whether the plan tiles.
fn check(model: &Path) -> bool {
    let scratch = common::ScratchDir::new("plan");
    let svg_path = scratch.join(format!(
        "{}.svg",
        model.file_stem().unwrap().to_string_lossy()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["inspect", "--json", "--memory-svg"])
        .arg(&svg_path)
        .arg(model)
        .output()
        .expect("run kiln");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");

    let attr = |n: &roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("{a} missing"))
            .parse()
            .unwrap()
    };
    let drawn: Vec<Drawn> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("buffer"))
        .map(|n| Drawn {
            x: attr(&n, "x"),
            y: attr(&n, "y"),
            w: attr(&n, "width"),
            h: attr(&n, "height"),
            offset: attr(&n, "data-offset") as usize,
            bytes: attr(&n, "data-bytes") as usize,
            first: attr(&n, "data-first") as usize,
            last: attr(&n, "data-last") as usize,
            group: attr(&n, "data-group") as usize,
        })
        .collect();

    // One rectangle per planned buffer, each where the plan puts it.
    let compiled = kiln_codegen::compile_file(model).unwrap();
    let planned: Vec<_> = compiled
        .plan
        .buffers
        .iter()
        .filter(|b| b.bytes > 0)
        .collect();
    assert_eq!(drawn.len(), planned.len(), "{}", model.display());
    for (d, b) in drawn.iter().zip(&planned) {
        assert_eq!(
            (d.offset, d.bytes, d.first, d.last),
            (b.offset, b.bytes, b.first, b.last)
        );
    }

    // Rectangles of buffers alive together never overlap on the page.
    // Coordinates are written with three decimals.
    let eps = 0.01;
    for (i, a) in drawn.iter().enumerate() {
        for b in &drawn[i + 1..] {
            let live_together = a.first <= b.last && b.first <= a.last;
            let columns_overlap = a.x < b.x + b.w - eps && b.x < a.x + a.w - eps;
            assert_eq!(
                live_together, columns_overlap,
                "lifetimes and columns disagree"
            );
            // In place: one dies at the op where the other is born; or one
            // lies inside the other (a slice planned inside its input).
            let inside = |x: &Drawn, y: &Drawn| {
                y.offset <= x.offset && x.offset + x.bytes <= y.offset + y.bytes
            };
            let in_place = a.group == b.group
                && (a.last == b.first || b.last == a.first || inside(a, b) || inside(b, a));
            if live_together && !in_place {
                let rows_overlap = a.y < b.y + b.h - eps && b.y < a.y + a.h - eps;
                assert!(
                    !rows_overlap,
                    "{}: buffers at {}+{} and {}+{} overlap",
                    model.display(),
                    a.offset,
                    a.bytes,
                    b.offset,
                    b.bytes
                );
            }
        }
    }

    // The lower bound is the most bytes alive at one op, and the plan
    // cannot beat it.
    let ops = drawn.iter().map(|d| d.last).max().unwrap_or(0);
    // Per op, each group counts the span its live buffers cover.
    let most = (0..=ops)
        .map(|op| {
            let mut spans = std::collections::BTreeMap::new();
            for d in drawn.iter().filter(|d| d.first <= op && op <= d.last) {
                let span = spans
                    .entry(d.group)
                    .or_insert((d.offset, d.offset + d.bytes));
                *span = (span.0.min(d.offset), span.1.max(d.offset + d.bytes));
            }
            spans.values().map(|(lo, hi)| hi - lo).sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    let bound = report["arena_lower_bound_bytes"].as_u64().unwrap() as usize;
    assert_eq!(bound, most);
    assert!(bound <= report["arena_bytes"].as_u64().unwrap() as usize);

    // Tiled pairs: the report gives the arena they save and the MACs they
    // add (none: halo rows are kept in the window).
    let tiling = &report["tiling"];
    if tiling.is_object() {
        let (untiled, saved) = (&tiling["untiled_arena_bytes"], &tiling["saved_bytes"]);
        let arena = report["arena_bytes"].as_u64().unwrap();
        assert_eq!(untiled.as_u64().unwrap() - arena, saved.as_u64().unwrap());
        assert!(saved.as_u64().unwrap() > 0);
        assert_eq!(tiling["extra_macs"], 0, "{}", model.display());
    }
    tiling.is_object()
}

#[test]
fn the_plan_picture_matches_the_plan_on_the_example() {
    assert!(!check(&repo().join("examples/digits/digits_int8.tflite")));
}

/// Fixtures whose plans put tensors inside others: one-input ops in
/// place, concatenations whose inputs lie in their output or that lie
/// over an input, slices that lie in their input.
#[test]
fn the_plan_picture_matches_the_plan_with_tensors_inside_others() {
    for name in [
        "in_place_chain",
        "concat_slices",
        "concat_channels",
        "layout",
        "reductions",
    ] {
        assert!(!check(
            &repo().join(format!("tests/fixtures/op_zoo/{name}.tflite"))
        ));
    }
}

/// A fixture whose convolutions run as tiled chains: their windows are
/// drawn, and the saving reported.
#[test]
fn the_plan_picture_matches_the_plan_with_tiled_chains() {
    let model = repo().join("tests/fixtures/op_zoo/inverted_bottleneck.tflite");
    assert!(check(&model), "not tiled");
}

#[test]
fn the_plan_picture_matches_the_plan_on_every_shared_model() {
    let Some(shared) = common::shared_dir(&repo()) else {
        return;
    };
    let mut tiled = Vec::new();
    for &(name, file) in common::INT8_MODELS {
        if check(&shared.join("models").join(file)) {
            tiled.push(name);
        }
    }
    assert!(tiled.contains(&"vww_96_int8"), "{tiled:?}");
}
