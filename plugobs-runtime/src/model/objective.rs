//! Objectives declared in code: what share of an operation's calls should succeed, and how
//! slow its calls may be.
//!
//! ```text
//! #[plugobs::plugin(kind = "sink", objective = "99.9%")]   // every operation of the plugin
//! #[plugobs::instrumented(objective = "99%", latency = "250ms")]   // an impl or a method
//! ```
//!
//! A method's own objective wins over its impl's, which wins over its plugin's. Both are
//! checked when the macro expands: `objective` is a percentage above 0 and below 100 with
//! at most four decimals (`"99.95%"`), `latency` a positive duration with a unit (`"250ms"`,
//! `"1.5s"`, `"800us"`).
//!
//! Each operation that has one is exported once per instance that called it as
//! `plugobs_operation_objective{plugin,kind,instance,operation,objective}`: with
//! `objective="success"` the share of calls that should succeed (0.999), with
//! `objective="latency"` the latency in seconds that the operation's p99 (the rules'
//! `latency_quantile`) should stay under. The rules plugobs-cli generates join on it, so
//! each operation burns its own error budget; `stats()`, `/plugins` and the status page
//! show it with the budget left.

use std::time::Duration;

/// An operation's objectives, as declared in code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Objective {
    /// The share of calls that should succeed, in millionths (999 000 for 99.9 %).
    pub success_ppm: Option<u32>,
    /// The latency the operation's p99 should stay under.
    pub latency: Option<Duration>,
}

impl Objective {
    /// No objective.
    pub const NONE: Objective = Objective {
        success_ppm: None,
        latency: None,
    };

    /// The share of calls that should succeed, 0 to 1.
    pub fn success(&self) -> Option<f64> {
        self.success_ppm.map(|ppm| f64::from(ppm) / 1e6)
    }

    /// Whether anything is declared.
    pub fn is_set(&self) -> bool {
        self.success_ppm.is_some() || self.latency.is_some()
    }

    /// This objective, each part not declared taken from `fallback` (an impl's or a
    /// plugin's).
    pub const fn or(self, fallback: Objective) -> Objective {
        Objective {
            success_ppm: match self.success_ppm {
                Some(ppm) => Some(ppm),
                None => fallback.success_ppm,
            },
            latency: match self.latency {
                Some(d) => Some(d),
                None => fallback.latency,
            },
        }
    }

    /// The share of the error budget left after `bad` failed calls (errors and panics)
    /// of `calls`: 1 with none failed, 0 when the failures reached what the objective
    /// allows, below 0 past it. `None` without a success objective or before any call.
    pub fn budget_left(&self, calls: u64, bad: u64) -> Option<f64> {
        let allowed = 1.0 - self.success()?;
        if calls == 0 || allowed <= 0.0 {
            return None;
        }
        Some(1.0 - (bad as f64 / calls as f64) / allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_left_follows_the_failures() {
        let o = Objective {
            success_ppm: Some(990_000),
            latency: None,
        };
        assert_eq!(o.budget_left(0, 0), None);
        assert_eq!(o.budget_left(1000, 0), Some(1.0));
        assert!((o.budget_left(1000, 5).unwrap() - 0.5).abs() < 1e-9);
        assert!((o.budget_left(1000, 20).unwrap() + 1.0).abs() < 1e-9);
        assert_eq!(Objective::NONE.budget_left(1000, 5), None);
        let method = Objective {
            success_ppm: None,
            latency: Some(Duration::from_millis(5)),
        };
        assert_eq!(
            method.or(o),
            Objective {
                success_ppm: Some(990_000),
                latency: Some(Duration::from_millis(5))
            }
        );
    }
}
