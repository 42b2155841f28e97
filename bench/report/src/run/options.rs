//! The command line of `bench-report run`: `--quick`, `--smoke`, `--merge`,
//! `--no-rerun`, `--no-nice`, `--servers a,b`, `--scenarios a,b` (or `--only a,b`; `cluster` and `forwarding` are two).

pub struct Opts {
    pub quick: bool,
    pub smoke: bool,
    pub servers: Option<Vec<String>>,
    pub scenarios: Option<Vec<String>>,
    pub merge: bool,
    pub rerun: bool,
    pub no_nice: bool,
}

pub fn parse(args: &[String]) -> Opts {
    let mut o = Opts {
        quick: false,
        smoke: false,
        servers: None,
        scenarios: None,
        merge: false,
        rerun: true,
        no_nice: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let list = |v: Option<&String>| v.map(|s| s.split(',').map(str::to_owned).collect());
        match a.as_str() {
            "--quick" => o.quick = true,
            "--smoke" => o.smoke = true,
            "--merge" => o.merge = true,
            "--no-rerun" => o.rerun = false,
            "--no-nice" => o.no_nice = true,
            "--servers" => o.servers = list(it.next()),
            "--scenarios" | "--only" => o.scenarios = list(it.next()),
            other => eprintln!("bench-report run: ignoring unknown option {other}"),
        }
    }
    o
}
