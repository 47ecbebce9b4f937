// A type error in the body is reported once, as without the attribute: at the body,
// against the signature's return type.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line
    }

    fn flush(&self, n: u32) -> Result<u32, String> {
        if n == 0 {
            return Err(n);
        }
        Ok(n)
    }
}

fn main() {}
