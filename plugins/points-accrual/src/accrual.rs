//! Points for a purchase: the amount paid, spread over the lines, at the configured rate and
//! multipliers, rounded once.
//!
//! For lines of value `vᵢ = quantity × unit_price` (total `V = Σ vᵢ`) with line multipliers
//! `mᵢ`, tier multiplier `t`, campaign multiplier `c` (all in percent) and a rate of `p`
//! points per `q` minor units, a purchase that paid `paid` earns
//!
//! ```text
//! round( paid × Σ(vᵢ × mᵢ) / V / 100 × t / 100 × c / 100 × p / q )
//! ```
//!
//! i.e. each line earns on its share `paid × vᵢ / V` of the amount paid, so a discount
//! lowers every line's earning in proportion. All of it is computed exactly in 128-bit
//! integers and rounded once at the end; an overflow is an error. An order whose lines are
//! worth nothing (or has no lines) earns on `paid` at 100%.

use rulebox_sdk::prelude::*;
use rulebox_sdk::time::LocalTime;
use rulebox_sdk::{LineItem, Purchase};

use crate::config::Config;

/// The base points of one purchase and the reason shown for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accrual {
    pub points: Points,
    pub reason: String,
}

/// The base accrual of `purchase` by a member of `tier` at `at` (local time `local`).
pub fn purchase_points(
    config: &Config,
    tier: &str,
    purchase: &Purchase,
    at: Timestamp,
    local: &LocalTime,
) -> Result<Accrual, RuleError> {
    let order = &purchase.order_id;
    if purchase.paid < 0 {
        return Err(RuleError::invalid_input(format!(
            "order {order}: paid is negative ({})",
            purchase.paid
        )));
    }
    let overflow = || RuleError::internal(format!("order {order}: points overflow"));
    let mul = |a: i128, b: i128| a.checked_mul(b).ok_or_else(overflow);

    // Σ vᵢ and Σ vᵢ × mᵢ, plus the line multipliers worth naming in the reason.
    let mut value: i128 = 0;
    let mut weighted: i128 = 0;
    let mut line_labels: Vec<String> = Vec::new();
    for line in &purchase.lines {
        let v = line_value(order, line)?;
        let (percent, label) = config.line_percent(&line.product_id, &line.category);
        value = value.checked_add(i128::from(v)).ok_or_else(overflow)?;
        weighted = weighted
            .checked_add(mul(i128::from(v), i128::from(percent))?)
            .ok_or_else(overflow)?;
        if let Some(label) = label
            && percent != 100
            && v > 0
        {
            let label = format!("{label} ×{}", decimal(percent));
            if !line_labels.contains(&label) {
                line_labels.push(label);
            }
        }
    }
    if value == 0 {
        // Nothing to spread over: earn on what was paid at the normal line rate.
        value = 1;
        weighted = 100;
        line_labels.clear();
    }

    let tier_percent = config.tier_percent(tier);
    let campaign = config.best_campaign(at, local);
    let campaign_percent = campaign.map_or(100, |c| c.multiplier);

    let mut numerator = mul(i128::from(purchase.paid), weighted)?;
    for factor in [tier_percent, campaign_percent, config.rate.points] {
        numerator = mul(numerator, i128::from(factor))?;
    }
    let denominator = mul(mul(value, 1_000_000)?, i128::from(config.rate.per))?;
    let points =
        Points::try_from(config.rounding.divide(numerator, denominator)).map_err(|_| overflow())?;

    let mut reason = format!(
        "purchase {order}: {}pt/{}{}",
        config.rate.points,
        config.currency_symbol,
        decimal(config.rate.per)
    );
    if tier_percent != 100 {
        reason.push_str(&format!(" ×{} {tier}", decimal(tier_percent)));
    }
    if let Some(campaign) = campaign {
        reason.push_str(&format!(
            " ×{} {}",
            decimal(campaign.multiplier),
            campaign.name
        ));
    }
    if !line_labels.is_empty() {
        reason.push_str(&format!(" ({})", line_labels.join(", ")));
    }
    // Leave room for the daily-cap note, so that it is never the part cut off.
    let reason = crate::shorten(reason, rulebox_sdk::limits::MAX_TEXT_BYTES - 128);
    Ok(Accrual { points, reason })
}

/// `quantity × unit_price` of a line, refusing negative prices and overflow.
fn line_value(order: &str, line: &LineItem) -> Result<Money, RuleError> {
    if line.unit_price < 0 {
        return Err(RuleError::invalid_input(format!(
            "order {order}: line {} has a negative unit price ({})",
            line.product_id, line.unit_price
        )));
    }
    line.amount().ok_or_else(|| {
        RuleError::invalid_input(format!(
            "order {order}: line {} value overflows ({} × {})",
            line.product_id, line.quantity, line.unit_price
        ))
    })
}

/// Hundredths as a short decimal: 150 → "1.5", 200 → "2", 105 → "1.05". Used for percent
/// multipliers (150% → "×1.5") and for money in major units (150 fen → "1.5").
pub fn decimal(hundredths: i64) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    let abs = hundredths.unsigned_abs();
    let (whole, fraction) = (abs / 100, abs % 100);
    match fraction {
        0 => format!("{sign}{whole}"),
        f if f % 10 == 0 => format!("{sign}{whole}.{}", f / 10),
        f => format!("{sign}{whole}.{f:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimals_are_short() {
        assert_eq!(decimal(100), "1");
        assert_eq!(decimal(150), "1.5");
        assert_eq!(decimal(105), "1.05");
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(50), "0.5");
        assert_eq!(decimal(1000), "10");
        assert_eq!(decimal(-250), "-2.5");
    }
}
