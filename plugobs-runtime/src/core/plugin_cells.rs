//! Everything kept per plugin at run time, in one place found from the plugin's
//! descriptor: its instance bindings (and each instance's [`Running`]: who it is and the
//! bytes its code allocated), its CPU-time counters and its custom metrics; and running
//! code as an instance's. One table keyed by the descriptor's address holds
//! them all; it is read when a call site, a custom metric or a lifecycle step resolves
//! its plugin, and by the export walk, never per call.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use crate::core::bindings::InstanceTable;
use crate::core::custom::CustomMetric;
use crate::core::per_instance::PerInstance;
use crate::core::running::{self, Running};
use crate::model::descriptor::PluginDescriptor;

/// One plugin's run-time state.
#[derive(Debug)]
pub(crate) struct PluginCells {
    /// Which instance a call runs on, by its receiver's address.
    pub(crate) instances: InstanceTable,
    /// The CPU-time counter of each `#[instrumented(cpu)]` operation.
    cpu: Mutex<Vec<&'static CpuCounter>>,
    /// Its custom metrics.
    custom: Mutex<Vec<&'static CustomMetric>>,
    /// The host's sampling settings for it.
    pub(crate) sampling: crate::core::sampling::PluginSampling,
    /// The host's breaker settings for it.
    pub(crate) breakers: crate::core::breaker::PluginBreakers,
}

static CELLS: Mutex<Option<HashMap<usize, &'static PluginCells>>> = Mutex::new(None);

/// The cells of `descriptor`, created on first use.
pub(crate) fn of(descriptor: &'static PluginDescriptor) -> &'static PluginCells {
    running::outside(|| {
        let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
        *cells
            .get_or_insert_with(HashMap::new)
            .entry(std::ptr::from_ref(descriptor) as usize)
            .or_insert_with(|| {
                Box::leak(Box::new(PluginCells {
                    instances: InstanceTable::new(descriptor),
                    cpu: Mutex::new(Vec::new()),
                    custom: Mutex::new(Vec::new()),
                    sampling: Default::default(),
                    breakers: Default::default(),
                }))
            })
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

/// The CPU time of one `#[instrumented(cpu)]` operation of a plugin, on its default
/// instance, with its instances loaded by name beside it.
#[derive(Debug)]
pub(crate) struct CpuCounter {
    pub(crate) operation: &'static str,
    pub(crate) nanos: AtomicU64,
    /// The same operation's counter on each instance loaded by name.
    pub(crate) instances: PerInstance<CpuCounter>,
}

impl CpuCounter {
    pub(crate) fn new(operation: &'static str) -> CpuCounter {
        CpuCounter {
            operation,
            nanos: AtomicU64::new(0),
            instances: PerInstance::default(),
        }
    }

    /// The counter of the instance running on this thread, if it is one of this
    /// plugin's loaded by name; else this one (the default instance's).
    #[inline]
    pub(crate) fn for_current(&self, descriptor: &'static PluginDescriptor) -> &CpuCounter {
        match running::current_instance_of(descriptor) {
            Some(r) => self
                .instances
                .get_or_init(r.slot, || CpuCounter::new(self.operation))
                .unwrap_or(self),
            None => self,
        }
    }

    /// The nanoseconds counted for instance `slot`, if it was measured: the default
    /// instance's counter exists as soon as any instance's call resolved the site, so it
    /// counts as measured once it holds some time.
    pub(crate) fn nanos_of(&self, slot: usize) -> Option<u64> {
        let nanos = |c: &CpuCounter| c.nanos.load(std::sync::atomic::Ordering::Relaxed);
        if slot == 0 {
            Some(nanos(self)).filter(|&n| n > 0)
        } else {
            self.instances.get(slot).map(nanos)
        }
    }
}

/// Bytes allocated and freed so far by the code of `descriptor`, all its instances
/// together; `None` unless an [`Attributed`](crate::telemetry::alloc::Attributed)
/// allocator is installed.
pub fn bytes_of(descriptor: &'static PluginDescriptor) -> Option<(u64, u64)> {
    if !running::installed() {
        return None;
    }
    Some(
        of(descriptor)
            .instances
            .each_running()
            .filter_map(Running::bytes)
            .fold((0, 0), |(a, f), (x, y)| (a + x, f + y)),
    )
}

/// Runs `f` as code of the instance `running` (a constructor, a hook, an attribution
/// scope).
pub(crate) fn within<T>(running: &'static Running, f: impl FnOnce() -> T) -> T {
    // A default instance's code needs no mark while nothing asks who runs: its metrics
    // and CPU time are the default instance's anyway.
    if running.slot == 0 && !running::active() {
        return f();
    }
    let previous = running::enter_always(running);
    struct Restore(running::Previous);
    impl Drop for Restore {
        fn drop(&mut self) {
            running::leave(self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

pin_project_lite::pin_project! {
    /// A future whose polls run as code of an instance: an async hook, an attributed
    /// future.
    pub(crate) struct Within<F> {
        running: &'static Running,
        #[pin]
        fut: F,
    }
}

impl<F> Within<F> {
    pub(crate) fn new(running: &'static Running, fut: F) -> Self {
        Within { running, fut }
    }
}

impl<F: std::future::Future> std::future::Future for Within<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let running = *this.running;
        let fut = this.fut;
        within(running, || fut.poll(cx))
    }
}
