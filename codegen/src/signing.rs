//! Ed25519 keys and signed blobs on the host: `kiln keygen` and `kiln
//! compile --blob --sign KEY`. The device side is `kiln::blob::load_signed`.
//!
//! Layer: top of kiln-codegen beside `emit::blob`; uses `ed25519-dalek` and
//! the envelope layout of `kiln::blob` (`SIGNED_*`). Keys are files of hex
//! text: `NAME.key` the 32-byte secret seed (written readable by its owner
//! only), `NAME.pub` the 32-byte public key.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use kiln::blob::{SIGNED_MAGIC, SIGNED_PREFIX, SIGNED_VERSION};

use crate::error::{Error, Result};

/// What `keygen` wrote.
pub struct KeyPair {
    pub secret_file: PathBuf,
    pub public_file: PathBuf,
    pub public_key: [u8; 32],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_error(path: &Path, detail: &str) -> Error {
    Error::Data {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Reads a 32-byte key written as 64 hex digits (surrounding whitespace
/// ignored).
pub fn read_key(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = text.trim();
    let bad = || key_error(path, "not a kiln key: expected 64 hex digits (32 bytes)");
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Writes a fresh key pair `NAME.key` and `NAME.pub` into `dir`, refusing to
/// overwrite an existing secret key.
pub fn keygen(dir: &Path, name: &str) -> Result<KeyPair> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let secret_file = dir.join(format!("{name}.key"));
    let public_file = dir.join(format!("{name}.pub"));
    if secret_file.exists() {
        return Err(key_error(
            &secret_file,
            "exists already: a new key would orphan every blob signed with it",
        ));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io {
        path: secret_file.clone(),
        source: std::io::Error::other(format!("no randomness for a key: {e}")),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let public_key = key.verifying_key().to_bytes();
    write_private(&secret_file, &format!("{}\n", hex(&seed)))?;
    std::fs::write(&public_file, format!("{}\n", hex(&public_key))).map_err(|source| {
        Error::Io {
            path: public_file.clone(),
            source,
        }
    })?;
    Ok(KeyPair {
        secret_file,
        public_file,
        public_key,
    })
}

/// Creates `path` readable and writable by its owner only (on Unix).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

/// The public key of the secret key in `secret_file`.
pub fn public_key_of(secret_file: &Path) -> Result<[u8; 32]> {
    Ok(SigningKey::from_bytes(&read_key(secret_file)?)
        .verifying_key()
        .to_bytes())
}

/// `blob` in a signed envelope (see `kiln::blob::load_signed`), signed with
/// the secret key in `secret_file`.
pub fn sign_blob(blob: &[u8], secret_file: &Path) -> Result<Vec<u8>> {
    let key = SigningKey::from_bytes(&read_key(secret_file)?);
    let signature = key.sign(blob).to_bytes();
    let mut out = Vec::with_capacity(SIGNED_PREFIX + blob.len());
    out.extend(SIGNED_MAGIC);
    out.extend(SIGNED_VERSION.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(signature);
    debug_assert_eq!(out.len(), SIGNED_PREFIX);
    out.extend(blob);
    Ok(out)
}

/// The public key as a Rust constant, for the firmware that verifies.
pub fn rust_constant(public_key: &[u8; 32]) -> String {
    let bytes: Vec<String> = public_key.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("pub const PUBLIC_KEY: [u8; 32] = [{}];", bytes.join(", "))
}
