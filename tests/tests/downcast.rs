//! `Loaded<dyn Trait>` reaches the plugin's concrete type, and its inherent instrumented
//! methods, through `downcast_ref`/`downcast_mut`.

mod common;

use common::capture;
use plugobs::{Plugin, Registry};

pub trait Counter: Send + Sync {
    fn count(&self) -> u64;
}

pub trait Other: Send + Sync {}

#[plugobs::plugin(kind = "counter", provides = dyn Counter)]
#[derive(Default)]
pub struct TallyCounter {
    total: u64,
}

impl Counter for TallyCounter {
    fn count(&self) -> u64 {
        self.total
    }
}

#[plugobs::instrumented]
impl TallyCounter {
    fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }
}

#[plugobs::plugin(kind = "counter", provides = [dyn Counter, dyn Other])]
#[derive(Default)]
pub struct ZeroCounter;

impl Counter for ZeroCounter {
    fn count(&self) -> u64 {
        0
    }
}
impl Other for ZeroCounter {}

#[test]
fn a_loaded_trait_object_downcasts_to_its_plugin_type() {
    let registry =
        Registry::from_descriptors([TallyCounter::DESCRIPTOR, ZeroCounter::DESCRIPTOR]).unwrap();
    let mut tally = registry.load::<dyn Counter>("tally_counter").unwrap();
    let published = capture(|| {
        let concrete: &mut TallyCounter = tally.downcast_mut::<TallyCounter>().unwrap();
        assert_eq!(concrete.add(3), 3);
        assert_eq!(concrete.add(4), 7);
        registry.flush();
    });
    assert_eq!(tally.count(), 7);
    assert_eq!(tally.downcast_ref::<TallyCounter>().unwrap().total, 7);
    assert!(tally.downcast_ref::<ZeroCounter>().is_none());
    assert!(tally.downcast_mut::<ZeroCounter>().is_none());
    // The inherent method reached through the downcast is measured as usual.
    assert_eq!(
        published.counter(
            "plugobs_plugin_operations_total",
            &[
                ("plugin", "tally_counter"),
                ("kind", "counter"),
                ("instance", "tally_counter"),
                ("operation", "add"),
                ("outcome", "ok")
            ]
        ),
        Some(2)
    );

    // Whichever trait it was loaded as, the concrete type is the same.
    let other = registry.load::<dyn Other>("zero_counter").unwrap();
    assert!(other.downcast_ref::<ZeroCounter>().is_some());
    assert!(other.downcast_ref::<TallyCounter>().is_none());
}

#[test]
fn the_prometheus_handle_is_named_through_plugobs() {
    let builder: plugobs::prometheus::PrometheusBuilder = plugobs::prometheus::builder().unwrap();
    let handle: plugobs::prometheus::PrometheusHandle = builder.build_recorder().handle();
    assert_eq!(handle.render(), "");
}
