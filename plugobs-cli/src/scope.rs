//! What every generated expression shares: the selector added to each series it reads,
//! and the host labels kept by each aggregation.

use crate::OpsError;
use crate::config::Config;

/// The selector and the host labels of one [`Config`], as PromQL fragments.
#[derive(Clone, Debug)]
pub struct Scope {
    selector: String,
    host: Vec<String>,
}

impl Scope {
    /// The scope of `config`, after checking it ([`Config::validate`]).
    ///
    /// # Errors
    /// [`OpsError::InvalidValue`] when a setting does not fit.
    pub fn new(config: &Config) -> Result<Self, OpsError> {
        config.validate()?;
        let selector = config
            .matchers()?
            .iter()
            .map(|m| format!("{}{}{}", m.label, m.op, m.quoted))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Scope {
            selector,
            host: config.host_labels.clone(),
        })
    }

    /// `metric{matchers,selector}`: the series `metric` with `matchers` (may be empty)
    /// and the selector.
    ///
    /// ```
    /// let c = plugobs_cli::Config::new().selector(r#"job="a""#);
    /// let s = plugobs_cli::scope::Scope::new(&c).unwrap();
    /// assert_eq!(s.series("up", ""), r#"up{job="a"}"#);
    /// assert_eq!(s.series("x", r#"k="v""#), r#"x{k="v",job="a"}"#);
    /// ```
    pub fn series(&self, metric: &str, matchers: &str) -> String {
        match (matchers.is_empty(), self.selector.is_empty()) {
            (true, true) => metric.to_owned(),
            (false, true) => format!("{metric}{{{matchers}}}"),
            (true, false) => format!("{metric}{{{}}}", self.selector),
            (false, false) => format!("{metric}{{{matchers},{}}}", self.selector),
        }
    }

    /// The host labels followed by `rest`, comma-separated: what `by (…)` and `on (…)`
    /// take.
    ///
    /// ```
    /// let s = plugobs_cli::scope::Scope::new(&plugobs_cli::Config::new()).unwrap();
    /// assert_eq!(s.keys(&["plugin", "kind"]), "job, host, plugin, kind");
    /// ```
    pub fn keys(&self, rest: &[&str]) -> String {
        self.host
            .iter()
            .map(String::as_str)
            .chain(rest.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The host labels.
    pub fn host_labels(&self) -> &[String] {
        &self.host
    }

    /// The host labels as alert templates: `job={{ $labels.job }} host={{ $labels.host }}`.
    pub fn where_template(&self) -> String {
        self.host
            .iter()
            .map(|l| format!("{l}={{{{ $labels.{l} }}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The host labels as a Grafana legend: `{{job}} {{host}}`.
    pub fn legend(&self) -> String {
        self.host
            .iter()
            .map(|l| format!("{{{{{l}}}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
