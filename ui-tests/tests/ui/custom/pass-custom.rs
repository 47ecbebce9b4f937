#[plugobs::plugin]
#[derive(Default)]
struct Cache;

#[plugobs::instrumented]
impl Cache {
    fn get(&self, hit: bool) {
        let status = if hit { "hit" } else { "miss" };
        plugobs::counter!(Self, "lookups", "status" => status).increment(1);
        plugobs::gauge!(Self, "entries").set(1.0);
        plugobs::histogram!(Self, "lookup_seconds").record_duration(std::time::Duration::from_micros(3));
    }
}

fn helper() {
    plugobs::counter!(Cache, "helper_runs",).increment(1);
}

fn main() {
    Cache.get(true);
    helper();
}
