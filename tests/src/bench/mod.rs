//! The benchmark suite behind `rulebox-bench` (issue 6): plugin calls native vs sandboxed,
//! the event pipeline in process with sandboxed and native rules, ingestion over HTTP, and
//! how cost grows with members, chain length and brands. Every experiment returns [`Row`]s;
//! the binary prints them as a table and writes them as CSV.

pub mod calls;
pub mod http;
pub mod native;
#[cfg(feature = "peers")]
pub mod peers;
pub mod pipeline;
pub mod scale;
pub mod work;

use std::fmt::Write as _;
use std::time::Duration;

/// How long to run.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// A smoke run of a few seconds: tiny sizes, few iterations. Its figures mean nothing.
    pub quick: bool,
}

impl Opts {
    /// `full` normally, `quick` in a smoke run.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// One line of results.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// `call`, `pipeline`, `http`, `scale`.
    pub experiment: &'static str,
    /// What was measured (plugin, thread count, member count…).
    pub case: String,
    /// How (native, sandboxed…).
    pub variant: String,
    /// Samples (calls, events, requests) behind the figures.
    pub samples: usize,
    pub median_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Events (or calls) per second.
    pub per_s: Option<f64>,
    /// Ratio to the baseline named in `note` (e.g. sandboxed / native).
    pub ratio: Option<f64>,
    /// Any other figure, in words.
    pub note: String,
}

/// How long `call` takes (its result kept from being optimised away, then dropped).
pub fn elapsed<T>(call: impl FnOnce() -> T) -> Duration {
    let started = std::time::Instant::now();
    std::hint::black_box(call());
    started.elapsed()
}

/// Median and 99th percentile of a set of durations, in microseconds.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

fn fmt(value: Option<f64>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.is_nan() => "nan".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "experiment",
        "case",
        "variant",
        "n",
        "median µs",
        "p99 µs",
        "per s",
        "ratio",
        "note",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.experiment.to_owned(),
                r.case.clone(),
                r.variant.clone(),
                r.samples.to_string(),
                fmt(r.median_us),
                fmt(r.p99_us),
                fmt(r.per_s),
                fmt(r.ratio),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        for (i, (w, c)) in widths.iter().zip(row).enumerate() {
            let pad = w - c.chars().count();
            if (3..8).contains(&i) {
                let _ = write!(out, "{}{c}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{c}{}  ", " ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut out, &header.map(str::to_owned));
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// The rows as CSV (RFC 4180 quoting).
pub fn csv(rows: &[Row]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let num = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    let mut out =
        String::from("experiment,case,variant,samples,median_us,p99_us,per_s,ratio,note\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            r.experiment,
            quote(&r.case),
            quote(&r.variant),
            r.samples,
            num(r.median_us),
            num(r.p99_us),
            num(r.per_s),
            num(r.ratio),
            quote(&r.note)
        );
    }
    out
}

/// The process's resident memory (VmRSS) in bytes, if `/proc` has it.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS")
}

/// The part of the resident memory that is mapped files (`RssFile`): for a host, mostly
/// compiled plugins mapped from the compile cache, clean pages the kernel can drop and
/// read back.
pub fn rss_file_bytes() -> Option<u64> {
    status_bytes("RssFile")
}

/// A `/proc/self/status` field given in kB, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The 1-minute load average, for the record.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
