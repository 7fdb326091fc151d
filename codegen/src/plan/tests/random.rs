//! The planner's random-graph tests: plans of random graphs never let two
//! live tensors collide, and, run on an arena of tags, keep every tensor
//! until it is read.

use super::*;

#[test]
fn random_graphs_never_collide() {
    let mut seed = 12345u64;
    let mut next = |m: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % m
    };
    for _ in 0..200 {
        let count = 2 + next(12);
        let tensors: Vec<Tensor> = (0..count)
            .map(|i| tensor(&format!("t{i}"), 1 + next(300)))
            .collect();
        let mut nodes = Vec::new();
        for out in 1..count {
            let a = next(out);
            let b = next(out);
            nodes.push(node(
                OpKind::Add(crate::ops::Add {
                    activation: Activation::None,
                }),
                &[a, b],
                &[out],
            ));
        }
        let g = Graph {
            source: "r".into(),
            tensors,
            nodes,
            inputs: vec![0],
            outputs: vec![count - 1],
            variables: vec![],
            variable_init: vec![],
        };
        let p = plan(&g);
        assert_no_live_overlap(&g, &p);
        // The lower bound is what some op has alive, and no plan beats it.
        assert!(p.lower_bound_bytes <= p.arena_bytes);
        let live_at_peak: usize = p
            .buffers
            .iter()
            .filter(|b| b.first <= p.peak_op && p.peak_op <= b.last)
            .map(|b| b.bytes)
            .sum();
        assert_eq!(live_at_peak, p.lower_bound_bytes);
    }
}

/// Random graphs of one-input ops, ADDs, slices and concatenations (of
/// 1, 2, 4, 8 or 16 rows), with every op a candidate, run on an arena of
/// tags: each op checks that every input still holds its bytes and writes
/// its output's bytes (its tag; a concatenation's, its inputs' rows
/// interleaved), and the model's outputs are checked at the end. An
/// in-place elementwise op reads element by element before it writes, as
/// its chunks do; a concatenation over its input spreads that input's rows
/// and then copies the others from the arena, as its op does.
#[test]
fn random_plans_keep_every_tensor_until_it_is_read() {
    let mut seed = 777u64;
    let mut next = |m: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % m
    };
    let (mut copies_nothing, mut expanded) = (0, 0);
    for _ in 0..300 {
        let mut tensors = vec![tensor("t0", 16 * (1 + next(8)))];
        let mut nodes = Vec::new();
        let mut candidates = Vec::new();
        let mut rows = Vec::new();
        for out in 1..2 + next(10) {
            let mut outer = 1;
            let (kind, inputs, bytes, candidate) = match next(4) {
                0 => {
                    let a = next(out);
                    let bytes = tensors[a].bytes();
                    let elements = bytes as u32;
                    (
                        OpKind::Logistic(crate::ops::Logistic),
                        vec![a],
                        bytes,
                        Some(Candidate::Elementwise { elements }),
                    )
                }
                1 => {
                    let a = next(out);
                    let same: Vec<usize> = (0..out)
                        .filter(|&t| tensors[t].bytes() == tensors[a].bytes())
                        .collect();
                    let b = same[next(same.len())];
                    let bytes = tensors[a].bytes();
                    let add = OpKind::Add(crate::ops::Add {
                        activation: Activation::None,
                    });
                    let elements = bytes as u32;
                    (
                        add,
                        vec![a, b],
                        bytes,
                        Some(Candidate::Elementwise { elements }),
                    )
                }
                2 => {
                    // A run of a tensor's bytes at any offset.
                    let a = next(out);
                    let len = 1 + next(tensors[a].bytes());
                    let offset = next(tensors[a].bytes() - len + 1);
                    let slice = OpKind::Slice(crate::ops::Slice {
                        begin: vec![offset],
                        step: vec![1],
                        dropped: 0,
                    });
                    let view = Candidate::View {
                        offset: offset as u32,
                    };
                    (slice, vec![a], len, Some(view))
                }
                _ => {
                    let inputs: Vec<usize> = (0..1 + next(3)).map(|_| next(out)).collect();
                    let bytes = inputs.iter().map(|&t| tensors[t].bytes()).sum();
                    // As many rows as every input splits into.
                    outer = 1 << next(5);
                    while inputs
                        .iter()
                        .any(|&t| !tensors[t].bytes().is_multiple_of(outer))
                    {
                        outer /= 2;
                    }
                    let candidate = if outer == 1 { SLICES } else { ROWS };
                    (concatenation(), inputs, bytes, candidate)
                }
            };
            tensors.push(tensor(&format!("t{out}"), bytes));
            nodes.push(node(kind, &inputs, &[out]));
            candidates.push(candidate);
            rows.push(outer);
        }
        let last = tensors.len() - 1;
        let g = Graph {
            source: "r".into(),
            tensors,
            nodes,
            inputs: vec![0],
            outputs: vec![last, next(last + 1)],
            variables: vec![],
            variable_init: vec![],
        };
        let p = plan_in_place(&g, &candidates);
        copies_nothing += p.copies_nothing.iter().filter(|&&c| c).count();
        expanded += (p.in_place.iter().flatten())
            .filter(|(how, _)| matches!(how.walk, Walk::Expand { .. }))
            .count();
        simulate(&g, &p, &rows);
        // And with every candidate asked to run in place, as the search
        // may never combine them.
        let every: Vec<Option<InPlace>> = (candidates.iter().enumerate())
            .map(|(i, c)| {
                c.map(|c| {
                    let (walk, delta) = match c {
                        Candidate::Elementwise { elements } => (
                            Walk::Chunks {
                                elements: elements.min(CHUNK_ELEMENTS),
                            },
                            0,
                        ),
                        Candidate::View { offset } => (Walk::View, offset as isize),
                        Candidate::Concatenation { contiguous: true } => (Walk::Slices, 0),
                        _ => {
                            let n = &g.nodes[i];
                            let bytes = |t: usize| g.tensors[t].bytes() as isize;
                            let last = n.inputs.len().is_multiple_of(2);
                            let under = n.inputs[if last { n.inputs.len() - 1 } else { 0 }];
                            let delta = bytes(under.unwrap()) - bytes(n.outputs[0]);
                            (Walk::Expand { last }, if last { delta } else { 0 })
                        }
                    };
                    let buffer_bytes = match walk {
                        Walk::Chunks { .. } => 16,
                        _ => 0,
                    };
                    InPlace {
                        walk,
                        delta,
                        buffer_bytes,
                    }
                })
            })
            .collect();
        simulate(&g, &plan_with(&g, &every), &rows);
    }
    assert!(
        copies_nothing > 100,
        "{copies_nothing} concatenations and slices in place"
    );
    assert!(expanded > 30, "{expanded} concatenations over an input");
}

