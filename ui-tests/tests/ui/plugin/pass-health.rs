use plugobs::Health;

#[plugobs::plugin(health = Self::check)]
#[derive(Default)]
struct SyncCheck;

impl SyncCheck {
    fn check(&self) -> Health {
        Health::degraded("using cache").with_detail("pool", "4/10")
    }
}

#[plugobs::plugin(start = Self::open, health = Self::check)]
#[derive(Default)]
struct AsyncCheck {
    open: bool,
}

impl AsyncCheck {
    fn open(&mut self) {
        self.open = true;
    }
    async fn check(&self) -> Health {
        if self.open {
            Health::healthy()
        } else {
            Health::unhealthy("closed")
        }
    }
}

fn main() {}
