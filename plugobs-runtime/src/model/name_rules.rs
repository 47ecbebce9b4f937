//! The rules for plugin and instance names, stated once.
//!
//! A plugin's name is also the name of its default instance, and an instance name is what
//! an operator writes in a config file and what a label value shows, so both follow one
//! set of rules: non-empty, at most [`MAX_LEN`] bytes, and only ASCII letters, digits,
//! `_`, `-` and `.`. [`check`] is a `const fn`: `#[plugin]` calls it in a `const` item it
//! generates, spanned at the name, so a plugin name that breaks a rule is a compile error
//! there and never reaches the registry.

/// The longest name accepted, in bytes.
pub const MAX_LEN: usize = 64;

/// Whether `byte` may appear in a name: an ASCII letter or digit, `_`, `-` or `.`.
pub const fn allowed_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// The rule a name breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a byte [`allowed_byte`] refuses.
    InvalidCharacter {
        /// The byte offset of the first one. Every byte before it is ASCII, so this is
        /// where the offending character starts.
        index: usize,
    },
}

/// Checks `name` against the rules, in order: empty, too long, a refused character.
///
/// ```
/// # use plugobs_runtime::__private::{NameError, name_rules::check};
/// assert_eq!(check("kafka-eu.2"), Ok(()));
/// assert_eq!(check(""), Err(NameError::Empty));
/// assert_eq!(check("kafka eu"), Err(NameError::InvalidCharacter { index: 5 }));
/// ```
pub const fn check(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    if bytes.len() > MAX_LEN {
        return Err(NameError::TooLong { len: bytes.len() });
    }
    let mut index = 0;
    while index < bytes.len() {
        if !allowed_byte(bytes[index]) {
            return Err(NameError::InvalidCharacter { index });
        }
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{MAX_LEN, NameError, check};
    use crate::instance::{InstanceName, InstanceNameError};

    /// `InstanceName::new` still states the rules itself; until it calls [`check`], this
    /// keeps the two in step.
    #[test]
    fn agrees_with_instance_name() {
        assert_eq!(MAX_LEN, InstanceName::MAX_LEN);
        let long = "a".repeat(MAX_LEN + 1);
        let longest = "a".repeat(MAX_LEN);
        let samples = [
            "kafka_sink",
            "kafka-eu",
            "a.b.c",
            "A9",
            "",
            " ",
            "kafka eu",
            "é",
            "sink/1",
            "tab\t",
            long.as_str(),
            longest.as_str(),
        ];
        for name in samples {
            let ours = check(name);
            let theirs = InstanceName::new(name).map(|_| ());
            match (ours, theirs) {
                (Ok(()), Ok(())) | (Err(NameError::Empty), Err(InstanceNameError::Empty)) => {}
                (Err(NameError::TooLong { len }), Err(InstanceNameError::TooLong { len: l })) => {
                    assert_eq!(len, l, "{name:?}");
                }
                (
                    Err(NameError::InvalidCharacter { index }),
                    Err(InstanceNameError::InvalidCharacter { index: i, .. }),
                ) => assert_eq!(index, i, "{name:?}"),
                (ours, theirs) => panic!("{name:?}: check says {ours:?}, InstanceName {theirs:?}"),
            }
        }
    }
}
