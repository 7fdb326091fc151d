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
    let meets = Meetings::of(buffers);
    let mut other = buffers.to_vec();
    let (size_first, birth_first) = (
        place_in_order(buffers, &by_size, &meets),
        place_in_order(&mut other, &by_birth, &meets),
    );
    if birth_first < size_first {
        buffers.clone_from_slice(&other);
        birth_first
    } else {
        size_first
    }
}

/// For each buffer of some bytes, the others of some bytes alive at an op
/// while it is: a buffer can meet only those, few in a long graph of
/// short-lived tensors (a loop unrolled over its time steps), so placing
/// costs far less than checking every placed buffer.
struct Meetings {
    /// Buffer `b`'s are `list[start[b]..start[b + 1]]`.
    start: Vec<usize>,
    list: Vec<usize>,
}

impl Meetings {
    fn of(buffers: &[Buffer]) -> Meetings {
        let steps = buffers.iter().map(|b| b.last + 1).max().unwrap_or(0);
        let sized = || buffers.iter().enumerate().filter(|(_, b)| b.bytes > 0);
        // The buffers alive at each op, as one list in op order.
        let mut at_start = vec![0; steps + 1];
        for (_, b) in sized() {
            for at in b.first..=b.last {
                at_start[at + 1] += 1;
            }
        }
        for at in 0..steps {
            at_start[at + 1] += at_start[at];
        }
        let mut alive = vec![0; at_start[steps]];
        let mut next = at_start.clone();
        for (i, b) in sized() {
            for at in b.first..=b.last {
                alive[next[at]] = i;
                next[at] += 1;
            }
        }
        // The buffer a meeting was last listed for: one alive at several
        // ops is listed once.
        let mut listed = vec![usize::MAX; buffers.len()];
        let mut start = vec![0; buffers.len() + 1];
        let mut list = Vec::new();
        for (i, b) in buffers.iter().enumerate() {
            if b.bytes > 0 {
                for &p in (b.first..=b.last).flat_map(|at| &alive[at_start[at]..at_start[at + 1]]) {
                    if p != i && listed[p] != i {
                        listed[p] = i;
                        list.push(p);
                    }
                }
            }
            start[i + 1] = list.len();
        }
        Meetings { start, list }
    }

    fn of_buffer(&self, b: usize) -> &[usize] {
        &self.list[self.start[b]..self.start[b + 1]]
    }
}

fn place_in_order(buffers: &mut [Buffer], order: &[Vec<usize>], meets: &Meetings) -> usize {
    let mut placed = vec![false; buffers.len()];
    let mut arena_bytes = 0;
    for members in order {
        // The group's origin may not put any member below offset 0.
        let lowest = members.iter().map(|&m| -buffers[m].rel).max().unwrap_or(0);
        // Origins at which a member would meet a placed, live buffer.
        let mut busy: Vec<(isize, isize)> = Vec::new();
        for &m in members {
            let b = &buffers[m];
            for &p in meets.of_buffer(m).iter().filter(|&&p| placed[p]) {
                let q = &buffers[p];
                let start = q.offset as isize - b.rel - b.bytes as isize;
                let stop = (q.offset + q.bytes) as isize - b.rel;
                busy.push((start, stop));
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
            placed[m] = true;
        }
    }
    arena_bytes
}
