//! A plugin that misbehaves in the way its configuration's `mode` says, so that tests can
//! prove the host contains it. Mode `"ok"` behaves: it awards one point.

use std::hint::black_box;

use rulebox_sdk::prelude::*;

#[derive(serde::Deserialize)]
pub struct Config {
    pub mode: String,
}

/// The rule.
pub struct Hostile;

#[allow(unconditional_recursion)] // on purpose: it must overflow the stack
fn recurse(depth: u64) -> u64 {
    // black_box keeps the compiler from turning the recursion into a loop.
    black_box(recurse(black_box(depth + 1))) + 1
}

impl Rule for Hostile {
    fn describe() -> Description {
        Description::new("hostile", "0.1.0", "Misbehaves on purpose.")
            .handles(EventType::Purchase)
            .handles(EventType::SignUp)
            .handles(EventType::CheckIn)
    }

    fn on_event(ctx: &Context, event: &Event) -> Result<Vec<Effect>, RuleError> {
        let config: Config = ctx.config()?;
        // "from-event": the purchase's order id names the mode, so one installed version
        // can misbehave in every way.
        let mode = match (&event.kind, config.mode.as_str()) {
            (EventKind::Purchase(p), "from-event") => {
                p.order_id.split(':').next().unwrap_or_default().to_owned()
            }
            _ => config.mode,
        };
        match mode.as_str() {
            "ok" => Ok(vec![Effect::award(1, "well-behaved")]),
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(Vec::<u8>::with_capacity(1 << 20)));
                }
            }
            "huge-alloc" => {
                let big = black_box(vec![7u8; 1 << 30]);
                Ok(vec![Effect::award(big.len() as i64, "never")])
            }
            "recurse" => Ok(vec![Effect::award(recurse(0) as i64, "never")]),
            "huge-output" => Ok((0..20_000).map(|i| Effect::tag(format!("t{i}"))).collect()),
            "huge-string" => Ok(vec![Effect::tag("x".repeat(8 << 20))]),
            "panic" => panic!("hostile plugin panics on purpose"),
            "host-spam" => {
                let mut total = 0;
                for _ in 0..10_000_000 {
                    total += black_box(ctx.catalog()).len();
                }
                Ok(vec![Effect::award(total as i64, "never")])
            }
            "stdout" => {
                for i in 0..100_000 {
                    println!("hostile line {i}");
                }
                Ok(vec![Effect::award(1, "printed")])
            }
            "bad-effect" => Ok(vec![Effect::award(-50, "negative award")]),
            "rule-error" => Err(RuleError::internal("hostile plugin refuses")),
            "mirror" => Ok(vec![Effect::tag(format!(
                "hostile-saw-{}",
                ctx.member().points
            ))]),
            other => Err(RuleError::invalid_config(format!("unknown mode {other}"))),
        }
    }
}

export_rule!(Hostile);
