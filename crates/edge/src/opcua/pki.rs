//! The gateway's certificates and its trust list, in one PKI directory.
//!
//! Layout, as the OPC UA stack reads it:
//!
//! ```text
//! PKI_DIR/own/cert.der         the gateway's certificate (made on first use)
//! PKI_DIR/private/private.pem  its private key (made on first use)
//! PKI_DIR/trusted/             server certificates the gateway trusts
//! PKI_DIR/rejected/            server certificates it refused, for review
//! ```
//!
//! The stack looks a server certificate up in `trusted/` by one exact file
//! name (`COMMON NAME [SHA1 THUMBPRINT].der`). People copy certificates in
//! under whatever name they came with, as DER or PEM, so before each
//! connection [`prepare`] adds the exact name beside any certificate in
//! `trusted/` that lacks it, and removes a certificate from `rejected/`
//! once it is trusted: a trust decision made later wins over a refusal made
//! earlier.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opcua::crypto::{CertificateStore, X509};
use opcua::types::ByteString;

use super::events;

/// The gateway's own certificate, below the PKI directory.
pub(crate) const OWN_CERTIFICATE: &str = "own/cert.der";
/// The trust list, below the PKI directory.
pub(crate) const TRUSTED_DIR: &str = "trusted";
/// Refused certificates, below the PKI directory.
pub(crate) const REJECTED_DIR: &str = "rejected";

/// Serialises work on PKI directories within the process: two device
/// tasks sharing a directory must not both make the gateway's key.
pub(crate) static PKI_LOCK: Mutex<()> = Mutex::new(());

/// Makes `dir`'s trust list readable by the stack; see the module docs.
/// Unreadable files are reported once and skipped. Call with
/// [`PKI_LOCK`] held.
pub(crate) fn prepare(dir: &Path) -> Result<(), String> {
    let trusted = dir.join(TRUSTED_DIR);
    let rejected = dir.join(REJECTED_DIR);
    for needed in [&trusted, &rejected] {
        std::fs::create_dir_all(needed)
            .map_err(|error| format!("cannot create {}: {error}", needed.display()))?;
    }
    let entries = std::fs::read_dir(&trusted)
        .map_err(|error| format!("cannot list {}: {error}", trusted.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !is_certificate_file(&path) {
            continue;
        }
        let certificate = match CertificateStore::read_cert(&path) {
            Ok(certificate) => certificate,
            Err(reason) => {
                events::unreadable_certificate(&path, &reason);
                continue;
            }
        };
        let name = CertificateStore::cert_file_name(&certificate);
        let canonical = trusted.join(&name);
        if !canonical.exists() {
            let der = certificate
                .to_der()
                .map_err(|_| format!("cannot encode the certificate in {}", path.display()))?;
            std::fs::write(&canonical, der)
                .map_err(|error| format!("cannot write {}: {error}", canonical.display()))?;
        }
        let refused = rejected.join(&name);
        if refused.exists() {
            std::fs::remove_file(&refused)
                .map_err(|error| format!("cannot remove {}: {error}", refused.display()))?;
        }
    }
    Ok(())
}

fn is_certificate_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|extension| extension == "der" || extension == "pem")
}

/// What the gateway knows of a server certificate: its file name in the
/// PKI directory, and its validity period as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerCertificate {
    /// The exact file name the stack uses.
    pub(crate) file_name: String,
    /// Valid from, as text.
    pub(crate) not_before: String,
    /// Valid until, as text.
    pub(crate) not_after: String,
}

impl ServerCertificate {
    /// The certificate a server sent, if it is one.
    pub(crate) fn read(der: &ByteString) -> Option<ServerCertificate> {
        let certificate = X509::from_byte_string(der).ok()?;
        let unknown = |_| "unknown".to_owned();
        Some(ServerCertificate {
            file_name: CertificateStore::cert_file_name(&certificate),
            not_before: certificate
                .not_before()
                .map_or_else(unknown, |at| at.to_string()),
            not_after: certificate
                .not_after()
                .map_or_else(unknown, |at| at.to_string()),
        })
    }

    /// Where the stack saved it when it refused it.
    pub(crate) fn rejected_path(&self, dir: &Path) -> PathBuf {
        dir.join(REJECTED_DIR).join(&self.file_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_certificates_are_skipped_and_the_directories_made() {
        let dir = tempfile::tempdir().unwrap();
        let trusted = dir.path().join(TRUSTED_DIR);
        std::fs::create_dir_all(&trusted).unwrap();
        std::fs::write(trusted.join("notes.txt"), "not a certificate").unwrap();
        std::fs::write(trusted.join("broken.der"), b"\x30\x03\x02\x01").unwrap();
        prepare(dir.path()).unwrap();
        assert!(dir.path().join(REJECTED_DIR).is_dir());
        let mut names: Vec<String> = std::fs::read_dir(&trusted)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["broken.der", "notes.txt"]);
    }
}
