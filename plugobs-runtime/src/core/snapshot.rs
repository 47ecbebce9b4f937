//! One operation's totals, built in one place: [`OperationSnapshot`]. `stats()`, the
//! bridge to the `metrics` facade and the Prometheus renderer all read it.
//!
//! An operation is every call site instrumented under one (plugin, operation) name —
//! usually one — and each instance of the plugin has its own cells in each site (see
//! [`crate::model::instance`]). A snapshot of one instance's operation is cached with a
//! fingerprint of its cells (one load per shard), so reading an operation with no new
//! calls costs those loads and a copy, not a walk over its buckets.

use std::sync::Mutex;

pub use crate::core::cells::HistogramSnapshot;
use crate::core::cells::OVERFLOW_KIND;
use crate::core::site::ResolvedSite;
use crate::model::breaker::BreakerSnapshot;
use crate::model::objective::Objective;

/// The `outcome` label of calls a breaker rejected.
pub const REJECTED: &str = "rejected";
use crate::model::outcome::Outcome;

/// The totals of one operation of one plugin at one moment.
///
/// Counts are exact. `ok + errors + panics + cancelled == calls` always holds; while calls
/// are running, a reading may count a call's error an instant before it counts the call,
/// never an error as ok.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationSnapshot {
    /// The operation's name.
    pub operation: &'static str,
    /// Calls that started.
    pub started: u64,
    /// Calls that finished, whatever the outcome.
    pub calls: u64,
    /// Calls that returned normally and were not errors.
    pub ok: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Calls that panicked.
    pub panics: u64,
    /// Futures dropped before they finished.
    pub cancelled: u64,
    /// Errors by `error_kind`, ordered by kind.
    pub errors_by_kind: Vec<(&'static str, u64)>,
    /// The latency of every finished call.
    pub latency: HistogramSnapshot,
    /// The objective declared in code, if any (see [`crate::model::objective`]).
    pub objective: Objective,
    /// One call in how many is timed (see [`crate::model::sampling`]); 0 or 1: every
    /// call. `latency` holds the timed calls only.
    pub sample: u32,
    /// Its circuit breaker, if it declares one (see [`crate::model::breaker`]): state,
    /// trips, and the calls it rejected (not counted in `calls`).
    pub breaker: Option<BreakerSnapshot>,
    /// The exemplars kept for its latency buckets (feature `exemplars`), as (position of
    /// the bucket among the operation histogram's bounds, `+Inf` last; exemplar), in
    /// bucket order, whatever their age. Read afresh with every snapshot.
    pub exemplars: Vec<(usize, crate::model::exemplar::Exemplar)>,
}

impl OperationSnapshot {
    /// Calls in progress.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.calls)
    }

    /// The share of the error budget left (see [`Objective::budget_left`]): errors and
    /// panics count against it, cancellations do not.
    pub fn budget_left(&self) -> Option<f64> {
        self.objective
            .budget_left(self.calls, self.errors + self.panics)
    }

    /// Whether only some calls are timed.
    pub fn is_sampled(&self) -> bool {
        self.sample > 1
    }

    /// The latency summed over every call: the exact sum when every call is timed, the
    /// timed calls' sum scaled by calls ÷ timed calls when sampled.
    pub fn estimated_sum_nanos(&self) -> u64 {
        let timed = self.latency.count();
        let sum = self.latency.sum_nanos();
        if timed == 0 || timed >= self.calls {
            return sum;
        }
        u64::try_from(u128::from(sum) * u128::from(self.calls) / u128::from(timed))
            .unwrap_or(u64::MAX)
    }

    /// The count of each `outcome` label value: ok, error, panic, cancelled, and
    /// `rejected` (calls its breaker rejected) for an operation with a breaker.
    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        let count = |o: Outcome| match o {
            Outcome::Ok => self.ok,
            Outcome::Error(_) => self.errors,
            Outcome::Panic => self.panics,
            Outcome::Cancelled => self.cancelled,
        };
        let mut out: Vec<_> = [
            Outcome::Ok,
            Outcome::Error(""),
            Outcome::Panic,
            Outcome::Cancelled,
        ]
        .into_iter()
        .map(|o| (o.as_str(), count(o)))
        .collect();
        if let Some(b) = &self.breaker {
            out.push((REJECTED, b.rejected));
        }
        out
    }

    fn add_site(&mut self, site: &ResolvedSite, slot: usize) {
        // Two functions recording one operation: the first that declares one.
        self.objective = self.objective.or(site.objective());
        self.sample = self.sample.max(site.sample_of(slot));
        let t = site.totals(slot);
        let errors: u64 = t.errors.iter().sum();
        self.calls += t.finished;
        self.started += t.started;
        self.errors += errors;
        self.panics += t.panicked;
        self.cancelled += t.cancelled;
        self.ok += t
            .finished
            .saturating_sub(errors)
            .saturating_sub(t.panicked)
            .saturating_sub(t.cancelled);
        for (slot, &n) in t.errors.iter().enumerate().filter(|(_, n)| **n > 0) {
            let kind = site.kind_label(slot).unwrap_or(OVERFLOW_KIND);
            match self.errors_by_kind.binary_search_by(|(k, _)| k.cmp(&kind)) {
                Ok(i) => self.errors_by_kind[i].1 += n,
                Err(i) => self.errors_by_kind.insert(i, (kind, n)),
            }
        }
        self.latency.merge(&t.latency);
    }

    /// The exemplars of every site, per bucket the newest.
    fn read_exemplars(&mut self, sites: &[&'static ResolvedSite], slot: usize) {
        self.exemplars.clear();
        #[cfg(feature = "exemplars")]
        for site in sites {
            crate::core::exemplar::merge(&mut self.exemplars, site.exemplars(slot));
        }
        #[cfg(not(feature = "exemplars"))]
        let _ = (sites, slot);
    }
}

