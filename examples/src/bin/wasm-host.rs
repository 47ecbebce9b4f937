//! A host that finds its plugins at run time: a directory of WebAssembly modules
//! (`examples/wasm-plugins`, or the directory given as the first argument), each export an
//! operation, observed like plugins linked in.
//!
//! `cargo run -p plugobs-examples --bin wasm-host`
//!
//! The modules run in [wasmi](https://docs.rs/wasmi), a WebAssembly interpreter in pure
//! Rust (see the README for why wasmi rather than wasmtime), with fuel metering: each call
//! gets [`FUEL_PER_CALL`] units, and one that runs out is the error kind `timeout`; a trap
//! (a division by zero) is the error kind `trap`. A file that is not a module is a failed
//! file of the discovery, with the reason `invalid`.
//!
//! The output is deterministic but for durations: the discovery, the stats table and the
//! Prometheus exposition, as the quick start prints them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plugobs::discovery::FileError;
use plugobs::{Health, OperationHandle, PluginSpec, RuntimePlugin};
use wasmi::core::TrapCode;
use wasmi::{Config, Engine, Linker, Module, Store, TypedFunc};

/// The fuel each call may burn: enough for `spin` to loop about a thousand times.
const FUEL_PER_CALL: u64 = 10_000;

/// How a call into a module failed: the `error_kind` label.
#[derive(Debug, plugobs::ErrorKind)]
enum WasmError {
    /// The module trapped (a division by zero, `unreachable`).
    Trap(String),
    /// It ran out of fuel: the call took too long.
    Timeout,
    /// Anything else (no such export, a wrong signature).
    Host(String),
}

impl std::fmt::Display for WasmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WasmError::Trap(m) => write!(f, "trapped: {m}"),
            WasmError::Timeout => write!(f, "out of fuel after {FUEL_PER_CALL} units"),
            WasmError::Host(m) => f.write_str(m),
        }
    }
}

impl From<wasmi::Error> for WasmError {
    fn from(e: wasmi::Error) -> Self {
        match e.as_trap_code() {
            Some(TrapCode::OutOfFuel) => WasmError::Timeout,
            Some(code) => WasmError::Trap(code.to_string()),
            None => WasmError::Host(e.to_string()),
        }
    }
}

/// One instantiated module: what a plugin instance's load hook makes.
struct WasmInstance {
    store: Mutex<Store<()>>,
    instance: wasmi::Instance,
}

impl WasmInstance {
    /// Calls the export `name` with `(a, b)`, with [`FUEL_PER_CALL`] units of fuel.
    fn call(&self, name: &str, a: i32, b: i32) -> Result<i32, WasmError> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let func: TypedFunc<(i32, i32), i32> = self
            .instance
            .get_typed_func(&*store, name)
            .map_err(|e| WasmError::Host(e.to_string()))?;
        store.set_fuel(FUEL_PER_CALL)?;
        Ok(func.call(&mut *store, (a, b))?)
    }
}

/// `;; key: value` from the comment lines at the top of a `.wat` file.
fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map_while(|l| l.trim().strip_prefix(";;"))
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

/// The discovery's loader: a `.wat` file is compiled (a file that is not a module is
/// refused with the reason `invalid`); its exports become operations, its load hook
/// instantiates it. Other files are passed over.
fn load_module(
    engine: &Engine,
    path: &Path,
    bytes: &[u8],
) -> Result<Option<PluginSpec>, FileError> {
    if path.extension().is_none_or(|e| e != "wat") {
        return Ok(None);
    }
    let module = Module::new(engine, bytes).map_err(|e| {
        FileError::invalid(format!(
            "not a WebAssembly module: {}",
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    let text = String::from_utf8_lossy(bytes);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut spec = PluginSpec::new(name, header(&text, "kind").unwrap_or("wasm"))
        .version(header(&text, "version").unwrap_or("0.0.0"))
        .source(path)
        .description("a WebAssembly module");
    for export in module.exports() {
        if export.ty().func().is_some() {
            spec = spec.operation(export.name());
        }
    }
    let engine = engine.clone();
    Ok(Some(
        spec.load(move || {
            let mut store = Store::new(&engine, ());
            let instance = Linker::<()>::new(&engine)
                .instantiate(&mut store, &module)?
                .start(&mut store)?;
            Ok::<_, wasmi::Error>(WasmInstance {
                store: Mutex::new(store),
                instance,
            })
        })
        .health(Health::healthy),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Warnings (a failed file) to stderr; stdout stays the report.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    let prometheus = plugobs::prometheus::install()?;
    let registry = plugobs::registry();

    let dir: PathBuf = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("wasm-plugins"),
        PathBuf::from,
    );
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);

    println!("== discovery ==");
    let report = registry.discover(&dir, |path, bytes| load_module(&engine, path, bytes));
    println!(
        "discovered {} in {:?}: {} plugins ({}), {} failed, {} passed over",
        report.source,
        report.duration,
        report.plugins.len(),
        report
            .plugins
            .iter()
            .map(|p| format!("{}: {}", p.name(), p.operations().join(" ")))
            .collect::<Vec<_>>()
            .join(", "),
        report.failures.len(),
        report.skipped
    );
    for failure in &report.failures {
        let file = failure
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        println!("  failed: {file}: {} ({})", failure.message, failure.reason);
    }

    println!("\n== calls ==");
    let mut loaded = Vec::new();
    for plugin in &report.plugins {
        let instance = plugin.load()?;
        run(plugin, &instance)?;
        loaded.push(instance);
    }

    println!("\n== health ==");
    for check in registry.check_health().checks {
        println!("  {}: {}", check.instance, check.result);
    }

    println!("\n== prometheus exposition ==");
    println!("{}", prometheus.render().trim_end());
    println!("\n== plugobs::registry().stats() ==");
    print!("{}", registry.stats());
    for instance in loaded {
        instance.stop()?;
    }
    Ok(())
}

/// A fixed workload per plugin, through its operation handles.
fn run(
    plugin: &RuntimePlugin<'_>,
    instance: &plugobs::Loaded<plugobs::RuntimeValue>,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(module) = instance.value::<WasmInstance>() else {
        return Err("not a WebAssembly instance".into());
    };
    for name in plugin.operations() {
        let op: OperationHandle = plugin.operation(name)?;
        // `add` and `div`: 100 calls each, `div` by i % 10 (ten divisions by zero);
        // `spin`: 10 calls looping 0, 300, 600, ... 2700 times (the last ones run out of fuel).
        let inputs: Vec<(i32, i32)> = match name {
            "spin" => (0..10).map(|i| (i * 300, 1)).collect(),
            _ => (0..100).map(|i| (1000 + i, i % 10)).collect(),
        };
        let (mut ok, mut first_error) = (0, None);
        for (a, b) in inputs {
            match op.call(|| module.call(name, a, b)) {
                Ok(_) => ok += 1,
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        println!(
            "  {}.{name}: {ok} ok, first error: {}",
            plugin.name(),
            first_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
