//! Models compiled by `kiln_codegen::Builder` in this crate's build script
//! (see `build.rs`), exactly as firmware would compile them.

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// `N` values of `T` from little-endian bytes of any alignment.
fn typed<T: bytemuck::Pod, const N: usize>(bytes: &[u8]) -> Option<[T; N]> {
    let size = core::mem::size_of::<T>();
    if bytes.len() != N * size {
        return None;
    }
    Some(core::array::from_fn(|i| {
        bytemuck::pod_read_unaligned(&bytes[i * size..(i + 1) * size])
    }))
}
