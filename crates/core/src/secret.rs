//! Passwords named by a configuration: read from a file or from an
//! environment variable, never written in the configuration itself.
//!
//! The gateway logs in to OPC UA servers and the simulator's OPC UA server
//! checks its users' passwords; both are configured the same way, with
//! exactly one of `password_file` and `password_env`. This is the one place
//! that reads them, so a password file means the same thing everywhere: its
//! whole text but one trailing line break.

use std::path::Path;

/// A password that could not be read. Names where it was looked for, and
/// never holds the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the password from {origin}: {reason}")]
pub struct PasswordError {
    /// `file PATH`, `environment variable NAME`, or `the configuration`
    /// when it names neither or both.
    pub origin: String,
    /// Why not.
    pub reason: String,
}

/// Reads a password from `file` or from the environment variable
/// `variable`; exactly one of the two must be given. One trailing line
/// break (`\n` or `\r\n`) of a file is not part of the password.
pub fn read_password(file: Option<&Path>, variable: Option<&str>) -> Result<String, PasswordError> {
    match (file, variable) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path).map_err(|error| PasswordError {
                origin: format!("file {}", path.display()),
                reason: error.to_string(),
            })?;
            let line = text.strip_suffix('\n').unwrap_or(&text);
            Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
        }
        (None, Some(variable)) => std::env::var(variable).map_err(|error| PasswordError {
            origin: format!("environment variable {variable}"),
            reason: error.to_string(),
        }),
        _ => Err(PasswordError {
            origin: "the configuration".to_owned(),
            reason: "expected exactly one of password_file and password_env".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_gives_its_text_without_one_trailing_line_break() {
        let directory =
            std::env::temp_dir().join(format!("flowline-secret-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("password");
        for (written, read) in [
            ("valve-7\n", "valve-7"),
            ("valve-7\r\n", "valve-7"),
            ("valve-7", "valve-7"),
            ("two lines\n\n", "two lines\n"),
            (" spaced ", " spaced "),
        ] {
            std::fs::write(&file, written).unwrap();
            assert_eq!(
                read_password(Some(&file), None).unwrap(),
                read,
                "{written:?}"
            );
        }
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_missing_source_is_named_and_both_or_neither_are_refused() {
        let missing = Path::new("/no/such/password");
        let error = read_password(Some(missing), None).unwrap_err();
        assert_eq!(error.origin, "file /no/such/password");
        let error = read_password(None, Some("FLOWLINE_TEST_NO_SUCH_PASSWORD")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read the password from environment variable \
             FLOWLINE_TEST_NO_SUCH_PASSWORD: environment variable not found"
        );
        for (file, variable) in [(None, None), (Some(missing), Some("X"))] {
            let error = read_password(file, variable).unwrap_err();
            assert_eq!(
                error.to_string(),
                "cannot read the password from the configuration: expected exactly one of \
                 password_file and password_env"
            );
        }
    }
}
