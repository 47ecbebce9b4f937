//! Discovery, lookups, expected-plugin checks and stats totals.

mod common;

use plugobs::{Plugin, PluginState, Registry, RegistryError};

pub trait Codec: Send + Sync {
    fn id(&self) -> &'static str;
}

/// Decodes JSON.
#[plugobs::plugin(kind = "codec", provides = dyn Codec, version = "2.1.0", new = Self::slow)]
#[derive(Default)]
pub struct JsonCodec;
/// How long `JsonCodec`'s constructor takes at least: a lower bound its load duration must
/// meet (a sleep never returns early).
const JSON_CONSTRUCTION: std::time::Duration = std::time::Duration::from_millis(5);
impl JsonCodec {
    fn slow() -> Self {
        std::thread::sleep(JSON_CONSTRUCTION);
        JsonCodec
    }
}
impl Codec for JsonCodec {
    fn id(&self) -> &'static str {
        "json"
    }
}

#[plugobs::plugin(kind = "codec", provides = dyn Codec, name = "csv", description = "Comma separated.")]
#[derive(Default)]
pub struct CsvCodec;
impl Codec for CsvCodec {
    fn id(&self) -> &'static str {
        "csv"
    }
}

#[plugobs::plugin(kind = "enricher", new = Self::broken)]
pub struct GeoEnricher;
impl GeoEnricher {
    fn broken() -> Result<Self, String> {
        Err("no database".to_owned())
    }
}

fn three() -> Registry {
    Registry::from_descriptors([
        JsonCodec::DESCRIPTOR,
        CsvCodec::DESCRIPTOR,
        GeoEnricher::DESCRIPTOR,
    ])
    .unwrap()
}

#[test]
fn descriptors_carry_defaults_and_overrides() {
    let json = JsonCodec::DESCRIPTOR;
    assert_eq!(json.name, "json_codec");
    assert_eq!(json.kind, "codec");
    assert_eq!(json.version, "2.1.0");
    assert_eq!(json.description, "Decodes JSON.");
    assert_eq!(json.type_name, "registry::JsonCodec");
    assert_eq!(json.location.file, "tests/tests/registry.rs");
    assert_eq!(json.location.line, 14);
    assert_eq!(json.provides.len(), 1);
    assert_eq!(json.provides[0].trait_name, "dyn Codec");
    let csv = CsvCodec::DESCRIPTOR;
    assert_eq!((csv.name, csv.description), ("csv", "Comma separated."));
    let geo = GeoEnricher::DESCRIPTOR;
    assert_eq!(
        (geo.kind, geo.version, geo.description),
        ("enricher", env!("CARGO_PKG_VERSION"), "")
    );
    assert!(geo.provides.is_empty());
}

#[test]
fn lookup_by_name_and_kind() {
    let r = three();
    assert_eq!(r.len(), 3);
    let names: Vec<_> = r.plugins().map(|p| p.descriptor().name).collect();
    assert_eq!(names, ["csv", "geo_enricher", "json_codec"]);
    let codecs: Vec<_> = r.by_kind("codec").map(|p| p.descriptor().name).collect();
    assert_eq!(codecs, ["csv", "json_codec"]);
    assert_eq!(r.by_kind("nothing").count(), 0);
    assert_eq!(r.get("csv").unwrap().state(), PluginState::Registered);
    assert!(r.get("xml").is_none());
}

#[test]
fn loading_unknown_or_unprovided_plugins_is_a_typed_error() {
    let r = three();
    let err = r.load::<dyn Codec>("xml").unwrap_err();
    assert_eq!(
        err,
        plugobs::LoadError::Registry(RegistryError::UnknownPlugin { name: "xml".into() })
    );
    let err = r.load::<dyn Codec>("geo_enricher").unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `geo_enricher` does not provide `dyn registry::Codec`; declare it with #[plugin(provides = dyn registry::Codec)]"
    );
}