/// Runs `p` on an arena of tags (see the test above; the unit tests use it
/// too); `rows` holds each concatenation's rows.
pub(super) fn simulate(g: &Graph, p: &ArenaPlan, rows: &[usize]) {
    // The bytes each tensor holds, as tags: its id and the byte's index, or for a
    // concatenation its inputs' rows in turn, for a slice in place its
    // run of its input's.
    let mut expected: Vec<Vec<usize>> = Vec::new();
    for t in 0..g.tensors.len() {
        let producer = g.nodes.iter().position(|n| n.outputs[0] == t);
        let bytes = match producer.map(|i| (i, &g.nodes[i].kind)) {
            Some((i, OpKind::Slice(s))) if p.copies_nothing[i] => {
                let input = &expected[g.nodes[i].input(0).unwrap()];
                input[s.begin[0]..][..g.tensors[t].bytes()].to_vec()
            }
            Some((i, OpKind::Concatenation(_))) => {
                let mut bytes = Vec::new();
                for row in 0..rows[i] {
                    for s in &g.nodes[i].inputs {
                        let input = &expected[s.unwrap()];
                        let len = input.len() / rows[i];
                        bytes.extend_from_slice(&input[row * len..][..len]);
                    }
                }
                bytes
            }
            _ => (0..g.tensors[t].bytes()).map(|k| t << 20 | k).collect(),
        };
        expected.push(bytes);
    }
    let mut arena = vec![usize::MAX; p.arena_bytes];
    let check = |arena: &[usize], t: usize, at: &str| {
        let o = p.offset(t).unwrap();
        assert_eq!(
            arena[o..o + expected[t].len()],
            expected[t][..],
            "t{t} overwritten before {at} in {g:?}\n{p:?}"
        );
    };
    let write = |arena: &mut [usize], t: usize| {
        let o = p.offset(t).unwrap();
        arena[o..o + expected[t].len()].copy_from_slice(&expected[t]);
    };
    write(&mut arena, 0);
    for (i, n) in g.nodes.iter().enumerate() {
        for s in &n.inputs {
            check(&arena, s.unwrap(), &format!("op {i}"));
        }
        // Scratch and band buffers hold garbage while the op runs.
        for b in p.in_place[i]
            .map(|(_, b)| b)
            .into_iter()
            .chain(p.scratch_of[i])
        {
            let b = &p.buffers[b];
            arena[b.offset..b.offset + b.bytes].fill(usize::MAX - 1);
        }
        let out = n.outputs[0];
        match p.in_place[i].map(|(how, _)| how.walk) {
            // A concatenation or slice in place runs nothing: its bytes
            // are there already.
            _ if p.copies_nothing[i] => check(&arena, out, &format!("op {i} (in place)")),
            Some(Walk::Expand { last }) => {
                let at = |t: usize| p.offset(t).unwrap();
                let row_of = |t: usize| g.tensors[t].bytes() / rows[i];
                let over = if last { n.inputs.len() - 1 } else { 0 };
                let under = n.inputs[over].unwrap();
                let (in_row, out_row) = (row_of(under), row_of(out));
                let column = if last { out_row - in_row } else { 0 };
                let mut spread = |row: usize| {
                    let from = at(under) + row * in_row;
                    arena.copy_within(from..from + in_row, at(out) + row * out_row + column);
                };
                match last {
                    true => (0..rows[i]).for_each(&mut spread),
                    false => (0..rows[i]).rev().for_each(&mut spread),
                }
                let mut column = 0;
                for (k, s) in n.inputs.iter().enumerate() {
                    let t = s.unwrap();
                    for row in (0..rows[i]).filter(|_| k != over) {
                        let from = at(t) + row * row_of(t);
                        let to = at(out) + row * out_row + column;
                        arena.copy_within(from..from + row_of(t), to);
                    }
                    column += row_of(t);
                }
                check(&arena, out, &format!("op {i} (over its input)"));
            }
            _ => write(&mut arena, out),
        }
    }
    for &t in &g.outputs {
        check(&arena, t, "the end");
    }
}
