//! `#[plugin]` with every option.

use plugobs::Health;

/// A trait a plugin provides.
pub trait Sink: Send + Sync {
    /// Writes.
    fn write(&self, line: &str) -> usize;
}

/// Another.
pub trait Flush: Send + Sync {
    /// Flushes.
    fn flush(&self);
}

/// An error of a hook.
#[derive(Debug)]
pub struct OpenError;

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot open")
    }
}

/// Every option, sync hooks, two traits.
#[plugobs::plugin(
    name = "file",
    kind = "sink",
    version = "0.3.1",
    description = "Writes lines to a file.",
    new = Self::create,
    provides = [dyn Sink, dyn Flush],
    start = Self::open,
    stop = Self::close,
    health = Self::check,
    crate = ::plugobs,
)]
#[derive(Debug)]
pub struct FileSink {
    path: String,
    open: bool,
}

impl FileSink {
    fn create() -> Result<Self, OpenError> {
        Ok(FileSink {
            path: "/tmp/x".into(),
            open: false,
        })
    }

    fn open(&mut self) -> Result<(), OpenError> {
        self.open = true;
        Ok(())
    }

    fn close(&mut self) {
        self.open = false;
    }

    fn check(&self) -> Health {
        if self.open {
            Health::healthy()
        } else {
            Health::unhealthy("closed")
        }
    }
}

impl Sink for FileSink {
    fn write(&self, line: &str) -> usize {
        line.len() + self.path.len()
    }
}

impl Flush for FileSink {
    fn flush(&self) {}
}

/// Async hooks by `&self`, one trait, the start hook alone with two traits.
#[plugobs::plugin(provides = [dyn Sink, dyn Flush], start = Self::open)]
#[derive(Debug, Default)]
pub struct AsyncHooks;

impl AsyncHooks {
    async fn open(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Sink for AsyncHooks {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

impl Flush for AsyncHooks {
    fn flush(&self) {}
}

/// Async stop and health hooks.
#[plugobs::plugin(provides = dyn Sink, stop = Self::close, health = Self::check)]
#[derive(Debug, Default)]
pub struct AsyncStop;

impl AsyncStop {
    async fn close(&mut self) {}

    async fn check(&self) -> Health {
        Health::healthy()
    }
}

impl Sink for AsyncStop {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

/// A configuration.
#[derive(Debug, serde::Deserialize)]
pub struct KafkaConfig {
    /// The brokers.
    pub brokers: Vec<String>,
}

/// A constructor that takes a configuration, fallible.
#[plugobs::plugin(kind = "sink", new = Self::from_config, provides = dyn Sink)]
#[derive(Debug)]
pub struct KafkaSink {
    cfg: KafkaConfig,
}

impl KafkaSink {
    fn from_config(cfg: KafkaConfig) -> Result<Self, OpenError> {
        if cfg.brokers.is_empty() {
            return Err(OpenError);
        }
        Ok(KafkaSink { cfg })
    }
}

impl Sink for KafkaSink {
    fn write(&self, line: &str) -> usize {
        line.len() + self.cfg.brokers.len()
    }
}

/// A configured constructor with every hook: async start, sync stop and health, two
/// traits (the README's shape).
#[plugobs::plugin(
    kind = "sink",
    version = "1.0.0",
    new = Self::from_config,
    provides = [dyn Sink, dyn Flush],
    start = Self::connect,
    stop = Self::close,
    health = Self::check
)]
#[derive(Debug)]
pub struct ConfiguredHooks {
    cfg: KafkaConfig,
    connected: bool,
}

impl ConfiguredHooks {
    fn from_config(cfg: KafkaConfig) -> Result<Self, OpenError> {
        Ok(ConfiguredHooks {
            cfg,
            connected: false,
        })
    }

    async fn connect(&mut self) -> Result<(), OpenError> {
        self.connected = !self.cfg.brokers.is_empty();
        Ok(())
    }

    fn close(&mut self) {
        self.connected = false;
    }

    fn check(&self) -> Health {
        if self.connected {
            Health::healthy()
        } else {
            Health::unhealthy("not connected")
        }
    }
}

impl Sink for ConfiguredHooks {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

impl Flush for ConfiguredHooks {
    fn flush(&self) {}
}

/// A configuration whose every field has a default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct FileConfig {
    /// The path.
    pub path: String,
}

/// A constructor that takes a configuration, infallible, a free function.
#[plugobs::plugin(kind = "sink", new = file_sink, provides = dyn Sink)]
#[derive(Debug)]
pub struct ConfiguredFile {
    path: String,
}

fn file_sink(cfg: FileConfig) -> ConfiguredFile {
    ConfiguredFile { path: cfg.path }
}

impl Sink for ConfiguredFile {
    fn write(&self, line: &str) -> usize {
        line.len() + self.path.len()
    }
}

/// No option at all.
#[plugobs::plugin]
#[derive(Debug, Default)]
pub struct Bare;
