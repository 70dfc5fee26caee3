//! Experiment 5: how cost grows. Cost per event against the number of members and the
//! number of plugins in the brand's chain, 1 to 20 (sandboxed, durable, 2 client threads); resident
//! memory with N brands × 4 plugins; the time from installing a plugin to its first
//! evaluation; the restart time of a host with every brand's plugins in the compile cache.

use std::path::Path;
use std::time::{Duration, Instant};

use rulebox_cli::demo::data::{self, BRAND};
use rulebox_engine::Rulebox;
use rulebox_engine::registry::Manifest;
use rulebox_world::{Event, EventKind, Visit};

use super::pipeline::{Load, Storage, install_adjusted, measure, measure_on, open_demo, row};
use super::{Opts, Row, percentiles, rss_bytes, rss_file_bytes};

const MIB: f64 = 1024.0 * 1024.0;

/// Cost per event against members.
fn members(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut base = None;
    for members in opts.pick(vec![1_000, 10_000, 100_000, 1_000_000], vec![100, 1_000]) {
        let started = Instant::now();
        let mut run = measure(
            Some(compiled),
            members,
            None,
            None,
            Storage::Durable,
            Load::single(2),
            opts.pick(6_000, 200),
        )?;
        let loaded = started.elapsed();
        let mut r = row(
            "scale",
            format!("{members} members"),
            "sandboxed, 2 threads",
            &mut run,
        );
        let per_event = 1e6 / run.per_s();
        r.ratio = Some(per_event / *base.get_or_insert(per_event));
        r.note.push_str(&format!(
            "; {per_event:.1} µs/event (1/throughput); ratio = µs/event ÷ first row's; setup+run {:.1} s",
            loaded.as_secs_f64()
        ));
        rows.push(r);
    }
    Ok(rows)
}

/// Cost per event against the plugins in the chain: 1 to 20 distinct points rules, all
/// run on every purchase, sign-up and check-in.
fn chain(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut base = None;
    let members = opts.pick(10_000, 300);
    for plugins in opts.pick(vec![1, 5, 10, 20], vec![1, 3]) {
        let dir = tempfile::tempdir()?;
        let rb = open_demo(
            dir.path(),
            Some(compiled),
            members,
            Some(&[]),
            None,
            Storage::Durable,
        )?;
        install_points_rules(&rb, plugins)?;
        let mut run = measure_on(&rb, members, Load::single(2), opts.pick(6_000, 200));
        let mut r = row(
            "scale",
            format!("{plugins} plugins in the chain"),
            "sandboxed, 2 threads",
            &mut run,
        );
        let per_event = 1e6 / run.per_s();
        r.ratio = Some(per_event / *base.get_or_insert(per_event));
        r.note.push_str(&format!(
            "; {per_event:.1} µs/event (1/throughput); ratio = µs/event ÷ first row's"
        ));
        rows.push(r);
    }
    Ok(rows)
}

/// Installs `count` distinct points rules for the demo brand: copies of the
/// points-accrual component whose name (`points-accru00`, `points-accru01`…, as long as
/// the original so nothing else in the binary moves) is rewritten in its bytes. Each is a
/// separate component to the host, compiled and cached on its own, as 20 brands' rules
/// would be; there are not 20 example rules to install instead.
fn install_points_rules(rb: &Rulebox, count: usize) -> anyhow::Result<()> {
    const NAME: &[u8] = b"points-accrual";
    let original = rulebox_cli::examples::example("points-accrual")
        .ok_or_else(|| anyhow::anyhow!("points-accrual is not built in"))?;
    let manifests: Vec<Manifest> = serde_json::from_str(rulebox_cli::demo::MANIFESTS)?;
    let template = manifests
        .into_iter()
        .find(|m| m.name == "points-accrual")
        .ok_or_else(|| anyhow::anyhow!("the demo manifests have no points-accrual"))?;
    for i in 0..count {
        let name = format!("points-accru{i:02}");
        let mut wasm = original.to_vec();
        let mut at = 0;
        while let Some(found) = wasm[at..].windows(NAME.len()).position(|w| w == NAME) {
            wasm[at + found..at + found + NAME.len()].copy_from_slice(name.as_bytes());
            at += found + NAME.len();
        }
        let manifest = Manifest {
            name: name.clone(),
            order: i as i32,
            ..template.clone()
        };
        rb.registry().install(manifest, &wasm)?;
        rb.registry().activate(BRAND, &name, &template.version)?;
    }
    Ok(())
}

fn check_in(brand: &str, member: &str, id: &str) -> Event {
    Event {
        id: id.into(),
        brand: brand.into(),
        member_id: member.into(),
        occurred_at: data::DEMO_EPOCH + 86_400_000,
        kind: EventKind::CheckIn(Visit {
            location: None,
            store_id: None,
        }),
    }
}

/// How the brands of [`brands`] configure the demo plugins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Configs {
    /// All with the demo brand's configurations: plugins loaded from the same artefacts,
    /// which share their compiled code (a platform's stock rules).
    Same,
    /// Each brand with configurations of its own (its time zone in every plugin): a
    /// snapshot, and so a compiled artefact, per brand and plugin.
    OwnPerBrand,
}

