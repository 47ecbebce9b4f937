#[plugobs::plugin]
#[derive(Default)]
struct Cache;

impl Cache {
    fn record(&self, status: &'static str) {
        plugobs::counter!(Self, "CacheHits").increment(1);
        plugobs::counter!(Self, "hits_total").increment(1);
        plugobs::gauge!(Self, "queue__depth").set(1.0);
        plugobs::histogram!(Self, "batch_size", "plugin" => status, "Status" => status).record(1.0);
    }
}

fn main() {}
