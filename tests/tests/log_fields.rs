//! Lifecycle log lines, as a `tracing_subscriber::fmt` subscriber writes them: no field
//! appears twice in one line (an event's fields plus those of the spans it is in).

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use plugobs::{Plugin, Registry};

pub trait Echo: Send + Sync {
    fn echo(&self) -> u32;
}

#[derive(Debug)]
pub struct TestError(&'static str);
impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Starts and stops cleanly.
#[plugobs::plugin(kind = "echo", provides = dyn Echo, start = Self::open, stop = Self::close)]
#[derive(Default)]
pub struct KafkaSink;
impl KafkaSink {
    fn open(&mut self) {}
    fn close(&mut self) {}
}
impl Echo for KafkaSink {
    fn echo(&self) -> u32 {
        1
    }
}

/// Its start hook fails.
#[plugobs::plugin(kind = "echo", provides = dyn Echo, start = Self::open)]
#[derive(Default)]
pub struct RefusedSink;
impl RefusedSink {
    fn open(&mut self) -> Result<(), TestError> {
        Err(TestError("connection refused"))
    }
}
impl Echo for RefusedSink {
    fn echo(&self) -> u32 {
        2
    }
}

/// Its constructor fails.
#[plugobs::plugin(kind = "echo", provides = dyn Echo, new = Self::try_new)]
pub struct MisconfiguredSink;
impl MisconfiguredSink {
    fn try_new() -> Result<Self, TestError> {
        Err(TestError("missing api key"))
    }
}
impl Echo for MisconfiguredSink {
    fn echo(&self) -> u32 {
        3
    }
}

/// Dropped without `stop()`, although it has a stop hook.
#[plugobs::plugin(kind = "echo", provides = dyn Echo, stop = Self::close)]
#[derive(Default)]
pub struct DroppedSink;
impl DroppedSink {
    fn close(&mut self) {}
}
impl Echo for DroppedSink {
    fn echo(&self) -> u32 {
        4
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` under a fmt subscriber writing plain text into a buffer; returns its lines.
fn formatted(f: impl FnOnce()) -> Vec<String> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// The field names of one formatted line: every `name=` outside a quoted value, at the
/// start of a span's field list (`{`) or after a space.
fn field_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut unquoted = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            // Skip the quoted value, honouring backslash escapes.
            while let Some(q) = chars.next() {
                match q {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
            unquoted.push('_');
        } else {
            unquoted.push(c);
        }
    }
    for token in unquoted.split([' ', '{']) {
        if let Some((name, _)) = token.split_once('=') {
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn repeated(line: &str) -> Option<String> {
    let mut names = field_names(line);
    names.sort();
    names
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].clone())
}

#[test]
fn the_field_parser_sees_repeats_in_span_and_event() {
    let line = r#" INFO plugin.start{plugin.name="kafka_sink" plugin.kind="echo"}: plugobs_runtime::record: plugin state changed plugin.name="kafka_sink" from="loaded" to="running""#;
    assert_eq!(
        field_names(line),
        ["plugin.name", "plugin.kind", "plugin.name", "from", "to"]
    );
    assert_eq!(repeated(line).as_deref(), Some("plugin.name"));
    let quoted =
        r#" ERROR plugin.start{plugin.name="a"}: x: failed error.message="to= plugin.name=\"b\"""#;
    assert_eq!(field_names(quoted), ["plugin.name", "error.message"]);
}

#[test]
fn no_lifecycle_log_line_repeats_a_field() {
    let lines = formatted(|| {
        let registry = Registry::from_descriptors([
            KafkaSink::DESCRIPTOR,
            RefusedSink::DESCRIPTOR,
            MisconfiguredSink::DESCRIPTOR,
            DroppedSink::DESCRIPTOR,
        ])
        .unwrap();
        let report = registry.load_all::<dyn Echo>();
        assert_eq!(report.failures.len(), 2);
        let mut loaded = report.loaded;
        assert_eq!(loaded.len(), 2);
        let kafka = loaded.pop().unwrap();
        assert_eq!(kafka.name(), "kafka_sink");
        kafka.stop().unwrap();
        let dropped = loaded.pop().unwrap();
        assert_eq!(dropped.name(), "dropped_sink");
        drop(dropped);
        let again = plugobs::block_on(registry.load_async::<dyn Echo>("kafka_sink")).unwrap();
        plugobs::block_on(again.stop_async()).unwrap();
    });

    for line in &lines {
        assert_eq!(repeated(line), None, "a field appears twice in: {line}");
    }
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // kafka_sink twice: registered→loaded→running→stopped, stopped→loaded→running→stopped;
    // refused_sink: registered→loaded→failed; misconfigured_sink: registered→failed;
    // dropped_sink: registered→loaded→running→stopped.
    assert_eq!(count("plugin state changed"), 6 + 2 + 1 + 3, "{lines:#?}");
    assert_eq!(count("plugin failed to"), 2, "{lines:#?}");
    assert_eq!(count("its stop hook did not run"), 1, "{lines:#?}");
    assert_eq!(count("plugins discovered"), 1, "{lines:#?}");
    // Every state change names its plugin exactly once, from its span or from itself.
    for line in lines.iter().filter(|l| l.contains("plugin state changed")) {
        let names = field_names(line);
        assert_eq!(
            names.iter().filter(|n| *n == "plugin.name").count(),
            1,
            "{line}"
        );
        assert_eq!(
            names.iter().filter(|n| *n == "plugin.kind").count(),
            1,
            "{line}"
        );
    }
}

/// An operation that fails, logged with `err`.
#[plugobs::plugin(kind = "echo")]
#[derive(Default)]
pub struct FailingOperation;

#[plugobs::instrumented(err)]
impl FailingOperation {
    #[instrumented(fields(n))]
    fn fetch(&self, n: u32) -> Result<u32, TestError> {
        if n == 0 {
            Err(TestError("nothing to fetch"))
        } else {
            Ok(n)
        }
    }
}

#[test]
fn no_operation_log_line_repeats_a_field() {
    let lines = formatted(|| {
        let op = FailingOperation;
        assert!(op.fetch(0).is_err());
        assert_eq!(op.fetch(2).unwrap(), 2);
    });
    for line in &lines {
        assert_eq!(repeated(line), None, "a field appears twice in: {line}");
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("nothing to fetch"))
            .count(),
        1,
        "{lines:#?}"
    );
}
