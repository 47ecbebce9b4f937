// The constructor takes a configuration type that serde cannot deserialize.
pub struct KafkaConfig {
    pub brokers: Vec<String>,
}

#[plugobs::plugin(new = Self::from_config)]
pub struct KafkaSink {
    cfg: KafkaConfig,
}

impl KafkaSink {
    fn from_config(cfg: KafkaConfig) -> Self {
        KafkaSink { cfg }
    }
}

fn main() {
    let _ = KafkaSink::from_config(KafkaConfig { brokers: Vec::new() }).cfg.brokers;
}
