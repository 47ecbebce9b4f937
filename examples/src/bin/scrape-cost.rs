//! What a scrape costs: 10 plugins × 100 instrumented operations (1 000 operations),
//! each called, served by `plugobs::http` on a loopback port; each route fetched over
//! HTTP/1.1 (a new connection each time, as Prometheus does per scrape interval), and
//! `/metrics` also rendered in process. Prints median and p90 over 200 scrapes, and the
//! body size.
//!
//! `cargo run --release -p plugobs-examples --bin scrape-cost`

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use plugobs::exposition::{self, Format};

macro_rules! plugin_with_ops {
    ($ty:ident, [$($op:ident),*]) => {
        #[plugobs::plugin(kind = "probe")]
        #[derive(Default)]
        pub struct $ty;

        #[plugobs::instrumented]
        impl $ty {
            $(
                pub fn $op(&self, x: u64) -> Result<u64, std::fmt::Error> {
                    if x % 7 == 0 { Err(std::fmt::Error) } else { Ok(x.wrapping_mul(3)) }
                }
            )*
        }

        impl $ty {
            fn call_all(&self, x: u64) {
                $( let _ = std::hint::black_box(self.$op(x)); )*
            }
        }
    };
}

/// Every probe plugin gets the same operations: the list is written once.
macro_rules! plugins_with_ops {
    ([$($ty:ident),*], $ops:tt) => {
        $(plugin_with_ops!($ty, $ops);)*
    };
}

plugins_with_ops!(
    [
        Plugin0, Plugin1, Plugin2, Plugin3, Plugin4, Plugin5, Plugin6, Plugin7, Plugin8, Plugin9
    ],
    [
        op00, op01, op02, op03, op04, op05, op06, op07, op08, op09, op10, op11, op12, op13, op14,
        op15, op16, op17, op18, op19, op20, op21, op22, op23, op24, op25, op26, op27, op28, op29,
        op30, op31, op32, op33, op34, op35, op36, op37, op38, op39, op40, op41, op42, op43, op44,
        op45, op46, op47, op48, op49, op50, op51, op52, op53, op54, op55, op56, op57, op58, op59,
        op60, op61, op62, op63, op64, op65, op66, op67, op68, op69, op70, op71, op72, op73, op74,
        op75, op76, op77, op78, op79, op80, op81, op82, op83, op84, op85, op86, op87, op88, op89,
        op90, op91, op92, op93, op94, op95, op96, op97, op98, op99
    ]
);

fn call_everything(x: u64) {
    Plugin0.call_all(x);
    Plugin1.call_all(x);
    Plugin2.call_all(x);
    Plugin3.call_all(x);
    Plugin4.call_all(x);
    Plugin5.call_all(x);
    Plugin6.call_all(x);
    Plugin7.call_all(x);
    Plugin8.call_all(x);
    Plugin9.call_all(x);
}

/// One GET on a fresh connection: the whole answer's length.
fn fetch(addr: SocketAddr, path: &str, accept: &str) -> usize {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{path}");
    answer.len()
}

fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
    )
}

fn time<R>(n: usize, mut f: impl FnMut() -> R) -> (f64, f64, R) {
    let mut last = f();
    let samples = (0..n)
        .map(|_| {
            let began = Instant::now();
            last = black_box(f());
            began.elapsed()
        })
        .collect();
    let (p50, p90) = summary(samples);
    (p50, p90, last)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for x in 1..=10 {
        call_everything(x);
    }
    let registry = plugobs::registry();
    let operations: usize = registry
        .stats()
        .plugins
        .iter()
        .map(|p| p.operations.len())
        .sum();
    println!(
        "{} plugins, {operations} operations, each called 10 times",
        registry.len()
    );

    let server = plugobs::http::Endpoints::new().serve(0)?;
    let addr = server.local_addr();
    const N: usize = 200;
    println!(
        "{:<34} {:>9} {:>9} {:>10}",
        "what", "p50 ms", "p90 ms", "bytes"
    );
    let (p50, p90, bytes) = time(N, || exposition::render(registry, Format::Prometheus).len());
    println!(
        "{:<34} {p50:>9.3} {p90:>9.3} {bytes:>10}",
        "render (in process, Prometheus)"
    );
    let (p50, p90, bytes) = time(N, || {
        exposition::render(registry, Format::OpenMetrics).len()
    });
    println!(
        "{:<34} {p50:>9.3} {p90:>9.3} {bytes:>10}",
        "render (in process, OpenMetrics)"
    );
    for (what, path, accept) in [
        ("GET /metrics (Prometheus text)", "/metrics", "text/plain"),
        (
            "GET /metrics (OpenMetrics)",
            "/metrics",
            "application/openmetrics-text",
        ),
        ("GET /plugins (JSON)", "/plugins", "*/*"),
        ("GET / (status page)", "/", "text/html"),
    ] {
        let (p50, p90, bytes) = time(N, || fetch(addr, path, accept));
        println!("{what:<34} {p50:>9.3} {p90:>9.3} {bytes:>10}");
    }
    server.shutdown()?;
    Ok(())
}
