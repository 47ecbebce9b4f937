// No `name`: the plugin is named after the struct, and this one is too long for a name.
#[plugobs::plugin]
#[derive(Default)]
struct AFileSinkWhoseNameGoesOnAndOnWellPastWhatAnInstanceNameMayHoldInBytes;

fn main() {}
