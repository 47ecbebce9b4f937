//! The threads health checks run on: a small pool, shared by every round, that grows by
//! one thread for each check that is slow to return.
//!
//! A check is a job on this pool, never a call on the caller's thread. At most
//! [`PARALLEL`] threads run checks that returned promptly so far; a check still running
//! after [`SLOW`] is *released*: it keeps its thread — Rust cannot kill a thread, and the
//! check may yet return within its timeout — and raises the limit by one until it
//! returns, so a hung hook never holds up the others, not even for its timeout. Since a
//! plugin is never checked again while its previous check runs, the threads held by slow
//! checks are at most one per plugin. A worker that finds no job exits if the pool is
//! larger than its limit (released checks returned), or after [`IDLE_EXIT`] idle.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Threads that run checks within their timeout at the same time.
pub(crate) const PARALLEL: usize = 8;
/// How long an idle worker waits for a job before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// How long a check runs before its thread stops counting against [`PARALLEL`].
pub(crate) const SLOW: Duration = Duration::from_millis(10);

/// The workers' name: Linux keeps 15 bytes of a thread's name.
const WORKER_THREAD: &str = "plugobs-health";
const _: () = assert!(WORKER_THREAD.len() <= 15);

type Job = Box<dyn FnOnce() + Send>;

struct PoolState {
    queue: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Workers alive.
    threads: usize,
    /// Workers held by released checks: slow, or given up on.
    abandoned: usize,
    /// Workers ever started.
    spawned: u64,
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

static POOL: Pool = Pool {
    state: Mutex::new(PoolState {
        queue: VecDeque::new(),
        idle: 0,
        threads: 0,
        abandoned: 0,
        spawned: 0,
    }),
    work: Condvar::new(),
};

fn state() -> MutexGuard<'static, PoolState> {
    POOL.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads of the pool: (alive, held by abandoned checks, ever started).
pub(crate) fn threads() -> (usize, usize, u64) {
    let s = state();
    (s.threads, s.abandoned, s.spawned)
}

/// Queues a job; starts a worker when none is idle and the limit allows.
///
/// # Errors
/// The OS refused to start a thread and no worker is alive to take the job; the job is
/// dropped.
pub(crate) fn submit(job: Job) -> std::io::Result<()> {
    let mut s = state();
    s.queue.push_back(job);
    grow(&mut s)
}

/// A running check was released (slow, or given up on): its thread no longer counts
/// against the limit.
pub(crate) fn release() {
    let mut s = state();
    s.abandoned += 1;
    let _ = grow(&mut s);
}

/// A released check returned.
pub(crate) fn returned() {
    let mut s = state();
    s.abandoned = s.abandoned.saturating_sub(1);
}

fn grow(s: &mut MutexGuard<'static, PoolState>) -> std::io::Result<()> {
    if s.idle >= s.queue.len() {
        POOL.work.notify_one();
        return Ok(());
    }
    if s.threads >= PARALLEL + s.abandoned {
        return Ok(()); // a busy worker takes it when it is done
    }
    s.threads += 1;
    s.spawned += 1;
    let spawned = std::thread::Builder::new()
        .name(WORKER_THREAD.to_owned())
        .spawn(work);
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            s.threads -= 1;
            if s.threads == 0 {
                s.queue.clear();
            }
            Err(e)
        }
    }
}

fn work() {
    let mut s = state();
    loop {
        if let Some(job) = s.queue.pop_front() {
            drop(s);
            job();
            s = state();
            continue;
        }
        // More threads than the limit: released checks returned. The surplus leaves now,
        // so the pool shrinks back as soon as hung hooks come back.
        if s.threads > PARALLEL + s.abandoned {
            s.threads -= 1;
            return;
        }
        s.idle += 1;
        let (guard, timeout) = POOL
            .work
            .wait_timeout(s, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        s = guard;
        s.idle -= 1;
        if timeout.timed_out() && s.queue.is_empty() {
            s.threads -= 1;
            return;
        }
    }
}
