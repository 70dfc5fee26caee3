//! The journey as a story on the terminal.

use std::collections::HashMap;
use std::io::Write;

use super::{Outcome, Step};
use rulebox_engine::pipeline::EventOutcome;
use rulebox_world::{Answer, Effect};

/// Writes every step: what happened, which rule decided it, and where the member stands.
pub fn print(
    out: &mut impl Write,
    steps: &[Step],
    names: &HashMap<String, String>,
) -> std::io::Result<()> {
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    for step in steps {
        writeln!(out, "\n▶ {}", step.title)?;
        match &step.outcome {
            Outcome::Event(outcome) | Outcome::Sweep(outcome) => event(out, outcome)?,
            Outcome::Query(outcome) => {
                for answer in &outcome.answers {
                    match &answer.answer {
                        Answer::CouponEligibility(coupons) => {
                            for v in &coupons.verdicts {
                                let mark = if v.eligible { "✓" } else { "✗" };
                                let held = if v.held { "held" } else { "claimable" };
                                writeln!(
                                    out,
                                    "  {mark} {:<16} {:>7} ({held}) — {}",
                                    v.coupon_id,
                                    yuan(v.discount),
                                    v.reason
                                )?;
                            }
                            writeln!(
                                out,
                                "  best: {} saving {}",
                                coupons.best_combination.join(" + "),
                                yuan(coupons.best_discount)
                            )?;
                        }
                        Answer::Recommendation(recs) => {
                            for (i, item) in recs.items.iter().enumerate() {
                                writeln!(
                                    out,
                                    "  {}. {} at {} (score {:.1}) — {}",
                                    i + 1,
                                    name(&item.product_id),
                                    name(&item.store_id),
                                    item.score,
                                    item.reason
                                )?;
                            }
                            for note in &recs.notes {
                                writeln!(out, "  note: {note}")?;
                            }
                        }
                    }
                }
                for failure in &outcome.failures {
                    writeln!(out, "  ! {failure}")?;
                }
            }
        }
    }
    Ok(())
}

fn event(out: &mut impl Write, outcome: &EventOutcome) -> std::io::Result<()> {
    for applied in &outcome.effects {
        let who = format!("{} {}", applied.plugin, applied.version);
        let line = match &applied.effect {
            Effect::AwardPoints(a) => format!("+{} points — {}", a.amount, a.reason),
            Effect::DeductPoints(d) => format!("-{} points — {}", d.amount, d.reason),
            Effect::SetTier(t) => format!("tier → {} — {}", t.tier, t.reason),
            Effect::IssueCoupon(c) => format!("coupon {} issued", c.template_id),
            Effect::AddTag(t) => format!("tag +{t}"),
            Effect::RemoveTag(t) => format!("tag -{t}"),
            Effect::SetAttribute(a) => format!("{} = {}", a.key, a.value),
            Effect::Notify(n) => format!("notify via {}: {}", n.channel, n.template),
        };
        writeln!(out, "  {line:<90} [{who}, {}]", applied.member_id)?;
    }
    for note in &outcome.notes {
        writeln!(out, "  host: {note}")?;
    }
    for failure in &outcome.failures {
        writeln!(out, "  ! {failure}")?;
    }
    for member in &outcome.members {
        writeln!(
            out,
            "  = {}: {} points, tier {}",
            member.id, member.points, member.tier
        )?;
    }
    Ok(())
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}
