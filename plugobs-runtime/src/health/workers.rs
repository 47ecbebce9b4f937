//! The threads health checks run on: a small pool, shared by every round, that grows by
//! one thread for each check that outlived its timeout.
//!
//! A check is a job on this pool, never a call on the caller's thread. At most
//! [`PARALLEL`] threads run checks that are still within their timeout; a check the round
//! has given up on (it timed out) keeps its thread — Rust cannot kill a thread — and
//! raises the limit by one until it returns, so it never takes a slot from the others.
//! Since a plugin is never checked again while its previous check runs, the threads held
//! by hung checks are at most one per plugin. A thread idle for [`IDLE_EXIT`] exits.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Threads that run checks within their timeout at the same time.
pub(crate) const PARALLEL: usize = 8;
/// How long an idle worker waits for a job before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);

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
    /// Workers held by checks a round gave up on.
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

/// A round gave up on a running check: its thread no longer counts against the limit.
pub(crate) fn abandon() {
    let mut s = state();
    s.abandoned += 1;
    let _ = grow(&mut s);
}

/// An abandoned check returned.
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
