//! `plugobs-cli`: writes plugobs' Prometheus rules, Grafana dashboard or a Prometheus
//! configuration to standard output.

use std::process::ExitCode;

const USAGE: &str = "\
usage: plugobs-cli rules [--set key=value]...       Prometheus alert and recording rules (YAML)
       plugobs-cli dashboard [--set key=value]...   Grafana dashboard (JSON)
       plugobs-cli prometheus-config TARGET RULES [SCRAPE_INTERVAL]
                                                    a Prometheus config scraping TARGET/metrics
       plugobs-cli settings                         the settable keys and their defaults";

fn run(args: &[String]) -> Result<String, String> {
    let (command, rest) = args.split_first().ok_or_else(|| USAGE.to_owned())?;
    let mut config = plugobs_cli::Config::default();
    let settings = |config: &mut plugobs_cli::Config, rest: &[String]| -> Result<(), String> {
        let mut it = rest.iter();
        while let Some(arg) = it.next() {
            let pair = match arg.as_str() {
                "--set" => it.next().ok_or("--set needs key=value")?.as_str(),
                other => other
                    .strip_prefix("--set=")
                    .ok_or_else(|| format!("unexpected argument `{other}`\n{USAGE}"))?,
            };
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}`: expected key=value"))?;
            config.set(key, value).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match command.as_str() {
        "rules" => {
            settings(&mut config, rest)?;
            plugobs_cli::rules_yaml(&config).map_err(|e| e.to_string())
        }
        "dashboard" => {
            settings(&mut config, rest)?;
            plugobs_cli::dashboard_json(&config).map_err(|e| e.to_string())
        }
        "prometheus-config" => match rest {
            [target, rules] => Ok(plugobs_cli::prometheus_config(target, "15s", rules)),
            [target, rules, interval] => {
                Ok(plugobs_cli::prometheus_config(target, interval, rules))
            }
            _ => Err(USAGE.to_owned()),
        },
        "settings" => Ok(format!("{config}\n")),
        "-h" | "--help" | "help" => Ok(format!("{USAGE}\n")),
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("plugobs-cli: {e}");
            ExitCode::from(2)
        }
    }
}
