#[plugobs::plugin]
#[derive(Default)]
struct Cache;

impl Cache {
    fn record(&self, status: &'static str) {
        plugobs::counter!(Self, "lookups", "status" => status, "status" => "hit").increment(1);
    }
}

fn main() {}
