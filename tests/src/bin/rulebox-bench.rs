//! `rulebox-bench`: the benchmark suite of issue 6. Prints a table and optionally writes
//! CSV.
//!
//! ```sh
//! cargo run --release -p rulebox-tests --bin rulebox-bench -- --csv bench.csv
//! cargo run -p rulebox-tests --bin rulebox-bench -- --quick     # smoke run, a few seconds
//! ```
//!
//! `--only call,pipeline,http,scale,brands-own,work` runs a subset (`brands-own`, minutes
//! long, runs only when named). Built with `--features peers`, the
//! suite also runs `peers` (zen-engine and Extism on the points-accrual rule).

use std::time::Instant;

use rulebox_tests::bench::scale::Configs;
use rulebox_tests::bench::{self, Opts, Row};

/// The allocator the `rulebox` binary uses, so the figures are production's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut csv, mut only) = (false, None, None::<Vec<String>>);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--csv" => {
                csv = Some(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--csv needs a path"))?,
                )
            }
            "--only" => {
                let list = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--only needs a list"))?;
                only = Some(list.split(',').map(str::to_owned).collect());
            }
            "-h" | "--help" => {
                println!(
                    "rulebox-bench [--quick] [--csv PATH] [--only call,peers,pipeline,http,scale,brands-own,work]"
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; see --help"),
        }
    }
    let opts = Opts { quick };
    #[cfg(not(feature = "peers"))]
    if only
        .as_ref()
        .is_some_and(|o| o.iter().any(|x| x == "peers"))
    {
        anyhow::bail!("peers: build with --features peers (zen-engine, Extism)");
    }
    // `brands-own` compiles an artefact per brand and plugin (minutes): only when named,
    // or in the smoke run, whose sizes are tiny.
    let wanted = |name: &str| match &only {
        Some(only) => only.iter().any(|x| x == name),
        None => name != "brands-own" || quick,
    };
    let started = Instant::now();
    eprintln!(
        "rulebox-bench{}: {} build, load average {} at start",
        if quick {
            " --quick (smoke run: figures mean nothing)"
        } else {
            ""
        },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        bench::load_average()
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut() -> anyhow::Result<Vec<Row>>| {
        if !wanted(name) {
            return Ok::<_, anyhow::Error>(());
        }
        let t = Instant::now();
        let new = f()?;
        eprintln!(
            "{name}: {} rows in {:.1} s (load average {})",
            new.len(),
            t.elapsed().as_secs_f64(),
            bench::load_average()
        );
        rows.extend(new);
        Ok(())
    };
    // Brands first: resident memory is measured while the process is still small.
    step("scale", &mut || bench::scale::brands(opts, Configs::Same))?;
    step("brands-own", &mut || {
        bench::scale::brands(opts, Configs::OwnPerBrand)
    })?;
    step("call", &mut || bench::calls::run(opts))?;
    #[cfg(feature = "peers")]
    step("peers", &mut || bench::peers::run(opts))?;
    let compiled = bench::pipeline::compiled_cache()?;
    step("pipeline", &mut || {
        bench::pipeline::run(opts, compiled.path())
    })?;
    step("http", &mut || bench::http::run(opts, compiled.path()))?;
    step("scale", &mut || bench::scale::run(opts, compiled.path()))?;
    step("work", &mut || bench::work::run(opts, compiled.path()))?;
    print!("{}", bench::table(&rows));
    eprintln!(
        "total {:.1} s, load average {} at the end",
        started.elapsed().as_secs_f64(),
        bench::load_average()
    );
    if let Some(path) = csv {
        std::fs::write(&path, bench::csv(&rows))?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
