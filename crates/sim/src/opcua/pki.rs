//! The server's application certificate, made on first start and kept.
//!
//! Layout of the PKI directory, as the OPC UA stack reads it:
//!
//! ```text
//! PKI_DIR/own/cert.der         the server's certificate (made on first start)
//! PKI_DIR/private/private.pem  its private key (made on first start, mode 0600)
//! PKI_DIR/trusted/             client certificates the server trusts
//! PKI_DIR/rejected/            client certificates it refused, for review
//! ```
//!
//! The certificate is self-signed, valid for [`VALID_DAYS`] days, and names
//! the application URI, `localhost`, the loopback addresses, this
//! machine's host names and the address the server listens on, so clients
//! that check host names accept it. A refused client certificate is saved
//! in `rejected/` under the name the stack looks for in `trusted/`
//! (`NAME [THUMBPRINT].der`): moving the file across trusts the client,
//! without a restart.
//!
//! LIMITATION: a client certificate copied into `trusted/` under another
//! name is not recognised; only the name the stack gives it counts.

use std::path::Path;

use chrono::{TimeDelta, Utc};
use opcua::crypto::{CertificateStore, X509Data};

use super::{APPLICATION_NAME, APPLICATION_URI, events};
use crate::error::OpcUaError;

/// How long a new certificate is valid, in days.
pub(super) const VALID_DAYS: u32 = 730;
/// RSA key size of a new certificate, in bits: what Basic256Sha256 asks.
const KEY_BITS: u32 = 2_048;
/// A certificate that expires within this many days is reported at start.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Makes sure `dir` holds the server's certificate and key, making them
/// when neither exists; `host` is the address the server listens on.
pub(super) fn prepare(dir: &Path, host: &str) -> Result<(), OpcUaError> {
    let failed = |reason: String| OpcUaError::Pki {
        dir: dir.to_path_buf(),
        reason,
    };
    let store = CertificateStore::new(dir);
    store.ensure_pki_path().map_err(failed)?;
    let certificate = store.own_certificate_path();
    let key = store.own_private_key_path();

    if !certificate.exists() && !key.exists() {
        let data = X509Data {
            key_size: KEY_BITS,
            common_name: APPLICATION_NAME.to_owned(),
            organization: "Flowline".to_owned(),
            organizational_unit: APPLICATION_NAME.to_owned(),
            country: String::new(),
            state: String::new(),
            alt_host_names: X509Data::alt_host_names(
                APPLICATION_URI,
                named(host),
                true,
                true,
                true,
            ),
            certificate_duration_days: VALID_DAYS,
        };
        store
            .create_and_store_application_instance_cert(&data, false)
            .map_err(failed)?;
        restrict_to_owner(&key).map_err(failed)?;
        events::certificate_created(&certificate);
        return Ok(());
    }

    let own = store.read_own_cert().map_err(|reason| {
        failed(format!(
            "{reason}; delete own/ and private/ to make new ones"
        ))
    })?;
    store.read_own_pkey().map_err(|reason| {
        failed(format!(
            "{reason}; delete own/ and private/ to make new ones"
        ))
    })?;
    // LIMITATION: an expiring certificate is reported, not renewed: clients
    // that trust it would have to trust a new one too.
    if let Ok(not_after) = own.not_after()
        && not_after - Utc::now() < TimeDelta::days(EXPIRY_WARNING_DAYS)
    {
        events::certificate_expiring(&certificate, &not_after.to_rfc3339());
    }
    Ok(())
}

/// The listen address as a name for a new certificate, unless it is a
/// wildcard; the certificate names the application URI before it, and
/// `localhost`, the loopback addresses, the host names and their addresses
/// after it.
fn named(host: &str) -> Option<Vec<String>> {
    let wildcard = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_unspecified());
    (!wildcard).then(|| vec![host.to_owned()])
}

/// Lets only the owner read the private key.
#[cfg(unix)]
fn restrict_to_owner(key: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| format!("cannot restrict {} to its owner: {error}", key.display()))
}

/// Lets only the owner read the private key: nothing to do here.
#[cfg(not(unix))]
fn restrict_to_owner(_key: &Path) -> Result<(), String> {
    Ok(())
}
