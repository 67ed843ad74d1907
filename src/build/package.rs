//! Lambda zips and their manifest, reproducibly: the same `bootstrap` always gives the same
//! bytes (fixed timestamp, one entry, fixed permissions), so an unchanged handler keeps its
//! SHA-256, which `wh deploy` uses as the artifact key and so never uploads it twice.

use std::io::{Cursor, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// A zip with `bootstrap` (mode 0755, dated 1980-01-01) holding `executable`.
pub fn lambda_zip(executable: &[u8]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(DateTime::default());
    zip.start_file("bootstrap", options)?;
    zip.write_all(executable)?;
    Ok(zip.finish()?.into_inner())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One packaged function in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackagedFunction {
    /// The zip's file name, beside the manifest.
    pub zip: String,
    /// SHA-256 of the zip.
    pub sha256: String,
    /// The zip's size in bytes.
    pub bytes: u64,
    /// The S3 key `wh deploy` uploads it under: content-addressed.
    pub s3_key: String,
}

impl PackagedFunction {
    /// The manifest entry of `zip_bytes`, written as `<function>.zip`.
    pub fn new(stack: &str, function: &str, zip_bytes: &[u8]) -> Self {
        let sha256 = sha256_hex(zip_bytes);
        PackagedFunction {
            zip: format!("{function}.zip"),
            s3_key: format!("{stack}/{function}/{sha256}.zip"),
            sha256,
            bytes: zip_bytes.len() as u64,
        }
    }
}

/// `manifest.json` beside the zips.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// The stack the functions belong to (`<name>-<suffix>` of the spec).
    pub stack: String,
    /// Lambda architecture.
    pub architecture: &'static str,
    /// Lambda runtime.
    pub runtime: &'static str,
    /// SHA-256 of the generated handler crates the zips were built from
    /// (`Compilation::handlers_sha256`).
    pub handlers_sha256: String,
    /// Packaged functions by name, in template order.
    pub functions: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_zip_is_reproducible_and_holds_an_executable_bootstrap() {
        let exe = b"\x7fELF pretend executable".repeat(1000);
        let a = lambda_zip(&exe).unwrap();
        let b = lambda_zip(&exe).unwrap();
        assert_eq!(a, b);
        let mut archive = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, exe);
        assert_ne!(lambda_zip(b"other").unwrap(), lambda_zip(&exe).unwrap());
    }

    #[test]
    fn the_artifact_key_is_the_content_hash() {
        let f = PackagedFunction::new("payments-prod", "receiver", b"zip bytes");
        assert_eq!(f.sha256, sha256_hex(b"zip bytes"));
        assert_eq!(f.s3_key, format!("payments-prod/receiver/{}.zip", f.sha256));
        assert_eq!(f.bytes, 9);
    }
}
