//! The model as one postcard blob (`kiln compile --blob`): the same ops and
//! weights the generated Rust module holds, as data that `kiln::blob::load`
//! reads from flash at run time (for example after an over-the-air update).
//!
//! Layer: emit; uses `lower` and the runtime's blob format (`kiln::blob`).

use kiln::blob::{crc32, BlobHeader, MAGIC, PREFIX, VERSION};

use crate::lower::CompiledModel;

fn postcard<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("plain data always serializes")
}

/// The blob bytes; the weights start on a 16-byte boundary of the blob.
pub fn blob(model: &CompiledModel) -> Vec<u8> {
    let mut body = Vec::new();
    for t in model.inputs.iter().chain(&model.outputs) {
        body.extend(postcard(t));
    }
    for t in &model.state {
        body.extend(postcard(t));
    }
    for op in &model.ops {
        body.extend(postcard(op));
    }
    let weights = model.weights();
    let mut header = BlobHeader {
        arena_bytes: model.arena_bytes() as u32,
        op_count: model.ops.len() as u32,
        input_count: model.inputs.len() as u32,
        output_count: model.outputs.len() as u32,
        state_count: model.state.len() as u32,
        weights_offset: 0,
        weights_len: weights.len() as u32,
    };
    // The header's encoded size depends on the offset it records: iterate
    // until the offset no longer changes (twice at most).
    let mut encoded = postcard(&header);
    loop {
        let offset = (PREFIX + encoded.len() + body.len()).div_ceil(16) * 16;
        if header.weights_offset as usize == offset {
            break;
        }
        header.weights_offset = offset as u32;
        encoded = postcard(&header);
    }
    let mut out = Vec::with_capacity(header.weights_offset as usize + weights.len());
    out.extend(MAGIC);
    out.extend(VERSION.to_le_bytes());
    out.extend([0u8; 8]); // total length and CRC, filled below
    out.extend(&encoded);
    out.extend(&body);
    out.resize(header.weights_offset as usize, 0);
    out.extend(weights);
    let total = out.len() as u32;
    out[12..16].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&out[PREFIX..]);
    out[16..20].copy_from_slice(&crc.to_le_bytes());
    out
}
