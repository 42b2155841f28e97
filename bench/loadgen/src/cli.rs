//! The command line: `SCENARIO --key value ...`, read into [`Args`], and
//! typed look-ups with defaults.

use std::collections::HashMap;

pub type Args = HashMap<String, String>;

/// The scenario name (the first argument) and the `--key value` pairs after it.
pub fn parse(mut argv: impl Iterator<Item = String>) -> (String, Args) {
    let scenario = argv.next().unwrap_or_default();
    let mut args = Args::new();
    let rest: Vec<String> = argv.collect();
    let mut i = 0;
    while i < rest.len() {
        let key = rest[i].trim_start_matches("--").to_owned();
        let value = rest.get(i + 1).cloned().unwrap_or_default();
        args.insert(key, value);
        i += 2;
    }
    (scenario, args)
}

pub fn arg<T: std::str::FromStr>(args: &Args, key: &str, default: T) -> T {
    args.get(key)
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("bad value for --{key}: {v}"))
        })
        .unwrap_or(default)
}

pub fn list(args: &Args, key: &str, default: &str) -> Vec<usize> {
    args.get(key)
        .map(String::as_str)
        .unwrap_or(default)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a list of numbers"))
        .collect()
}