/// One operation of a plugin: its call sites and the last snapshot of each instance.
pub(crate) struct Operation {
    name: &'static str,
    sites: Vec<&'static ResolvedSite>,
    /// By instance slot: the fingerprint and snapshot last read.
    cache: Mutex<Vec<(usize, u64, OperationSnapshot)>>,
}

impl Operation {
    pub(crate) fn new(site: &'static ResolvedSite) -> Self {
        Operation {
            name: site.operation(),
            sites: vec![site],
            cache: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Adds a call site; returns whether it is a function of its own (defined elsewhere
    /// than the sites so far), whose calls are now summed with theirs.
    pub(crate) fn add_site(&mut self, site: &'static ResolvedSite) -> bool {
        let elsewhere = self.sites.iter().all(|s| s.location() != site.location());
        self.sites.push(site);
        self.cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        elsewhere
    }

    /// Where the functions recording this operation are defined, each once, in the order
    /// they were first called.
    pub(crate) fn places(&self) -> Vec<crate::model::location::SourceLocation> {
        let mut places = Vec::new();
        for site in &self.sites {
            if !places.contains(&site.location()) {
                places.push(site.location());
            }
        }
        places
    }

    /// Whether instance `slot` ever called this operation.
    pub(crate) fn called_by(&self, slot: usize) -> bool {
        self.sites.iter().any(|s| s.fingerprint(slot) != 0)
    }

    /// Changes whenever a call of this operation on instance `slot` starts or finishes.
    pub(crate) fn fingerprint(&self, slot: usize) -> u64 {
        self.sites.iter().fold(0u64, |acc, s| {
            acc.rotate_left(7).wrapping_add(s.fingerprint(slot))
        })
    }

    /// The current totals of instance `slot`; reuses the last ones when nothing happened
    /// since.
    pub(crate) fn snapshot(&self, slot: usize) -> OperationSnapshot {
        let fingerprint = self.fingerprint(slot);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let cached = cache.iter().position(|(s, _, _)| *s == slot);
        if let Some(i) = cached
            && cache[i].1 == fingerprint
        {
            // The sampling rate is a setting, not a count: read now; so is the breaker.
            let mut snapshot = cache[i].2.clone();
            snapshot.sample = self
                .sites
                .iter()
                .map(|s| s.sample_of(slot))
                .max()
                .unwrap_or(1);
            snapshot.breaker = self.breaker(slot);
            // Exemplars are kept beside the counts: read now too.
            snapshot.read_exemplars(&self.sites, slot);
            return snapshot;
        }
        let mut snapshot = OperationSnapshot {
            operation: self.name,
            ..OperationSnapshot::default()
        };
        for site in &self.sites {
            snapshot.add_site(site, slot);
        }
        snapshot.breaker = self.breaker(slot);
        snapshot.read_exemplars(&self.sites, slot);
        match cached {
            Some(i) => cache[i] = (slot, fingerprint, snapshot.clone()),
            None => cache.push((slot, fingerprint, snapshot.clone())),
        }
        snapshot
    }

    /// The breakers of instance `slot` of this operation's sites, summed (usually one): the
    /// least closed state, every trip and rejection.
    fn breaker(&self, slot: usize) -> Option<BreakerSnapshot> {
        self.sites
            .iter()
            .filter_map(|s| s.breaker_of(slot))
            .reduce(|a, b| BreakerSnapshot {
                state: a.state.max(b.state),
                trips: a.trips + b.trips,
                rejected: a.rejected + b.rejected,
            })
    }

    /// Bytes allocated for this operation's cells.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.sites.iter().map(|s| s.allocated_bytes()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_in_label_order() {
        let s = OperationSnapshot {
            ok: 3,
            errors: 1,
            ..Default::default()
        };
        assert_eq!(
            s.outcomes(),
            [("ok", 3), ("error", 1), ("panic", 0), ("cancelled", 0)]
        );
        let with_breaker = OperationSnapshot {
            breaker: Some(BreakerSnapshot {
                state: crate::model::breaker::BreakerState::Open,
                trips: 1,
                rejected: 7,
            }),
            ..s
        };
        assert_eq!(
            with_breaker.outcomes(),
            [
                ("ok", 3),
                ("error", 1),
                ("panic", 0),
                ("cancelled", 0),
                ("rejected", 7)
            ]
        );
    }
}
