//! Enrichers defined in the host binary itself.

use plugobs_example_plugins::{EnrichError, Enricher};

/// The environment variable [`EnvEnricher`] reads.
const ENV_VAR: &str = "QUICKSTART_ENV";

/// Tags every line with the deployment environment, `env=<QUICKSTART_ENV>`.
///
/// Built by a fallible constructor, `new = Self::from_env`: an `Err` (or a panic) there
/// is a failed *load*, counted with `stage="load"`, and the plugin is never started.
///
/// Its health hook asks a configuration server whether the environment is still
/// deployed, and that server never answers: the check hangs forever. plugobs runs it on a
/// worker thread, reports the plugin `unhealthy` ("timed out after …") once the timeout
/// passes, and never starts a second check while this one hangs.
#[plugobs::plugin(
    kind = "enricher",
    provides = dyn Enricher,
    new = Self::from_env,
    health = Self::ask_config_server
)]
#[derive(Debug)]
pub struct EnvEnricher {
    env: String,
}

impl EnvEnricher {
    /// Constructor: `fn() -> Self` or `fn() -> Result<Self, E>` with any `E: Display`.
    fn from_env() -> Result<Self, EnrichError> {
        let env = match std::env::var(ENV_VAR) {
            Ok(env) => env,
            Err(std::env::VarError::NotPresent) => "dev".to_owned(),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(EnrichError::Config(format!("{ENV_VAR} is not UTF-8")));
            }
        };
        let valid = !env.is_empty()
            && env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(EnrichError::Config(format!(
                "{ENV_VAR}={env:?}: use letters, digits, `-` and `_`"
            )));
        }
        Ok(EnvEnricher { env })
    }

    /// Health hook: `fn(&self) -> plugobs::Health` (or `async fn`).
    fn ask_config_server(&self) -> plugobs::Health {
        // Simulated: the configuration server never answers.
        loop {
            std::thread::park();
        }
    }
}

#[plugobs::instrumented]
impl Enricher for EnvEnricher {
    fn enrich(&self, line: &str) -> Result<String, EnrichError> {
        plugobs::counter!(Self, "lines_tagged").increment(1);
        Ok(format!("{line} env={}", self.env))
    }
}