impl Configs {
    fn label(self) -> &'static str {
        match self {
            Configs::Same => "same configurations",
            Configs::OwnPerBrand => "configurations of their own",
        }
    }
}

/// Brands × 4 plugins: resident memory, upload to first evaluation, restart.
pub fn brands(opts: Opts, configs: Configs) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    // A configuration per brand costs a compile per plugin and brand: the 200 brands of the
    // memory bar take about 4 minutes (docs/benchmarks/runs/12.md).
    let steps = match configs {
        // 250 brands × 4 = 1,000 plugins for the restart figure.
        Configs::Same => opts.pick(vec![1, 10, 50, 200, 250], vec![1, 3]),
        Configs::OwnPerBrand => opts.pick(vec![1, 10, 50, 200], vec![1, 3]),
    };
    let total = *steps.last().expect("steps");
    let (mut first_eval, mut installs) = (Vec::new(), 0);
    {
        let rb = Rulebox::open(dir.path())?;
        let before = rss_bytes().unwrap_or(0);
        let mut done = 0;
        for &target in &steps {
            while done < target {
                let brand = format!("b-{done:04}");
                let mut demo = data::generate(data::DEMO_EPOCH as u64 ^ done as u64, 0).brand;
                demo.id = brand.clone();
                rb.put_brand(&demo)?;
                rb.put_member(
                    &brand,
                    rulebox_store::model::MemberProfile {
                        id: "m-1".into(),
                        ..Default::default()
                    },
                )?;
                let started = Instant::now();
                // Time zones 480 minutes east and less: one per brand, all valid.
                let offset = 480 - done as i64;
                install_adjusted(&rb, &brand, None, |manifest| {
                    if configs == Configs::OwnPerBrand {
                        manifest.config["utc_offset_minutes"] = offset.into();
                    }
                })?;
                rb.ingest(check_in(&brand, "m-1", "first"))?;
                first_eval.push(started.elapsed());
                installs += 4;
                done += 1;
            }
            let rss = rss_bytes().unwrap_or(0);
            rows.push(Row {
                experiment: "scale",
                case: format!("{target} brands × 4 plugins, {}", configs.label()),
                variant: "resident memory".into(),
                samples: target * 4,
                note: format!(
                    "VmRSS {:.0} MiB ({:.0} MiB above the host at the experiment's start; \
                     {:.2} MiB per brand), of which mapped files {:.0} MiB; {} compiled \
                     components resident",
                    rss as f64 / MIB,
                    (rss.saturating_sub(before)) as f64 / MIB,
                    rss.saturating_sub(before) as f64 / MIB / target as f64,
                    rss_file_bytes().unwrap_or(0) as f64 / MIB,
                    rb.sandbox().resident_components()
                ),
                ..Row::default()
            });
        }
    }
    let first = first_eval[0];
    let mut later: Vec<Duration> = first_eval[1..].to_vec();
    let (l50, l99) = percentiles(&mut later);
    let install_case = format!(
        "install 4 plugins + activate + first event, {}",
        configs.label()
    );
    rows.push(Row {
        experiment: "scale",
        case: install_case.clone(),
        variant: "first brand (compiles)".into(),
        samples: 1,
        median_us: Some(first.as_secs_f64() * 1e6),
        note: "in process (no HTTP); includes 4 flushes of the registry".into(),
        ..Row::default()
    });
    if !later.is_empty() {
        rows.push(Row {
            experiment: "scale",
            case: install_case,
            variant: match configs {
                Configs::Same => "later brands (same artefacts: already in memory)",
                Configs::OwnPerBrand => {
                    "later brands (same bytes, new configuration: init + compile)"
                }
            }
            .into(),
            samples: later.len(),
            median_us: Some(l50),
            p99_us: Some(l99),
            note: "in process (no HTTP)".into(),
            ..Row::default()
        });
    }
    let started = Instant::now();
    let rb = Rulebox::open(dir.path())?;
    let opened = started.elapsed();
    rb.ingest(check_in(
        &format!("b-{:04}", total - 1),
        "m-1",
        "after-restart",
    ))?;
    let first_event = started.elapsed();
    rows.push(Row {
        experiment: "scale",
        case: format!(
            "restart with {installs} cached plugins ({total} brands, {})",
            configs.label()
        ),
        variant: "Rulebox::open".into(),
        samples: 1,
        median_us: Some(opened.as_secs_f64() * 1e6),
        note: format!(
            "{:.0} ms to open, {:.0} ms to the first event; VmRSS after {:.0} MiB",
            opened.as_secs_f64() * 1e3,
            first_event.as_secs_f64() * 1e3,
            rss_bytes().unwrap_or(0) as f64 / MIB
        ),
        ..Row::default()
    });
    Ok(rows)
}

/// Runs experiment 5 but [`brands`] (which the binary runs first, while the process is
/// still small).
pub fn run(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = members(opts, compiled)?;
    rows.extend(chain(opts, compiled)?);
    Ok(rows)
}
