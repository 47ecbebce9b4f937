//! Two different functions that would record under one (plugin, operation) pair are never
//! summed unseen: `Registry::check` names both places once both have been called.

use plugobs::{Plugin, Registry, RegistryError};

#[plugobs::plugin(kind = "command")]
#[derive(Default)]
pub struct Commands;

pub struct Get;
pub struct Set;

#[plugobs::instrumented(plugin = Commands)]
impl Get {
    fn apply(&self) -> u32 {
        1
    }
}

#[plugobs::instrumented(plugin = Commands)]
impl Set {
    fn apply(&self) -> u32 {
        2
    }

    // Named apart: its own series.
    #[instrumented(name = "set_flush")]
    fn flush(&self) -> u32 {
        3
    }
}

#[test]
fn the_same_method_name_on_two_types_under_one_plugin_is_reported_with_both_places() {
    let registry = Registry::from_descriptors([Commands::DESCRIPTOR]).unwrap();
    assert_eq!(registry.check(), Ok(()));
    assert_eq!(Get.apply() + Get.apply(), 2);
    // One function so far: nothing to report.
    assert_eq!(registry.check(), Ok(()));
    assert_eq!(Set.apply() + Set.flush(), 5);
    let Err(RegistryError::MergedOperation {
        plugin,
        operation,
        places,
    }) = registry.check()
    else {
        panic!("{:?}", registry.check());
    };
    assert_eq!((plugin, operation), ("commands", "apply"));
    let places: Vec<_> = places.iter().map(|p| (p.file, p.line)).collect();
    assert_eq!(
        places,
        [
            ("tests/tests/merged_operations.rs", 15),
            ("tests/tests/merged_operations.rs", 22)
        ]
    );
    let message = registry.check().unwrap_err().to_string();
    assert_eq!(
        message,
        "operation `apply` of plugin `commands` is recorded by 2 functions, so their calls \
         are summed into one series: tests/tests/merged_operations.rs:15, \
         tests/tests/merged_operations.rs:22; name them apart with \
         #[instrumented(name = \"...\")]"
    );
    // The series is still the sum (nothing is dropped), and the named-apart one is its own.
    let stats = registry.stats();
    let ops = &stats.plugins[0].operations;
    let calls: Vec<_> = ops.iter().map(|o| (o.name, o.calls)).collect();
    assert_eq!(calls, [("apply", 3), ("set_flush", 1)]);
}
