//! The host whose exemplars the Prometheus end-to-end test (`scripts/e2e-prometheus.sh`)
//! finds through `/api/v1/query_exemplars`: every write runs inside a `request` span that
//! `tracing-opentelemetry` turns into a sampled OpenTelemetry span (exported nowhere), so
//! plugobs keeps its trace id as the exemplar of the latency bucket the write landed in,
//! and `/metrics` serves them in OpenMetrics to a scraper that asks for it. It prints
//! each request's trace id, `trace <32 hex digits>`, once a second, on stdout.
//!
//! ```text
//! cargo run -p plugobs-examples --bin exemplar-host -- 9465
//! ```

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

pub trait Sink: Send + Sync {
    fn write(&self, n: u64) -> Result<(), SinkError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum SinkError {
    Rejected,
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct TracedSink;

#[plugobs::instrumented]
impl Sink for TracedSink {
    fn write(&self, n: u64) -> Result<(), SinkError> {
        // Some writes slow, so several buckets have exemplars.
        if n % 50 == 0 {
            std::thread::sleep(Duration::from_millis(3));
        }
        if n % 97 == 0 {
            Err(SinkError::Rejected)
        } else {
            Ok(())
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: exemplar-host PORT")?
        .parse()?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("exemplar-host")));
    tracing::subscriber::set_global_default(subscriber)?;
    plugobs::exemplars::enable();

    let sink = plugobs::registry().load::<dyn Sink>("traced_sink")?;
    let server = plugobs::http::Endpoints::new()
        .trace_link("http://localhost:16686/trace/{trace_id}")
        .serve(port)?;
    eprintln!("exemplar-host serving on http://{}/", server.local_addr());
    let mut printed = Instant::now() - Duration::from_secs(1);
    let mut n = 0u64;
    loop {
        let request = tracing::info_span!("request", n);
        request.in_scope(|| {
            let _ = sink.write(n);
        });
        if printed.elapsed() >= Duration::from_secs(1) {
            use opentelemetry::trace::TraceContextExt as _;
            let trace = request.context().span().span_context().trace_id();
            println!("trace {trace}");
            printed = Instant::now();
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}
