//! The one error type of the metadata store, shared by every backend, with the HTTP status a hub answers it with.

/// Everything a metadata operation can fail with.
/// Each variant's message is written for the person reading a log or an admin command's output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing named does not exist (or, for a project, the caller is not allowed to know that it does).
    #[error("not found: {0}")]
    NotFound(String),
    /// Creating would break a uniqueness rule, e.g. an e-mail address already has an account.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The current state forbids the change, e.g. a lease is held by another host or a layout version was published meanwhile.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller may see the thing but not do this to it, e.g. a collaborator deleting a project only its owner may delete.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The input is malformed; nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database was written by a newer Orrery; this code must not touch it.
    #[error(
        "the metadata database has schema version {found}, but this build of Orrery knows only up to version {supported}: upgrade Orrery instead of opening a newer database with an older build"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    /// A stored row cannot be read back (a bad id, an unknown enum value): the database was changed by hand or damaged.
    #[error("the metadata database holds a row this code cannot read: {0}")]
    Corrupt(String),
    /// The store cannot be reached or is busy right now; retrying later may succeed.
    #[error("the metadata store is unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The backend failed in a way the caller cannot fix by changing its input.
    #[error("the metadata store failed: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// The HTTP status a hub answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::AlreadyExists(_) | Error::Conflict(_) => 409,
            Error::Forbidden(_) => 403,
            Error::Invalid(_) => 400,
            Error::Unavailable { .. } => 503,
            Error::SchemaTooNew { .. } | Error::Corrupt(_) | Error::Backend { .. } => 500,
        }
    }

    pub(crate) fn backend(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// The result of every metadata operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
