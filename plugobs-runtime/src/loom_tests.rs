//! Model tests of the shard protocol and of the instance bindings' lookup with loom, which
//! runs every interleaving of the threads below (and the weak-memory outcomes the
//! orderings allow):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p plugobs-runtime --lib --release loom
//! ```

use loom::sync::Arc;
use loom::thread;

use crate::core::address_map::AddressMap;
use crate::core::cells::OperationCells;
use crate::core::threads::IndexPool;

/// A single writer's plain load/store with a concurrent reader: the reader never sees a
/// finished call without its outcome (an error is never read as ok), and never more
/// finished calls than started ones.
#[test]
fn loom_single_writer_with_a_concurrent_reader() {
    loom::model(|| {
        let cells = Arc::new(OperationCells::new(1));
        // One call before the model's threads run allocates the shard, its error cells and
        // its bucket chunk: loom cannot see the synchronization inside std's `OnceLock`
        // that publishes them, so they must exist before the threads start.
        let first = cells.shard(0);
        first.started();
        first.error(0);
        first.finished(100);
        let writer = {
            let cells = cells.clone();
            thread::spawn(move || {
                let shard = cells.shard(0);
                shard.started();
                shard.error(0);
                shard.finished(100);
            })
        };
        // The reader runs on a thread of its own: loom explores the interleavings of
        // spawned threads against each other.
        let reader = {
            let cells = cells.clone();
            thread::spawn(move || {
                let t = cells.totals();
                let errors: u64 = t.errors.iter().sum();
                assert!((1..=2).contains(&t.finished));
                assert!(t.started >= t.finished, "{} < {}", t.started, t.finished);
                if t.finished == 2 {
                    assert_eq!(errors, 2, "a finished error call was read as ok");
                    assert_eq!(t.latency.sum_nanos(), 200);
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        let t = cells.totals();
        assert_eq!(
            (t.started, t.finished, t.errors.iter().sum::<u64>()),
            (2, 2, 2)
        );
    });
}

/// A thread index handed from an exiting thread to a new one: the new thread's plain
/// load/store continues from the old thread's last store, so no count is lost.
#[test]
fn loom_thread_index_hand_over_loses_no_count() {
    loom::model(|| {
        let cells = Arc::new(OperationCells::new(1));
        let pool = Arc::new(IndexPool::new());
        // Allocate both threads' possible shards and bucket chunks up front (see above).
        for index in 0..2 {
            let shard = cells.shard(index);
            shard.started();
            shard.finished(10);
        }
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (cells, pool) = (cells.clone(), pool.clone());
                thread::spawn(move || {
                    let index = pool.acquire();
                    let shard = cells.shard(index);
                    shard.started();
                    shard.finished(10);
                    pool.release(index);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = cells.totals();
        assert_eq!((t.started, t.finished, t.latency.count()), (4, 4, 4));
    });
}

/// The instance bindings' table ([`crate::core::bindings`] keeps its bindings in an
/// `AddressMap`; a call's lookup is `AddressMap::get`), small enough for the model: 8
/// entries, at most 4 keys.
type Bindings = AddressMap<8>;

/// Runs `f` under loom with at most 3 preemptions per execution (unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise): the lookup's probe and its retry make the full
/// space of the bindings models too large to enumerate in minutes (tokio's CI bounds its
/// models the same way); the ordering bug these models found shows up within the bound.
fn model_bounded(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// `N` keys 16 bytes apart whose probes start at the same entry: one chain.
fn one_chain<const N: usize>() -> [usize; N] {
    let home = Bindings::home(0x1000);
    let mut keys = (0x1000..)
        .step_by(16)
        .filter(|&k| Bindings::home(k) == home);
    std::array::from_fn(|_| keys.next().unwrap_or_default())
}

/// A writer unbinds the two values bound before the reader's in its probe chain (each
/// removal shifts the reader's entry back by one) and binds another behind it, while a
/// reader looks the bound value up: it always finds its slot, never another value's, and
/// never misses it; and a value never bound reads as the default instance.
#[test]
fn loom_a_lookup_never_misses_while_other_keys_move() {
    let keys = one_chain::<5>();
    let (before, reader_key, later, absent) = ([keys[0], keys[1]], keys[2], keys[3], keys[4]);
    model_bounded(move || {
        let map = Arc::new(Bindings::new());
        // Bound before the threads run; this also allocates the entries, whose
        // publication through std's `OnceLock` loom cannot see.
        map.insert(before[0], 1).unwrap();
        map.insert(before[1], 2).unwrap();
        map.insert(reader_key, 7).unwrap();
        let writer = {
            let map = map.clone();
            thread::spawn(move || {
                map.remove(before[0]);
                map.insert(later, 3).unwrap();
                map.remove(before[1]);
            })
        };
        let reader = {
            let map = map.clone();
            thread::spawn(move || {
                assert_eq!(map.get(reader_key), 7, "the bound value's slot");
                assert_eq!(map.get(absent), 0, "a value never bound");
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(
            (map.get(reader_key), map.get(later), map.get(before[0])),
            (7, 3, 0)
        );
    });
}

/// A value bound while a reader looks up another in the same chain: inserting never
/// disturbs a probe, so the reader finds its slot without looking again.
#[test]
fn loom_a_lookup_never_misses_while_other_keys_are_bound() {
    let keys = one_chain::<3>();
    model_bounded(move || {
        let map = Arc::new(Bindings::new());
        map.insert(keys[0], 5).unwrap();
        let writer = {
            let map = map.clone();
            thread::spawn(move || {
                map.insert(keys[1], 6).unwrap();
                map.insert(keys[2], 7).unwrap();
            })
        };
        let reader = {
            let map = map.clone();
            thread::spawn(move || {
                assert_eq!(map.get(keys[0]), 5);
                // Bound or not yet, never another value's slot.
                assert!(matches!(map.get(keys[2]), 0 | 7));
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!((map.get(keys[1]), map.get(keys[2])), (6, 7));
    });
}

/// Counts for the breaker models: the consecutive rule never reads them.
struct NoCounts;

impl crate::core::breaker::Counts for NoCounts {
    fn decided(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// A half-open breaker lets exactly its probes through, whatever the interleaving of the
/// callers, and closes once every probe succeeded.
#[test]
fn loom_breaker_half_open_lets_exactly_the_probes_through() {
    use crate::core::breaker::{Admit, Breaker, ManualClock};
    use crate::model::breaker::{BreakerSettings, BreakerState, Trip};
    use crate::model::outcome::Outcome;

    let clock = ManualClock::install();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(move || {
        let breaker = Arc::new(Breaker::new(Some(BreakerSettings {
            trip: Trip::Consecutive(1),
            open_for: std::time::Duration::from_secs(1),
            probes: 2,
        })));
        // Closed → open.
        assert_eq!(breaker.admit(), Admit::Pass);
        breaker.ended(Outcome::Error("x"), false, &NoCounts);
        assert_eq!(breaker.state(), BreakerState::Open);
        clock.advance(std::time::Duration::from_secs(1));
        // Open → half-open: three callers race for two probes.
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    let admitted = breaker.admit();
                    if admitted == Admit::Probe {
                        breaker.ended(Outcome::Ok, true, &NoCounts);
                    }
                    admitted
                })
            })
            .collect();
        let admitted: Vec<Admit> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        let probes = admitted.iter().filter(|a| **a == Admit::Probe).count();
        // Two probes when the third caller came while they were out; a third when it came
        // after both closed the breaker (then it is a plain pass, not a probe).
        let passes = admitted.iter().filter(|a| **a == Admit::Pass).count();
        assert_eq!(probes, 2, "{admitted:?}");
        assert!(passes <= 1, "{admitted:?}");
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.trips(), 1);
    });
}

/// Two probes, one fails while the other succeeds: the breaker opens again, once, and
/// does not probe again before the other probe has ended.
#[test]
fn loom_breaker_a_failed_probe_opens_it_again_once() {
    use crate::core::breaker::{Admit, Breaker, ManualClock};
    use crate::model::breaker::{BreakerSettings, BreakerState, Trip};
    use crate::model::outcome::Outcome;

    let clock = ManualClock::install();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(move || {
        let breaker = Arc::new(Breaker::new(Some(BreakerSettings {
            trip: Trip::Consecutive(1),
            open_for: std::time::Duration::from_secs(1),
            probes: 2,
        })));
        breaker.ended(Outcome::Panic, false, &NoCounts);
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(breaker.admit(), Admit::Probe);
        assert_eq!(breaker.admit(), Admit::Probe);
        let ends: Vec<_> = [Outcome::Error("x"), Outcome::Ok]
            .into_iter()
            .map(|outcome| {
                let breaker = breaker.clone();
                thread::spawn(move || breaker.ended(outcome, true, &NoCounts))
            })
            .collect();
        for end in ends {
            end.join().unwrap();
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.trips(), 2);
        // Its probes all ended: after `open_for` it probes again.
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(breaker.admit(), Admit::Probe);
    });
}
