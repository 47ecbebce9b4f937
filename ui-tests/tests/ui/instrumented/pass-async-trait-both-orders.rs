//! async-trait with `#[instrumented]` above and below, and every receiver.
use std::sync::Arc;

#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    async fn fetch(&self, key: &str) -> Result<usize, String>;
}

#[plugobs::plugin]
#[derive(Default)]
pub struct Above;

#[plugobs::instrumented]
#[async_trait::async_trait]
impl Fetch for Above {
    async fn fetch(&self, key: &str) -> Result<usize, String> {
        Ok(key.len())
    }
}

#[plugobs::plugin]
#[derive(Default)]
pub struct Below;

#[async_trait::async_trait]
#[plugobs::instrumented]
impl Fetch for Below {
    async fn fetch(&self, key: &str) -> Result<usize, String> {
        Ok(key.len())
    }
}

#[plugobs::instrumented]
impl Below {
    fn arc(self: Arc<Self>) {}
    fn owned(self) {}
}

fn main() {
    assert_eq!(plugobs::block_on(Above.fetch("ab")), Ok(2));
    assert_eq!(plugobs::block_on(Below.fetch("abc")), Ok(3));
    Arc::new(Below).arc();
    Below.owned();
}
