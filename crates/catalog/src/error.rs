//! What can go wrong in the catalog.

use std::fmt;

use flowline_db::DbError;

/// A problem with one entry of a write: a row of a file, or the one asset or
/// tag of an API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line in the source file where the entry starts, if it came from one.
    pub line: Option<usize>,
    /// The path of the entry, if it could be read.
    pub path: Option<String>,
    /// What is wrong, naming the field, what was expected and what was found.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(
        line: Option<usize>,
        path: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        RowError {
            line,
            path,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    /// `line 12: north/pad-1/w-01/esp/motor-current: unit: unknown unit …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a catalog operation failed. Whatever the error, nothing of the
/// operation was applied.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The entries of a write have problems.
    #[error("{}", describe_rejection(.0))]
    Rejected(Vec<RowError>),
    /// The asset or tag to change does not exist.
    #[error("{what} `{key}` does not exist")]
    NotFound {
        /// `asset` or `tag`.
        what: &'static str,
        /// The path or id asked for.
        key: String,
    },
    /// A row in the database cannot be read back; someone edited the
    /// tables by hand, or a bug wrote it.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt {
        /// Which row: entity, id and path.
        what: String,
        /// What could not be read.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<flowline_db::sqlx::Error> for CatalogError {
    fn from(error: flowline_db::sqlx::Error) -> Self {
        CatalogError::Database(DbError::Query(error))
    }
}

fn describe_rejection(errors: &[RowError]) -> String {
    match errors {
        [] => "rejected".to_owned(),
        [only] => format!("rejected, nothing applied: {only}"),
        [first, rest @ ..] => {
            format!(
                "rejected, nothing applied: {first} (and {} more problems)",
                rest.len()
            )
        }
    }
}
