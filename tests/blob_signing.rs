//! Signed model blobs (`kiln keygen`, `kiln compile --blob --sign`,
//! `kiln::blob::load_signed`): a blob signed with the owner's key loads and
//! runs as the unsigned one does; anything else is refused with
//! `kiln::Error` before a field of the blob is trusted: a bit flipped
//! anywhere, weights swapped with the CRC recomputed, another key's
//! signature, a truncated signature, every prefix (a partly written flash
//! partition), an unsigned blob, another envelope version.

mod common;

use std::path::PathBuf;

use common::Aligned;
use kiln::{BlobError, Error, Executor};

const MAX_OPS: usize = 16;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A key pair in a scratch directory of its own (fresh randomness, as
/// `kiln keygen`), which holds the secret key file while it lives.
fn keys(name: &str) -> (common::ScratchDir, PathBuf, [u8; 32]) {
    let dir = common::ScratchDir::new(&format!("signing-{name}"));
    let pair = kiln_codegen::signing::keygen(&dir, name).unwrap();
    assert_eq!(
        kiln_codegen::signing::read_key(&pair.public_file).unwrap(),
        pair.public_key
    );
    (dir, pair.secret_file, pair.public_key)
}

fn digits_blob() -> Vec<u8> {
    let model =
        kiln_codegen::compile_file(&repo().join("examples/digits/digits_int8.tflite")).unwrap();
    kiln_codegen::emit::blob::blob(&model)
}

fn signed_digits() -> (Vec<u8>, Vec<u8>, [u8; 32]) {
    let (_keys, secret, public) = keys("owner");
    let blob = digits_blob();
    let signed = kiln_codegen::signing::sign_blob(&blob, &secret).unwrap();
    (blob, signed, public)
}

fn refusal(bytes: &[u8], key: &[u8; 32]) -> Option<BlobError> {
    let aligned = Aligned::new(bytes);
    match kiln::blob::load_signed::<MAX_OPS>(aligned.bytes(), key) {
        Ok(_) => None,
        Err(Error::Blob(e)) => Some(e),
        Err(e) => panic!("expected a blob error, got {e}"),
    }
}

fn output(graph: &kiln::Graph) -> Vec<u8> {
    let mut arena = vec![0u128; (graph.arena_bytes as usize).div_ceil(16)];
    let mut exec = Executor::new(graph, bytemuck::cast_slice_mut(&mut arena)).unwrap();
    let input = std::fs::read(repo().join("examples/digits/samples/input_3.npy")).unwrap();
    exec.set_input(0, &input[input.len() - 64..]).unwrap();
    exec.run();
    exec.output(0).unwrap().to_vec()
}

#[test]
fn a_signed_blob_loads_and_runs_as_the_unsigned_one() {
    let (blob, signed, public) = signed_digits();
    assert_eq!(signed.len(), blob.len() + kiln::blob::SIGNED_PREFIX);
    let (plain, sealed) = (Aligned::new(&blob), Aligned::new(&signed));
    let unsigned = kiln::blob::load::<MAX_OPS>(plain.bytes()).unwrap();
    let verified = kiln::blob::load_signed::<MAX_OPS>(sealed.bytes(), &public).unwrap();
    assert_eq!(verified.graph(), unsigned.graph());
    assert_eq!(output(&verified.graph()), output(&unsigned.graph()));
}

#[test]
fn a_flipped_bit_anywhere_is_refused() {
    let (_, signed, public) = signed_digits();
    let mut tampered = signed.clone();
    let mut refused = 0;
    for byte in 0..signed.len() {
        for bit in 0..8 {
            tampered[byte] ^= 1 << bit;
            let why = refusal(&tampered, &public);
            assert!(why.is_some(), "bit {bit} of byte {byte} went unnoticed");
            if byte >= kiln::blob::SIGNED_PREFIX {
                assert_eq!(why, Some(BlobError::BadSignature), "byte {byte}");
            }
            tampered[byte] ^= 1 << bit;
            refused += 1;
        }
    }
    assert_eq!(tampered, signed);
    assert_eq!(refused, signed.len() * 8);
    println!(
        "signed blob of {} bytes: {refused} of {refused} single-bit flips refused",
        signed.len()
    );
}

#[test]
fn weights_swapped_with_the_crc_recomputed_are_refused() {
    let (blob, signed, public) = signed_digits();
    let plain = Aligned::new(&blob);
    let loaded = kiln::blob::load::<MAX_OPS>(plain.bytes()).unwrap();
    let weights = loaded.graph().weights;
    let start = weights.as_ptr() as usize - plain.bytes().as_ptr() as usize;
    // Two different weight bytes trade places; the CRC is made right again,
    // as anyone can.
    let (a, b) = (0..weights.len())
        .flat_map(|i| (i + 1..weights.len()).map(move |j| (i, j)))
        .find(|&(i, j)| weights[i] != weights[j])
        .unwrap();
    let mut forged = signed.clone();
    let inner = kiln::blob::SIGNED_PREFIX;
    forged.swap(inner + start + a, inner + start + b);
    let crc = kiln::blob::crc32(&forged[inner + kiln::blob::PREFIX..]);
    forged[inner + 16..inner + 20].copy_from_slice(&crc.to_le_bytes());
    // The checksum alone lets the forgery through; the signature does not.
    let forged_inner = Aligned::new(&forged[inner..]);
    assert!(kiln::blob::load::<MAX_OPS>(forged_inner.bytes()).is_ok());
    assert_eq!(refusal(&forged, &public), Some(BlobError::BadSignature));
}

#[test]
fn a_valid_blob_signed_by_another_key_is_refused() {
    let (_, signed, public) = signed_digits();
    let (_other_keys, other_secret, other_public) = keys("stranger");
    let blob = digits_blob();
    let by_stranger = kiln_codegen::signing::sign_blob(&blob, &other_secret).unwrap();
    assert_eq!(refusal(&by_stranger, &other_public), None);
    assert_eq!(
        refusal(&by_stranger, &public),
        Some(BlobError::BadSignature)
    );
    assert_eq!(
        refusal(&signed, &other_public),
        Some(BlobError::BadSignature)
    );
    // Not a key at all: refused, not a panic.
    assert!(refusal(&signed, &[0xff; 32]).is_some());
}

#[test]
fn every_prefix_and_a_truncated_signature_are_refused() {
    let (_, signed, public) = signed_digits();
    for len in 0..signed.len() {
        let why = refusal(&signed[..len], &public);
        let expected = if len < kiln::blob::SIGNED_PREFIX {
            // Cut inside the envelope: the signature is not all there.
            BlobError::Unsigned
        } else {
            BlobError::BadSignature
        };
        assert_eq!(why, Some(expected), "prefix of {len} bytes");
    }
    assert_eq!(refusal(&signed, &public), None);
    println!(
        "{} of {} proper prefixes refused",
        signed.len(),
        signed.len()
    );
}

#[test]
fn unsigned_blobs_and_other_envelope_versions_are_refused() {
    let (blob, signed, public) = signed_digits();
    assert_eq!(refusal(&blob, &public), Some(BlobError::Unsigned));
    let mut newer = signed.clone();
    newer[8] = 2;
    assert_eq!(
        refusal(&newer, &public),
        Some(BlobError::SignedVersion { found: 2 })
    );
}
