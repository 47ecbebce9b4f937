//! Everything kept per plugin at run time, in one place found from the plugin's
//! descriptor: its instance bindings, its slot in the allocation counters, its CPU-time
//! counters and its custom metrics; and running code as a plugin's, for the allocation
//! counters. One table keyed by the descriptor's address holds
//! them all; it is read when a call site, a custom metric or a lifecycle step resolves
//! its plugin, and by the export walk, never per call.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use crate::core::bindings::InstanceTable;
use crate::core::custom::CustomMetric;
use crate::core::running;
use crate::model::descriptor::PluginDescriptor;

/// One plugin's run-time state.
#[derive(Debug)]
pub(crate) struct PluginCells {
    /// Which instance a call runs on, by its receiver's address.
    pub(crate) instances: InstanceTable,
    /// Its slot in the allocation counters ([`running::NONE`] when every slot is taken).
    pub(crate) running: u16,
    /// The CPU-time counter of each `#[instrumented(cpu)]` operation.
    cpu: Mutex<Vec<&'static CpuCounter>>,
    /// Its custom metrics.
    custom: Mutex<Vec<&'static CustomMetric>>,
}

static CELLS: Mutex<Option<HashMap<usize, &'static PluginCells>>> = Mutex::new(None);

/// The cells of `descriptor`, created on first use.
pub(crate) fn of(descriptor: &'static PluginDescriptor) -> &'static PluginCells {
    let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
    cells
        .get_or_insert_with(HashMap::new)
        .entry(std::ptr::from_ref(descriptor) as usize)
        .or_insert_with(|| {
            Box::leak(Box::new(PluginCells {
                instances: InstanceTable::new(descriptor),
                running: running::claim_slot(),
                cpu: Mutex::new(Vec::new()),
                custom: Mutex::new(Vec::new()),
            }))
        })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PluginCells {
    /// The CPU-time counters, to find or add one.
    pub(crate) fn cpu(&self) -> MutexGuard<'_, Vec<&'static CpuCounter>> {
        lock(&self.cpu)
    }

    /// The custom metrics, to find or add one.
    pub(crate) fn custom(&self) -> MutexGuard<'_, Vec<&'static CustomMetric>> {
        lock(&self.custom)
    }
}

/// The CPU time of one `#[instrumented(cpu)]` operation of a plugin.
#[derive(Debug)]
pub(crate) struct CpuCounter {
    pub(crate) operation: &'static str,
    pub(crate) nanos: AtomicU64,
}

/// Bytes allocated and freed so far by the code of `descriptor`; `None` unless an
/// [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed.
pub fn bytes_of(descriptor: &'static PluginDescriptor) -> Option<(u64, u64)> {
    if !running::installed() {
        return None;
    }
    running::bytes_in(of(descriptor).running)
}

/// Runs `f` as code of `descriptor` (a constructor or a hook).
pub(crate) fn within<T>(descriptor: &'static PluginDescriptor, f: impl FnOnce() -> T) -> T {
    if !running::installed() {
        return f();
    }
    let previous = running::enter(of(descriptor).running);
    struct Restore(u16);
    impl Drop for Restore {
        fn drop(&mut self) {
            running::leave(self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

pin_project_lite::pin_project! {
    /// A future whose polls run as code of a plugin: an async hook.
    pub(crate) struct Within<F> {
        descriptor: &'static PluginDescriptor,
        #[pin]
        fut: F,
    }
}

impl<F> Within<F> {
    pub(crate) fn new(descriptor: &'static PluginDescriptor, fut: F) -> Self {
        Within { descriptor, fut }
    }
}

impl<F: std::future::Future> std::future::Future for Within<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let descriptor = *this.descriptor;
        let fut = this.fut;
        within(descriptor, || fut.poll(cx))
    }
}
