//! Model tests of the shard protocol with loom, which runs every interleaving of the
//! threads below (and the weak-memory outcomes the orderings allow):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p plugobs-runtime --lib --release loom
//! ```

use loom::sync::Arc;
use loom::thread;

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
