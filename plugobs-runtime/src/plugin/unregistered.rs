//! What generated code names when a `#[plugin]` attribute was rejected: the item still
//! implements [`Plugin`](crate::Plugin), with this descriptor and no registration, so the
//! compiler reports the one real mistake instead of every use of the plugin.

use crate::model::descriptor::{PluginDescriptor, SourceLocation, Upcalls};
use crate::model::error::RegistryError;

/// The descriptor of a plugin whose `#[plugin]` attribute has an error. Never registered
/// and never seen at run time: the crate that names it does not compile.
pub static UNREGISTERED: PluginDescriptor = PluginDescriptor {
    name: "unregistered",
    kind: "plugin",
    version: "",
    description: "",
    type_name: "",
    location: SourceLocation {
        module_path: "",
        file: "",
        line: 0,
    },
    provides: &[],
    has_stop: false,
    objective: crate::model::objective::Objective::NONE,
    upcalls: &Upcalls {
        stats: |d| {
            Err(RegistryError::UnknownPlugin {
                name: d.name.into(),
            })
        },
        first_call: || {},
    },
};
