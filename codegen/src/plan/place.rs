//! Placement: the greedy strategy that gives each buffer (or group of
//! buffers written over one another) its arena offset.
//!
//! Layer: plan; uses the planner's buffers.

use super::{Buffer, ALIGNMENT};

/// Greedy placement: each group of buffers, in turn, at the lowest aligned
/// offset where none of its buffers meets a placed buffer alive at the same
/// time. Two orders are tried, largest group first (TFLM's) and in order of
/// birth (which suits chains of in-place layers), and the smaller arena
/// kept; returns the end of the highest buffer.
pub(super) fn place(buffers: &mut [Buffer]) -> usize {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, b) in buffers.iter().enumerate() {
        groups.entry(b.group).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let largest = |g: &Vec<usize>| g.iter().map(|&b| buffers[b].bytes).max().unwrap_or(0);
    let earliest = |g: &Vec<usize>| g.iter().map(|&b| buffers[b].first).min().unwrap_or(0);
    let mut by_size = groups.clone();
    by_size.sort_by_key(|g| (std::cmp::Reverse(largest(g)), earliest(g)));
    let mut by_birth = groups;
    by_birth.sort_by_key(|g| (earliest(g), std::cmp::Reverse(largest(g))));
    let mut other = buffers.to_vec();
    let (size_first, birth_first) = (
        place_in_order(buffers, &by_size),
        place_in_order(&mut other, &by_birth),
    );
    if birth_first < size_first {
        buffers.clone_from_slice(&other);
        birth_first
    } else {
        size_first
    }
}

fn place_in_order(buffers: &mut [Buffer], order: &[Vec<usize>]) -> usize {
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_bytes = 0;
    for members in order {
        // The group's origin may not put any member below offset 0.
        let lowest = members.iter().map(|&m| -buffers[m].rel).max().unwrap_or(0);
        // Origins at which a member would meet a placed, live buffer.
        let mut busy: Vec<(isize, isize)> = Vec::new();
        for &m in members {
            let b = &buffers[m];
            for &p in &placed {
                let q = &buffers[p];
                if q.first <= b.last && b.first <= q.last && b.bytes > 0 && q.bytes > 0 {
                    let start = q.offset as isize - b.rel - b.bytes as isize;
                    let stop = (q.offset + q.bytes) as isize - b.rel;
                    busy.push((start, stop));
                }
            }
        }
        busy.sort();
        let step = ALIGNMENT as isize;
        let mut origin = lowest.div_euclid(step) * step;
        if origin < lowest {
            origin += step;
        }
        // Each interval forbids the origins strictly between its ends.
        for (start, stop) in busy {
            if origin <= start {
                break;
            }
            if origin < stop {
                origin = (stop + step - 1).div_euclid(step) * step;
            }
        }
        for &m in members {
            let b = &mut buffers[m];
            b.offset = (origin + b.rel) as usize;
            arena_bytes = arena_bytes.max(b.offset + b.bytes);
            placed.push(m);
        }
    }
    arena_bytes
}
