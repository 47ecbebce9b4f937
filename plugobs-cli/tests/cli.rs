//! The `plugobs-cli` binary: help per subcommand, exit status 0 / 2, output on stdout.

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugobs-cli"))
        .args(args)
        .output()
        .expect("run plugobs-cli")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn every_subcommand_has_help() {
    for (sub, says) in [
        ("rules", "Prometheus alert and recording rules"),
        ("dashboard", "Grafana dashboard"),
        ("inhibit-rules", "inhibit_rules"),
        ("prometheus-config", "honor_labels"),
        ("settings", "Every setting"),
    ] {
        let o = cli(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{sub}");
        let text = stdout(&o);
        assert!(text.contains(says), "{sub} --help: {text}");
        assert!(
            text.contains(&format!("Usage: plugobs-cli {sub}")),
            "{text}"
        );
    }
    let o = cli(&["--help"]);
    assert!(stdout(&o).contains(
        "Exit status: 0 success, 1 generating or writing failed, 2 bad command line or setting."
    ));
}

#[test]
fn settings_reach_the_output_and_bad_ones_exit_2() {
    let o = cli(&[
        "rules",
        "--set",
        r#"selector=job="pipeline""#,
        "--set",
        "runbook_base=https://wiki/x",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let rules = stdout(&o);
    assert!(rules.contains(r#"up{job=\"pipeline\"}"#), "{rules}");
    assert!(rules.contains(r#"runbook_url: "https://wiki/x#plugobstargetdown""#));

    let o = cli(&["settings", "--set", "min_calls=50"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).lines().any(|l| l == "min_calls=50"));

    for args in [
        &["rules", "--set", "nope=1"][..],
        &["rules", "--set", "min_calls=many"],
        &["dashboard", "--set", r#"selector=env="prod""#],
        &["rules", "--set", "novalue"],
        &["frobnicate"],
        &[],
        &["prometheus-config"],
    ] {
        let o = cli(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn prometheus_config_scrapes_every_target() {
    let o = cli(&[
        "prometheus-config",
        "--rules",
        "r.yml",
        "--scrape-interval",
        "1s",
        "a:1",
        "b:2",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains(r#"- targets: ["a:1", "b:2"]"#), "{text}");
    assert!(text.contains(r#"scrape_interval: "1s""#));
    assert!(text.contains(r#"  - "r.yml""#));
}
