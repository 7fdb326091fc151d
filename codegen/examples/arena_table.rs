//! Prints the arena table of `docs/arena.md`: for each quantized shared
//! model, kiln's planned activations, TFLite Micro's arena head (from the
//! golden summaries) plus its variable tensors (state, which TFLM keeps in
//! its tail and kiln in its arena), their ratio, kiln's whole arena with the fast kernels'
//! scratch and the lower bound of that arena (the most bytes alive at once);
//! then the RAM of one inference (arena plus the Cortex-M4 stack estimate,
//! `kiln inspect`'s `ram_bytes_estimate`) against TFLM's whole arena; then
//! the arena under each technique (in place; streamed: a convolution into
//! a fully connected layer, a residual block; tiled chains), against the arena
//! that would make the RAM half of TFLM's; then the stack estimate on each
//! core.
//!
//! cargo run --release -p kiln-codegen --example arena_table [-- SHARED_DIR]

use std::path::PathBuf;

use kiln_codegen::plan;

#[path = "../../tests/common/models.rs"]
mod models;

fn main() {
    let shared = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("KILN_SHARED").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    println!("| model | kiln activations (bytes) | TFLM head + state (bytes) | kiln / TFLM | kiln arena with scratch (bytes) | its lower bound (bytes) | all activations unshared (bytes) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut ram_rows = Vec::new();
    let mut technique_rows = Vec::new();
    let mut stack_rows = Vec::new();
    for &(name, file) in models::INT8_MODELS {
        let model = match kiln_codegen::compile_file(&shared.join("models").join(file)) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let summary =
            std::fs::read_to_string(shared.join("golden").join(name).join("summary.json"))
                .expect("summary.json");
        let summary: serde_json::Value =
            serde_json::from_str(&summary).expect("summary.json is JSON");
        let state = summary["tflm_arena"]["breakdown"]["TfLiteTensor variable buffer data"]["used"]
            .as_u64()
            .unwrap_or(0);
        let head = summary["tflm_arena"]["head"]
            .as_u64()
            .expect("tflm_arena.head")
            + state;
        let ours = model.plan.activation_bytes as u64;
        println!(
            "| {name} | {ours} | {head} | {:.3} | {} | {} | {} |",
            ours as f64 / head as f64,
            model.arena_bytes(),
            model.plan.lower_bound_bytes,
            model.plan.unshared_bytes
        );
        let total = summary["tflm_arena"]["total"]
            .as_u64()
            .expect("tflm_arena.total");
        let stacks = kiln_codegen::stack::estimate(&model.graph, &model.plan);
        let stack = stacks.cortex_m4;
        let per_core: Vec<String> = kiln_codegen::stack::Core::ALL
            .iter()
            .map(|&core| stacks.on(core).to_string())
            .collect();
        stack_rows.push(format!("| {name} | {} |", per_core.join(" | ")));
        let ram = (model.arena_bytes() + stack) as u64;
        ram_rows.push(format!(
            "| {name} | {} | {stack} | {ram} | {total} | {:.2} |",
            model.arena_bytes(),
            ram as f64 / total as f64
        ));
        let g = &model.graph;
        let all =
            kiln_codegen::lower::in_place_candidates(g.nodes.len(), &model.ops, &model.op_nodes);
        // Without tiled chains: a chain's last layer in place alone.
        let untiled: Vec<_> = all
            .iter()
            .map(|c| c.map(|c| c.with_chains_of(1, false)))
            .collect();
        let convolutions: Vec<_> = untiled
            .iter()
            .map(|c| c.filter(|c| matches!(c, plan::Candidate::Convolution(_))))
            .collect();
        // Without streams: a residual block's ADD in place alone.
        let in_place: Vec<_> = untiled
            .iter()
            .map(|c| match *c {
                Some(plan::Candidate::Stream { .. }) => None,
                Some(plan::Candidate::Residual { elements, .. }) => {
                    Some(plan::Candidate::Elementwise { elements })
                }
                other => other,
            })
            .collect();
        let half = (total / 2).saturating_sub(stack as u64);
        technique_rows.push(format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {half} |",
            plan::plan(g).arena_bytes,
            plan::plan_in_place(g, &convolutions).arena_bytes,
            plan::plan_in_place(g, &in_place).arena_bytes,
            plan::plan_in_place(g, &untiled).arena_bytes,
            model.arena_bytes(),
            model.plan.lower_bound_bytes,
        ));
    }
    println!();
    println!("| model | kiln arena (bytes) | stack estimate, M4 (bytes) | kiln RAM (bytes) | TFLM arena, head + tail (bytes) | kiln / TFLM |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for row in ram_rows {
        println!("{row}");
    }
    println!();
    println!("| model | out of place (bytes) | convolutions in place (bytes) | and ADD, SUB, MUL in place (bytes) | and streams (bytes) | and tiled chains: the arena (bytes) | its lower bound (bytes) | arena for half of TFLM's RAM (bytes) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in technique_rows {
        println!("{row}");
    }
    println!();
    let cores: Vec<&str> = kiln_codegen::stack::Core::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    println!("| model | stack estimate (bytes): {} |", cores.join(" | "));
    println!("| --- |{}", " ---: |".repeat(cores.len()));
    for row in stack_rows {
        println!("{row}");
    }
}
