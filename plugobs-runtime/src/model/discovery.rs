//! The words of discovery per directory: why a file found there did not become a plugin
//! (a bounded `reason` label), the loader's error, and one failed file.

use std::fmt;
use std::path::PathBuf;

/// Why a file of a discovered directory did not become a plugin: the `reason` label of
/// `plugobs_discovery_failures_total`, a bounded set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DiscoveryReason {
    /// The file could not be read: a dangling link, a directory, no permission.
    Io,
    /// The loader found no plugin in it: not a module, a missing export
    /// ([`FileError::invalid`]).
    Invalid,
    /// The loader failed for another reason ([`FileError::error`]).
    Error,
    /// The loader panicked (the panic does not go further: the other files go on).
    Panic,
    /// The plugin it describes was refused by the registry: an invalid name, a name
    /// already taken, too many operations.
    Refused,
}

impl DiscoveryReason {
    /// Every reason, in label order.
    pub const ALL: [DiscoveryReason; 5] = [
        DiscoveryReason::Io,
        DiscoveryReason::Invalid,
        DiscoveryReason::Error,
        DiscoveryReason::Panic,
        DiscoveryReason::Refused,
    ];

    /// The label value.
    ///
    /// ```
    /// assert_eq!(plugobs_runtime::discovery::DiscoveryReason::Invalid.as_str(), "invalid");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryReason::Io => "io",
            DiscoveryReason::Invalid => "invalid",
            DiscoveryReason::Error => "error",
            DiscoveryReason::Panic => "panic",
            DiscoveryReason::Refused => "refused",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DiscoveryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a discovery loader returns for a file it cannot make a plugin of.
///
/// ```
/// use plugobs_runtime::discovery::{DiscoveryReason, FileError};
///
/// let e = FileError::invalid("not a WebAssembly module");
/// assert_eq!(e.reason(), DiscoveryReason::Invalid);
/// assert_eq!(e.to_string(), "not a WebAssembly module");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    reason: DiscoveryReason,
    message: String,
}

impl FileError {
    /// The file holds no plugin (reason `invalid`).
    pub fn invalid(message: impl fmt::Display) -> Self {
        Self::new(DiscoveryReason::Invalid, message)
    }

    /// The loader failed for another reason (reason `error`).
    pub fn error(message: impl fmt::Display) -> Self {
        Self::new(DiscoveryReason::Error, message)
    }

    /// The file could not be read (reason `io`).
    pub fn io(error: &std::io::Error) -> Self {
        Self::new(DiscoveryReason::Io, error)
    }

    pub(crate) fn new(reason: DiscoveryReason, message: impl fmt::Display) -> Self {
        FileError {
            reason,
            message: message.to_string(),
        }
    }

    /// The `reason` label.
    pub fn reason(&self) -> DiscoveryReason {
        self.reason
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileError {}

/// One file of a discovered directory that did not become a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFailure {
    /// The file.
    pub path: PathBuf,
    /// Why, as a bounded label.
    pub reason: DiscoveryReason,
    /// What went wrong, in words.
    pub message: String,
}

impl fmt::Display for DiscoveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.path.display(),
            self.message,
            self.reason
        )
    }
}
