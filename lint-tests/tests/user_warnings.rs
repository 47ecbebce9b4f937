//! The user's own warnings still reach the user, at the user's line: `cargo clippy` on
//! `plugobs-lint-probe` (built with `--cfg plugobs_lint_probe`, in a target directory of
//! its own so it never waits on this build's lock) reports exactly the lints its source
//! marks with `// expect: <lint>`, each at its marked line, in instrumented methods as in
//! bare ones. Without clippy installed (rustup's minimal profile), `cargo rustc` builds
//! the probe with the same cfg and only rustc's lints are expected.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let _ = cmd
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CLIPPY_ARGS")
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("lint-probe"),
        );
    cmd
}

#[test]
fn user_warnings_are_reported_at_the_users_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let source_path = root.join("lint-tests/probe/src/mistakes.rs");
    let source = std::fs::read_to_string(&source_path).unwrap();
    let clippy = cargo()
        .args(["clippy", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());

    let expected: BTreeSet<(usize, String)> = source
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            // Code, then the marker (a line that is only a comment marks nothing).
            let (code, lint) = line.split_once("// expect: ")?;
            let lint = lint.trim().to_owned();
            if code.trim().is_empty() || code.trim_start().starts_with("//") {
                return None;
            }
            (clippy || !lint.starts_with("clippy::")).then_some((i + 1, lint))
        })
        .collect();
    // rustc's markers alone are 8, with clippy's 17: a probe whose markers went missing
    // would otherwise pass with nothing to check.
    assert!(
        expected.len() >= if clippy { 15 } else { 6 },
        "the probe's markers were not found"
    );

    let output = cargo()
        .current_dir(root)
        // `cargo rustc` passes what follows `--` to the probe's own compilation, as
        // `cargo clippy` does; `cargo check` would refuse it.
        .args([if clippy { "clippy" } else { "rustc" }])
        .args([
            "-p",
            "plugobs-lint-probe",
            "--lib",
            "--message-format=json",
            "--quiet",
        ])
        .args(["--", "--cfg", "plugobs_lint_probe"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "the probe did not compile:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut reported = BTreeSet::new();
    let mut elsewhere = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-message" {
            continue;
        }
        let message = &msg["message"];
        let Some(code) = message["code"]["code"].as_str() else {
            continue; // the summary ("generated N warnings")
        };
        let primary = message["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["is_primary"] == true));
        match primary {
            Some(span)
                if span["file_name"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("mistakes.rs")) =>
            {
                let line = span["line_start"].as_u64().unwrap() as usize;
                let _ = reported.insert((line, code.to_owned()));
            }
            _ => elsewhere.push(message["rendered"].as_str().unwrap_or("").to_owned()),
        }
    }
    let missing: Vec<_> = expected.difference(&reported).collect();
    let unexpected: Vec<_> = reported.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && elsewhere.is_empty(),
        "(line, lint) of {}:\nmissing: {missing:?}\nunexpected: {unexpected:?}\nelsewhere: {elsewhere:#?}",
        source_path.display()
    );
}
