//! The arena plan as a picture (`kiln inspect MODEL --memory-svg FILE`):
//! the arena's bytes upward, the ops left to right. Each buffer (a tensor
//! and those sharing its bytes, or one op's scratch) is a rectangle from
//! the op that first touches it to the last, at its offset; the op where
//! the most bytes are alive (the plan's lower bound) is marked, and the
//! planned arena's top is a dashed line. Hovering a rectangle names its
//! tensor, size, offset and lifetime; each rectangle also carries them as
//! `data-` attributes, so tools (and the tests) can read the plan back.
//!
//! Layer: report; uses `ir` and `plan`.

use std::fmt::Write;

use crate::ir::Graph;
use crate::plan::{ArenaPlan, Buffer};

const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 48.0;
const PLOT_HEIGHT: f64 = 480.0;

/// The SVG document of `plan` for `g`.
pub fn plan_svg(g: &Graph, plan: &ArenaPlan) -> String {
    let columns = g.nodes.len() + 1; // the last one: outputs after the last op
    let column = (960.0 / columns as f64).clamp(12.0, 64.0);
    // Wide enough for the title.
    let width = (LEFT + column * columns as f64 + RIGHT).max(760.0);
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let arena = plan.arena_bytes.max(1) as f64;
    let scale = PLOT_HEIGHT / arena;
    // Offset `o` bytes up from the bottom of the plot.
    let y_of = |o: f64| TOP + PLOT_HEIGHT - o * scale;
    let x_of = |op: usize| LEFT + column * op as f64;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.3} {height:.3}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="20" font-size="14">{}: arena {} bytes, lower bound {} bytes (at op #{})</text>"##,
        escape(&g.source.display().to_string()),
        plan.arena_bytes,
        plan.lower_bound_bytes,
        plan.peak_op
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="38" fill="#555">offset (bytes) upward, ops left to right; hover a rectangle for its tensor</text>"##
    );

    // The op columns, each with its name on hover, and the peak.
    for op in 0..columns {
        let name = g.nodes.get(op).map_or("outputs".to_string(), |n| {
            format!("#{op} {}", n.source_name)
        });
        let fill = "none";
        let _ = writeln!(
            s,
            r##"<rect class="op" x="{:.3}" y="{TOP}" width="{column:.3}" height="{PLOT_HEIGHT}" fill="{fill}" stroke="#eee"><title>{}</title></rect>"##,
            x_of(op),
            escape(&name)
        );
    }

    for (i, b) in plan.buffers.iter().enumerate() {
        if b.bytes == 0 {
            continue;
        }
        let (x, w) = (x_of(b.first), column * (b.last - b.first + 1) as f64);
        let (y, h) = (y_of((b.offset + b.bytes) as f64), b.bytes as f64 * scale);
        let (label, fill) = describe(g, plan, i, b);
        let _ = writeln!(
            s,
            r##"<rect class="buffer" x="{x:.3}" y="{y:.3}" width="{w:.3}" height="{h:.3}" fill="{fill}" stroke="#333" stroke-width="0.5" data-offset="{}" data-bytes="{}" data-first="{}" data-last="{}" data-group="{}"><title>{}: {} bytes at offset {}, ops #{} to #{}</title></rect>"##,
            b.offset,
            b.bytes,
            b.first,
            b.last,
            b.group,
            escape(&label),
            b.bytes,
            b.offset,
            b.first,
            b.last
        );
        if w > 70.0 && h > 14.0 {
            let fits = ((w - 8.0) / 6.5) as usize;
            let text: String = label.chars().take(fits).collect();
            let _ = writeln!(
                s,
                r##"<text x="{:.3}" y="{:.3}" pointer-events="none">{}</text>"##,
                x + 4.0,
                y + 12.0,
                escape(&text)
            );
        }
    }

    // The peak: the op where the most bytes are alive, over the buffers.
    let _ = writeln!(
        s,
        r##"<rect class="peak" x="{:.3}" y="{TOP}" width="{column:.3}" height="{PLOT_HEIGHT}" fill="none" stroke="#c00" stroke-width="2"/>"##,
        x_of(plan.peak_op)
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.3}" y="{:.3}" fill="#c00" text-anchor="middle">peak</text>"##,
        x_of(plan.peak_op) + column / 2.0,
        TOP - 4.0
    );

    // The planned arena's top, and the axes.
    let top = y_of(plan.arena_bytes as f64);
    let right = LEFT + column * columns as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{top:.3}" x2="{right:.3}" y2="{top:.3}" stroke="#c00" stroke-dasharray="6 3"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.3}" y="{:.3}" fill="#c00" text-anchor="end">{}</text>"##,
        LEFT - 6.0,
        top + 4.0,
        plan.arena_bytes
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.3}" y="{:.3}" text-anchor="end">0</text>"##,
        LEFT - 6.0,
        TOP + PLOT_HEIGHT
    );
    let every = (columns / 24).max(1);
    for op in (0..g.nodes.len()).step_by(every) {
        let _ = writeln!(
            s,
            r##"<text x="{:.3}" y="{:.3}" text-anchor="middle">{op}</text>"##,
            x_of(op) + column / 2.0,
            TOP + PLOT_HEIGHT + 16.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.3}" y="{:.3}" text-anchor="middle">op</text>"##,
        LEFT + column * columns as f64 / 2.0,
        TOP + PLOT_HEIGHT + 36.0
    );
    s += "</svg>\n";
    s
}

/// A buffer's label and colour: its tensors' names, or its op's scratch.
fn describe(g: &Graph, plan: &ArenaPlan, index: usize, b: &Buffer) -> (String, String) {
    match b.root {
        Some(_) => {
            let names: Vec<&str> = plan
                .buffer_of
                .iter()
                .enumerate()
                .filter(|(_, &buffer)| buffer == Some(index))
                .map(|(t, _)| g.tensors[t].name.as_str())
                .collect();
            // Buffers written over one another in place share a hue.
            let hue = (b.group * 67) % 360;
            let mut label = names.join(" = ");
            let written_in_place = (0..g.nodes.len()).find(|&op| {
                plan.in_place[op].is_some()
                    && g.nodes[op]
                        .outputs
                        .first()
                        .is_some_and(|&t| plan.buffer_of[t] == Some(index))
            });
            if let Some(op) = written_in_place {
                label += &format!(" (written over its input by #{op})");
            }
            // Copied by nothing: a slice inside its input, or an input
            // inside a concatenation's output.
            let holds = |t: &usize| plan.buffer_of[*t] == Some(index);
            for op in (0..g.nodes.len()).filter(|&op| plan.copies_nothing[op]) {
                let node = &g.nodes[op];
                if node.outputs.iter().any(holds) && node.inputs.len() == 1 {
                    label += &format!(" (inside its input, the slice #{op} copies nothing)");
                } else if node.inputs.iter().flatten().any(holds) {
                    label += &format!(" (inside the output of #{op}, which copies nothing)");
                }
            }
            (label, format!("hsl({hue}, 60%, 75%)"))
        }
        None => {
            let op = plan.scratch_of.iter().position(|&s| s == Some(index));
            let bands = plan
                .in_place
                .iter()
                .position(|p| p.is_some_and(|(_, b)| b == index));
            let label = match (op, bands) {
                (Some(op), _) => format!("scratch of #{op} {}", g.nodes[op].source_name),
                (_, Some(op)) => format!("bands of #{op} {} (in place)", g.nodes[op].source_name),
                _ => "scratch".to_string(),
            };
            (label, "#ccc".to_string())
        }
    }
}

/// Text for XML character data and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
