//! Constructors that take their instance's configuration: infallible and fallible, loaded
//! by name with a typed configuration, and the old way when every field has a default.
use std::fmt;

pub trait Sink: Send + Sync {
    fn brokers(&self) -> usize;
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    #[serde(default)]
    pub batch: u32,
}

#[derive(Debug)]
pub struct NoBrokers;
impl fmt::Display for NoBrokers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("at least one broker is needed")
    }
}

/// Fallible.
#[plugobs::plugin(kind = "sink", new = Self::from_config, provides = dyn Sink)]
pub struct KafkaSink {
    cfg: KafkaConfig,
}

impl KafkaSink {
    fn from_config(cfg: KafkaConfig) -> Result<Self, NoBrokers> {
        if cfg.brokers.is_empty() {
            return Err(NoBrokers);
        }
        Ok(KafkaSink { cfg })
    }
}

impl Sink for KafkaSink {
    fn brokers(&self) -> usize {
        self.cfg.brokers.len()
    }
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub path: String,
}

/// Infallible, a free function; every field has a default.
#[plugobs::plugin(kind = "sink", new = file_sink, provides = dyn Sink)]
pub struct FileSink {
    path: String,
}

fn file_sink(cfg: FileConfig) -> FileSink {
    FileSink { path: cfg.path }
}

impl Sink for FileSink {
    fn brokers(&self) -> usize {
        self.path.len()
    }
}

/// What the host read from its configuration file.
#[derive(serde::Serialize)]
struct HostKafka {
    brokers: Vec<&'static str>,
}

fn main() {
    let registry = plugobs::registry();
    let eu = registry
        .load_instance::<dyn Sink>("kafka_sink", "kafka-eu", HostKafka { brokers: vec!["eu-1:9092"] })
        .unwrap();
    assert_eq!((eu.instance(), eu.brokers()), ("kafka-eu", 1));
    assert_eq!(eu.downcast_ref::<KafkaSink>().unwrap().cfg.batch, 0);
    let err = registry
        .load_instance::<dyn Sink>("kafka_sink", "kafka-us", HostKafka { brokers: vec![] })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "instance `kafka-us` of plugin `kafka_sink` failed to load: at least one broker is needed"
    );
    let file = registry.load::<dyn Sink>("file_sink").unwrap();
    assert_eq!(file.brokers(), 0);
    eu.stop().unwrap();
    file.stop().unwrap();
}
