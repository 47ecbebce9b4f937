//! An instance's configuration, typed.
//!
//! A plugin's constructor may take its instance's configuration:
//! `#[plugin(new = Self::from_config)]` with `fn from_config(cfg: KafkaConfig) -> Result<Self,
//! E>` where `KafkaConfig: serde::Deserialize` (feature `serde`). The host gives the
//! configuration as any value a serde format produced — a `toml::Table`, a
//! `serde_json::Value`, a `serde_yaml::Value`, a struct of its own — to
//! [`Registry::load_instance`](crate::Registry::load_instance) or, for a whole section of
//! instances, [`Registry::load_instances`](crate::Registry::load_instances).
//!
//! A configuration that does not fit the constructor's type fails its instance at the
//! `load` stage with the reason `config` (`plugobs_plugin_load_failures_total{reason="config"}`),
//! and the message names the path of the field and what was expected, through
//! [`serde_path_to_error`](https://docs.rs/serde_path_to_error):
//! `` at `tls.enabled`: invalid type: integer `1`, expected a boolean ``. A plugin whose
//! constructor takes no configuration accepts only an empty one.
//!
//! A plugin loaded without a configuration ([`Registry::load`](crate::Registry::load),
//! [`load_all`](crate::Registry::load_all)) is constructed from an empty one: a
//! configuration type whose fields all have defaults (`#[serde(default)]`) still loads
//! that way, and one with a required field fails with `missing field`.

use std::fmt;

/// An instance's configuration on its way to the constructor: what the host gave,
/// converted once to a self-describing tree.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceConfig {
    #[cfg(feature = "serde")]
    value: serde_json::Value,
    #[cfg(not(feature = "serde"))]
    _never: std::convert::Infallible,
}

#[cfg(feature = "serde")]
impl InstanceConfig {
    /// Reads a configuration from any serializable value: a `toml::Table`, a
    /// `serde_json::Value`, a struct.
    ///
    /// # Errors
    /// [`InstanceConfigError`] when the value cannot be represented (a map whose keys
    /// are not strings, say).
    pub fn from_value<C: serde::Serialize + ?Sized>(
        config: &C,
    ) -> Result<InstanceConfig, InstanceConfigError> {
        serde_json::to_value(config)
            .map(|value| InstanceConfig { value })
            .map_err(|e| InstanceConfigError {
                path: String::new(),
                message: first_line(&e.to_string()),
            })
    }

