//! Configured instances: their names, and how a call finds the instance it runs on.
//!
//! A plugin can run as several *instances*, each built from its own configuration and
//! loaded under its own name (`registry().load_instance::<dyn Sink>("kafka_sink",
//! "kafka-eu", config)`): two Kafka sinks writing to two clusters. Each instance has its
//! own [`PluginRecord`](crate::PluginRecord) — state, transitions, lifecycle timings,
//! failures, health — and its own operation counts, and every per-plugin series carries
//! its name as the `instance` label. A plugin loaded the old way (`load`, `load_all`) or
//! called on a value the host built itself runs as its *default instance*, named after
//! the plugin.
//!
//! # Names
//!
//! An instance name is what an operator writes in a config file (`[sinks.kafka-eu]`) and
//! what a label value shows, so it is bounded: non-empty, at most
//! [`InstanceName::MAX_LEN`] bytes, ASCII letters, digits, `_`, `-` and `.` only, and
//! unique in its registry (every plugin's default instance holds the plugin's name).

use std::fmt;

use crate::model::name_rules::{self, NameError};

/// A validated instance name.
///
/// ```
/// use plugobs_runtime::instance::{InstanceName, InstanceNameError};
///
/// let name = InstanceName::new("kafka-eu").unwrap();
/// assert_eq!(name.as_str(), "kafka-eu");
/// assert_eq!(InstanceName::new(""), Err(InstanceNameError::Empty));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceName(String);

impl InstanceName {
    /// The longest name accepted, in bytes.
    pub const MAX_LEN: usize = name_rules::MAX_LEN;

    /// Validates `name`: non-empty, at most [`Self::MAX_LEN`] bytes, and only ASCII
    /// letters, digits, `_`, `-` and `.`.
    pub fn new(name: &str) -> Result<Self, InstanceNameError> {
        match name_rules::check(name) {
            Ok(()) => {}
            Err(NameError::Empty) => return Err(InstanceNameError::Empty),
            Err(NameError::TooLong { len }) => return Err(InstanceNameError::TooLong { len }),
            Err(NameError::InvalidCharacter { index }) => {
                let character = name.get(index..).and_then(|r| r.chars().next());
                let character = character.unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(InstanceNameError::InvalidCharacter { character, index });
            }
        }
        Ok(InstanceName(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a valid [`InstanceName`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`InstanceName::MAX_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character outside ASCII letters, digits, `_`, `-` and `.`.
    InvalidCharacter {
        /// The first such character.
        character: char,
        /// Its byte offset in the name.
        index: usize,
    },
}

impl fmt::Display for InstanceNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceNameError::Empty => f.write_str("an instance name must not be empty"),
            InstanceNameError::TooLong { len } => write!(
                f,
                "an instance name is at most {} bytes long, this one is {len}",
                InstanceName::MAX_LEN
            ),
            InstanceNameError::InvalidCharacter { character, index } => write!(
                f,
                "an instance name holds only ASCII letters, digits, '_', '-' and '.'; \
                 found {character:?} at byte {index}"
            ),
        }
    }
}

impl std::error::Error for InstanceNameError {}

/// The most instances of one plugin that can be loaded by name at the same time.
pub const MAX_LIVE_INSTANCES: usize = 256;
/// The most distinct instance names one plugin can be loaded under in a process: each
/// keeps its series (and its counts) for the life of the process.
pub const MAX_INSTANCE_NAMES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_bounded_charset() {
        for name in [
            "kafka-eu",
            "es.0",
            "http_source_1",
            "A",
            "a".repeat(64).as_str(),
        ] {
            assert_eq!(InstanceName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_with_exact_errors_and_messages() {
        assert_eq!(InstanceName::new(""), Err(InstanceNameError::Empty));
        assert_eq!(
            InstanceName::new(&"a".repeat(65)),
            Err(InstanceNameError::TooLong { len: 65 })
        );
        let err = InstanceName::new("kafka eu").unwrap_err();
        assert_eq!(
            err,
            InstanceNameError::InvalidCharacter {
                character: ' ',
                index: 5
            }
        );
        assert_eq!(
            err.to_string(),
            "an instance name holds only ASCII letters, digits, '_', '-' and '.'; found ' ' at byte 5"
        );
        assert_eq!(
            InstanceName::new("é").unwrap_err(),
            InstanceNameError::InvalidCharacter {
                character: 'é',
                index: 0
            }
        );
        assert_eq!(
            InstanceNameError::TooLong { len: 65 }.to_string(),
            "an instance name is at most 64 bytes long, this one is 65"
        );
        assert_eq!(
            InstanceNameError::Empty.to_string(),
            "an instance name must not be empty"
        );
    }
}