#[test]
fn load_all_loads_only_providers_and_keeps_going() {
    let r = three();
    let report = r.load_all::<dyn Codec>();
    let ids: Vec<_> = report.loaded.iter().map(|c| c.id()).collect();
    assert_eq!(ids, ["csv", "json"]);
    assert!(report.is_complete());
    assert_eq!(
        r.get("geo_enricher").unwrap().state(),
        PluginState::Registered
    );
}

#[test]
fn expected_plugins_report_exactly_the_missing_names() {
    let r = three();
    assert_eq!(r.expect_plugins(&["csv", "json_codec"]), Ok(()));
    let err = r.expect_plugins(&["csv", "parquet", "avro"]).unwrap_err();
    assert_eq!(
        err,
        RegistryError::Missing {
            names: vec!["parquet".into(), "avro".into()]
        }
    );
    assert!(err.to_string().contains("use that_crate as _;"), "{err}");
}

#[test]
fn the_global_registry_holds_every_linked_plugin() {
    let r = plugobs::registry();
    assert_eq!(r.check(), Ok(()));
    assert_eq!(
        r.expect_plugins(&["json_codec", "csv", "geo_enricher"]),
        Ok(())
    );
    assert_eq!(r.len(), 3);
}

#[test]
fn stats_totals_by_kind_state_and_errors() {
    let r = three();
    let began = std::time::Instant::now();
    let _codecs = r.load_all::<dyn Codec>();
    // Both constructions happened inside this window.
    let window = began.elapsed();
    // geo_enricher provides nothing; make it fail through the load API anyway.
    let stats = r.stats();
    assert_eq!(stats.total, 3);
    assert_eq!(stats.by_kind.get("codec"), Some(&2));
    assert_eq!(stats.by_kind.get("enricher"), Some(&1));
    assert_eq!(stats.by_state[&PluginState::Running], 2);
    assert_eq!(stats.by_state[&PluginState::Registered], 1);
    assert_eq!(stats.by_state[&PluginState::Failed], 0);
    assert_eq!(stats.health.unknown, 3);
    assert_eq!(stats.total_errors, 0);
    let table = stats.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("plugins: 3 (codec=2 enricher=1) | states: registered=1 running=2"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(
            "PLUGIN        INSTANCE      KIND      VERSION  STATE       HEALTH   LOAD"
        ),
        "{table}"
    );
    assert!(
        lines[2].starts_with("csv           csv           codec     0.1.0    running     unknown"),
        "{table}"
    );
    assert!(
        lines[3]
            .starts_with("geo_enricher  geo_enricher  enricher  0.1.0    registered  unknown  -"),
        "{table}"
    );

    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["total"], 3);
    assert_eq!(json["by_state"]["running"], 2);
    assert_eq!(json["plugins"][2]["name"], "json_codec");
    assert_eq!(json["plugins"][2]["instance"], "json_codec");
    assert_eq!(json["plugins"][2]["version"], "2.1.0");
    assert_eq!(json["plugins"][2]["state"], "running");
    assert_eq!(json["plugins"][2]["health"]["status"], "unknown");
    assert_eq!(json["health"]["unknown"], 3);
    assert!(json["plugins"][2]["load_duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["plugins"][1]["load_duration"], serde_json::Value::Null);
    // The load duration is the constructor's time: at least its sleep, at most the
    // window around `load_all`; exported as exactly those seconds.
    let json_load = stats.plugins[2].load_duration.unwrap();
    assert!(
        (JSON_CONSTRUCTION..=window).contains(&json_load),
        "json_codec load {json_load:?}, constructor sleeps {JSON_CONSTRUCTION:?}, load_all took {window:?}"
    );
    assert_eq!(
        json["plugins"][2]["load_duration"].as_f64(),
        Some(json_load.as_secs_f64())
    );
    let csv_load = stats.plugins[0].load_duration.unwrap();
    assert!(
        csv_load + json_load <= window,
        "csv {csv_load:?} + json {json_load:?} > {window:?}"
    );
    assert_eq!(
        json["plugins"][0]["load_duration"].as_f64(),
        Some(csv_load.as_secs_f64())
    );
    assert_eq!(stats.plugins[1].load_duration, None);
}