    /// The empty configuration: what a plugin loaded without one is constructed from.
    pub(crate) fn empty() -> InstanceConfig {
        InstanceConfig {
            value: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Removes the string field `key` (a section entry's `type`), if it is a map.
    pub(crate) fn take_str(&mut self, key: &str) -> Option<Result<String, ()>> {
        let serde_json::Value::Object(map) = &mut self.value else {
            return None;
        };
        match map.remove(key)? {
            serde_json::Value::String(s) => Some(Ok(s)),
            _ => Some(Err(())),
        }
    }

    /// Removes the field `key` (a section entry's `breaker`), if it is a map.
    pub(crate) fn take(&mut self, key: &str) -> Option<serde_json::Value> {
        let serde_json::Value::Object(map) = &mut self.value else {
            return None;
        };
        map.remove(key)
    }

    /// The entries of a map, in the order the format gave them (`None` when it is not a
    /// map).
    pub(crate) fn into_entries(self) -> Option<Vec<(String, InstanceConfig)>> {
        match self.value {
            serde_json::Value::Object(map) => Some(
                map.into_iter()
                    .map(|(k, value)| (k, InstanceConfig { value }))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Deserializes the configuration into `C`, naming the field that did not fit.
    ///
    /// ```
    /// use plugobs_runtime::config::InstanceConfig;
    ///
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct KafkaConfig { brokers: Vec<String>, batch: u32 }
    ///
    /// let good = serde_json::json!({ "brokers": ["eu-1:9092"], "batch": 100 });
    /// let cfg: KafkaConfig = InstanceConfig::from_value(&good).unwrap().decode().unwrap();
    /// assert_eq!(cfg.batch, 100);
    ///
    /// let bad = serde_json::json!({ "brokers": ["eu-1:9092"], "batch": "many" });
    /// let err = InstanceConfig::from_value(&bad).unwrap().decode::<KafkaConfig>().unwrap_err();
    /// assert_eq!(err.path(), "batch");
    /// assert_eq!(err.to_string(), "at `batch`: invalid type: string \"many\", expected u32");
    /// ```
    ///
    /// # Errors
    /// [`InstanceConfigError`] with the path of the field and the format's message.
    pub fn decode<C: serde::de::DeserializeOwned>(self) -> Result<C, InstanceConfigError> {
        serde_path_to_error::deserialize(self.value).map_err(|error| {
            let path = error.path();
            let path = if path.iter().next().is_none() {
                String::new()
            } else {
                path.to_string()
            };
            InstanceConfigError {
                path,
                message: first_line(&error.into_inner().to_string()),
            }
        })
    }

    /// Whether the configuration is empty: no value, or an empty map.
    fn is_empty(&self) -> bool {
        match &self.value {
            serde_json::Value::Null => true,
            serde_json::Value::Object(map) => map.is_empty(),
            _ => false,
        }
    }
}

/// The first line of a format's message: some formats repeat the position on later
/// lines, and the path here is already the exact one.
#[cfg(feature = "serde")]
fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

impl InstanceConfig {
    /// A constructor that takes no configuration accepts only an empty one.
    pub(crate) fn expect_empty(config: Option<&InstanceConfig>) -> Result<(), InstanceConfigError> {
        let Some(config) = config else { return Ok(()) };
        #[cfg(feature = "serde")]
        {
            if config.is_empty() {
                return Ok(());
            }
            let found = match &config.value {
                serde_json::Value::Object(map) => {
                    let keys: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
                    format!("found {}", keys.join(", "))
                }
                other => format!("found {other}"),
            };
            Err(InstanceConfigError {
                path: String::new(),
                message: format!(
                    "this plugin's constructor takes no configuration; {found} (name a \
                     constructor that takes one with `#[plugin(new = Self::from_config)]`)"
                ),
            })
        }
        #[cfg(not(feature = "serde"))]
        match config._never {}
    }
}

/// A configuration that does not fit the constructor's type: the failure reason
/// `config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfigError {
    path: String,
    message: String,
}

impl InstanceConfigError {
    /// The path of the field that failed, as `tls.enabled` or `brokers[1]`; empty when
    /// the configuration as a whole did not fit (a missing field of the top level, say).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the format said was wrong: what was found and what was expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InstanceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for InstanceConfigError {}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct KafkaConfig {
        brokers: Vec<String>,
        tls: Tls,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tls {
        enabled: bool,
    }

    fn decode(value: serde_json::Value) -> Result<KafkaConfig, InstanceConfigError> {
        InstanceConfig::from_value(&value).unwrap().decode()
    }

    #[test]
    fn a_fitting_config_deserializes() {
        let cfg = decode(json!({ "brokers": ["eu-1:9092"], "tls": { "enabled": true } }));
        assert_eq!(
            cfg,
            Ok(KafkaConfig {
                brokers: vec!["eu-1:9092".to_owned()],
                tls: Tls { enabled: true },
            })
        );
    }

    #[test]
    fn wrong_type_names_the_nested_path() {
        let err =
            decode(json!({ "brokers": ["eu-1:9092", 7], "tls": { "enabled": true } })).unwrap_err();
        assert_eq!(err.path(), "brokers[1]");
        assert_eq!(
            err.to_string(),
            "at `brokers[1]`: invalid type: integer `7`, expected a string"
        );
        let err = decode(json!({ "brokers": [], "tls": { "enabled": "yes" } })).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at `tls.enabled`: invalid type: string \"yes\", expected a boolean"
        );
    }

    #[test]
    fn missing_and_unknown_fields() {
        let err = decode(json!({ "brokers": [] })).unwrap_err();
        assert_eq!((err.path(), err.message()), ("", "missing field `tls`"));
        let err = decode(json!({ "brokers": [], "tls": {} })).unwrap_err();
        assert_eq!(err.to_string(), "at `tls`: missing field `enabled`");
        let err =
            decode(json!({ "brokers": [], "tls": { "enabled": true }, "acks": 1 })).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at `acks`: unknown field `acks`, expected `brokers` or `tls`"
        );
    }

    #[test]
    fn from_a_toml_table() {
        let table: toml::Table =
            toml::from_str("brokers = [\"eu-1:9092\"]\ntls = { enabled = 1 }\n").unwrap();
        let err = InstanceConfig::from_value(&table)
            .unwrap()
            .decode::<KafkaConfig>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "at `tls.enabled`: invalid type: integer `1`, expected a boolean"
        );
    }

    #[test]
    fn a_constructor_without_configuration_takes_only_an_empty_one() {
        assert!(InstanceConfig::expect_empty(None).is_ok());
        assert!(InstanceConfig::expect_empty(Some(&InstanceConfig::empty())).is_ok());
        let some = InstanceConfig::from_value(&json!({ "port": 1 })).unwrap();
        let err = crate::model::error::HookError::config(
            &InstanceConfig::expect_empty(Some(&some)).unwrap_err(),
        );
        assert_eq!(err.reason(), crate::FailureReason::Config);
        assert_eq!(
            err.message(),
            "this plugin's constructor takes no configuration; found `port` (name a \
             constructor that takes one with `#[plugin(new = Self::from_config)]`)"
        );
    }
}
