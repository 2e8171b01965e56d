//! Errors caused by the user's input (exit code 2), as opposed to failures while running (exit code 1).

/// A problem with what the user asked for: an unknown name, a malformed or inconsistent config, an
/// impossible size. Always one line.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Usage(String),
    #[error("{file}: `{field}`: {message}")]
    Config { file: String, field: String, message: String },
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UserError::Usage(msg.into()).into()
}
