//! Zero heap allocations per instrumented call, counted by a global allocator. In its own
//! test binary because the allocator counts every thread of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) && THIS_THREAD.with(std::cell::Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Debug, plugobs::ErrorKind)]
pub enum CodecError {
    Invalid,
}

#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct AllocFree;

#[plugobs::instrumented]
impl AllocFree {
    fn decode(&self, x: u64) -> Result<u64, CodecError> {
        if x % 3 == 0 {
            Err(CodecError::Invalid)
        } else {
            Ok(x * 2)
        }
    }

    async fn decode_async(&self, x: u64) -> Result<u64, CodecError> {
        self.decode(x)
    }
}

fn count(f: impl FnOnce()) -> u64 {
    THIS_THREAD.with(|t| t.set(true));
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    THIS_THREAD.with(|t| t.set(false));
    ALLOCATIONS.load(Ordering::SeqCst)
}

#[test]
fn instrumented_calls_do_not_allocate() {
    let p = AllocFree;
    // The first call resolves the site (one allocation, once) and starts the flusher; a
    // thread's shard and each latency range (a chunk of 16 buckets) are allocated the
    // first time they are used. Warm up so the ranges this loop sees are allocated.
    for x in 0..10_000 {
        let _ = std::hint::black_box(p.decode(x));
        let _ = plugobs::block_on(p.decode_async(x));
    }

    let sync = count(|| {
        for x in 0..10_000 {
            let _ = std::hint::black_box(p.decode(std::hint::black_box(x)));
        }
    });
    // No call allocates; only a latency outlier landing in a range never seen before (a
    // preemption on a busy machine, say) allocates its chunk (and page), once per range:
    // a handful at most, where one allocation per call would be 10 000.
    assert!(sync <= 32, "{sync} allocations in 10 000 sync calls");

    let future = count(|| {
        for x in 0..1_000 {
            let _ =
                std::hint::black_box(plugobs::block_on(p.decode_async(std::hint::black_box(x))));
        }
    });
    // `block_on` itself allocates its waker once per call; nothing else may.
    assert!(
        (1_000..=1_032).contains(&future),
        "{future} allocations in 1 000 async calls (block_on's waker allocates 1 000)"
    );
}
