//! One coupon against one cart: is it usable, why (not), and what it takes off.

use std::rc::Rc;

use rulebox_sdk::time::{self, LocalTime, Weekday};
use rulebox_sdk::{Cart, CouponVerdict, HeldCoupon, MemberView, Money, RuleError, Timestamp};

use crate::config::{Discount, Rules, Template};

/// Reason given for every coupon when the cart has nothing in it.
pub const EMPTY_CART: &str = "cart is empty";
/// Reason given for a held coupon whose template the configuration does not know.
pub const UNKNOWN_TEMPLATE: &str = "unknown coupon template";

/// The cart, with each line's amount worked out once.
#[derive(Debug, Clone)]
pub struct PricedCart<'a> {
    pub cart: &'a Cart,
    /// `quantity × unit_price` of each line, in the cart's order.
    pub amounts: Vec<Money>,
    /// Sum of `amounts`.
    pub value: Money,
}

impl<'a> PricedCart<'a> {
    /// Prices every line; refuses negative prices and amounts that overflow.
    pub fn new(cart: &'a Cart) -> Result<Self, RuleError> {
        let mut amounts = Vec::with_capacity(cart.lines.len());
        let mut value: Money = 0;
        for (i, line) in cart.lines.iter().enumerate() {
            if line.unit_price < 0 {
                return Err(RuleError::invalid_input(format!(
                    "lines[{i}].unit_price is negative ({}); prices are minor units ≥ 0",
                    line.unit_price
                )));
            }
            let amount = line.amount().ok_or_else(|| {
                RuleError::invalid_input(format!("lines[{i}]: quantity × unit_price overflows"))
            })?;
            value = value.checked_add(amount).ok_or_else(|| {
                RuleError::invalid_input("the cart's total overflows 64 bits".to_owned())
            })?;
            amounts.push(amount);
        }
        Ok(PricedCart {
            cart,
            amounts,
            value,
        })
    }

    /// No lines, or no units on any line.
    pub fn is_empty(&self) -> bool {
        self.cart.lines.iter().all(|l| l.quantity == 0)
    }

    /// Indices of the lines `template` applies to (with at least one unit).
    pub fn covered_lines(&self, template: &Template) -> Vec<usize> {
        self.cart
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.quantity > 0 && template.covers(&l.product_id, &l.category))
            .map(|(i, _)| i)
            .collect()
    }

    /// Value of the lines at `indices`.
    pub fn value_of(&self, indices: &[usize]) -> Money {
        // Cannot overflow: a subset of lines whose full sum fits.
        indices.iter().map(|&i| self.amounts[i]).sum()
    }
}

/// Everything a verdict depends on besides the coupon.
pub struct Situation<'a> {
    pub rules: &'a Rules,
    pub member: &'a MemberView,
    pub cart: &'a PricedCart<'a>,
    /// The query time.
    pub at: Timestamp,
    /// The query time on the brand's wall clock.
    pub local: LocalTime,
    /// Per template (same index as `rules.templates`): the cart lines it covers and their
    /// value, worked out once per query however many coupons share the template.
    coverage: Vec<(Rc<[usize]>, Money)>,
}

/// A verdict, and for an eligible coupon the lines it covers (for stacking).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub verdict: CouponVerdict,
    pub stackable: bool,
    /// Cart lines the coupon's scope covers; empty unless eligible.
    pub covered: Rc<[usize]>,
}

/// A verdict that the coupon does not apply, for `reason`.
pub fn ineligible(coupon_id: &str, template_id: &str, held: bool, reason: &str) -> Judged {
    Judged {
        verdict: CouponVerdict {
            coupon_id: coupon_id.to_owned(),
            template_id: template_id.to_owned(),
            held,
            eligible: false,
            reason: reason.to_owned(),
            discount: 0,
        },
        stackable: false,
        covered: Rc::from([]),
    }
}

impl<'a> Situation<'a> {
    /// The situation of `member` with `cart` at `at`.
    pub fn new(
        rules: &'a Rules,
        member: &'a MemberView,
        cart: &'a PricedCart<'a>,
        at: Timestamp,
    ) -> Result<Self, RuleError> {
        let coverage = rules
            .templates
            .iter()
            .map(|t| {
                let covered = cart.covered_lines(t);
                let value = cart.value_of(&covered);
                (Rc::from(covered), value)
            })
            .collect();
        Ok(Situation {
            rules,
            member,
            cart,
            at,
            local: time::local(at, rules.utc_offset_minutes)?,
            coverage,
        })
    }

    /// Judges a coupon the member holds (`held`) or could claim (`None`) from the template
    /// at `index` in the configuration.
    pub fn judge(&self, index: usize, held: Option<&HeldCoupon>) -> Judged {
        let template = &self.rules.templates[index];
        let coupon_id = held.map_or(template.id.as_str(), |c| c.id.as_str());
        let uses = held.map_or(0, |c| c.uses);
        if let Some(coupon) = held
            && let Some(reason) = self.outside_validity(coupon)
        {
            return ineligible(coupon_id, &template.id, true, &reason);
        }
        let check = self
            .use_limit(template, uses)
            .or_else(|| self.who(template))
            .or_else(|| self.where_(template))
            .or_else(|| self.when(template));
        if let Some(reason) = check {
            return ineligible(coupon_id, &template.id, held.is_some(), &reason);
        }
        let (covered, eligible_value) = &self.coverage[index];
        let eligible_value = *eligible_value;
        if let Some(reason) = self.what(template, covered, eligible_value) {
            return ineligible(coupon_id, &template.id, held.is_some(), &reason);
        }
        let discount = discount_on(template, eligible_value, self.rules);
        let saving = money(&self.rules.currency_symbol, discount);
        let reason = if held.is_some() {
            format!("saves {saving} on this order")
        } else {
            format!("claim it to save {saving} on this order")
        };
        Judged {
            verdict: CouponVerdict {
                coupon_id: coupon_id.to_owned(),
                template_id: template.id.clone(),
                held: held.is_some(),
                eligible: true,
                reason,
                discount,
            },
            stackable: template.stackable,
            covered: Rc::clone(covered),
        }
    }

    /// A held coupon may be used from `valid_from` to `valid_until`, both inclusive.
    fn outside_validity(&self, coupon: &HeldCoupon) -> Option<String> {
        if self.at > coupon.valid_until {
            return Some("expired".to_owned());
        }
        if self.at < coupon.valid_from {
            return Some(
                match time::local(coupon.valid_from, self.rules.utc_offset_minutes) {
                    Ok(l) => format!(
                        "not valid yet: usable from {:04}-{:02}-{:02} {:02}:{:02}",
                        l.date.year, l.date.month, l.date.day, l.hour, l.minute
                    ),
                    Err(_) => "not valid yet".to_owned(),
                },
            );
        }
        None
    }

    fn use_limit(&self, template: &Template, uses: u32) -> Option<String> {
        let max = template.max_uses_per_member;
        (max > 0 && uses >= max).then(|| format!("already used {uses} of {max} times"))
    }

    /// Conditions on the member.
    fn who(&self, template: &Template) -> Option<String> {
        let member = self.member;
        if !template.tiers.is_empty() && !template.tiers.contains(&member.tier) {
            return Some(format!("only for {} members", join_or(&template.tiers)));
        }
        if !template.tags.is_empty() && !template.tags.iter().any(|t| member.has_tag(t)) {
            return Some("only for selected members".to_owned());
        }
        if template.new_member_only && member.lifetime.orders > 0 {
            return Some("only for new members".to_owned());
        }
        if template.birthday_month_only {
            match &member.birth_date {
                None => {
                    return Some(
                        "only in your birthday month; add your birth date to your profile"
                            .to_owned(),
                    );
                }
                Some(birth) if birth.month != self.local.date.month => {
                    return Some("only in your birthday month".to_owned());
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Conditions on the store.
    fn where_(&self, template: &Template) -> Option<String> {
        (!template.stores.is_empty() && !template.stores.contains(&self.cart.cart.store_id))
            .then(|| "not valid at this store".to_owned())
    }

    /// Conditions on the local day and hour.
    fn when(&self, template: &Template) -> Option<String> {
        if !template.valid_weekdays.is_empty()
            && !template.valid_weekdays.contains(&self.local.weekday)
        {
            let days: Vec<&str> = template.valid_weekdays.iter().map(weekday_name).collect();
            return Some(format!("only valid on {}", days.join(", ")));
        }
        if let Some(hours) = template.valid_hours
            && !hours.contains(self.local.minute_of_day())
        {
            return Some(format!("valid {:02}:00–{:02}:00", hours.from, hours.until));
        }
        None
    }

    /// Conditions on the cart: something in scope, and the minimum spend on it.
    fn what(
        &self,
        template: &Template,
        covered: &[usize],
        eligible_value: Money,
    ) -> Option<String> {
        let scope = scope_text(template);
        if covered.is_empty() && template.min_spend == 0 {
            // Only possible for a scoped template: an unscoped one covers every line.
            return Some(format!(
                "add {} to your cart to use this",
                scope.as_deref().unwrap_or("something")
            ));
        }
        if eligible_value < template.min_spend {
            let more = money(
                &self.rules.currency_symbol,
                template.min_spend - eligible_value,
            );
            return Some(match scope {
                Some(scope) => format!("spend {more} more on {scope} to use this"),
                None => format!("spend {more} more to use this"),
            });
        }
        None
    }
}

/// What `template` takes off lines worth `eligible_value`: never more than that value.
pub fn discount_on(template: &Template, eligible_value: Money, rules: &Rules) -> Money {
    let raw = match template.discount {
        Discount::AmountOff(amount) => amount,
        Discount::PercentOff {
            percent,
            max_discount,
        } => {
            let off = rules
                .percent_rounding
                .divide(i128::from(eligible_value) * i128::from(percent), 100);
            // percent <= 100, so `off` is at most `eligible_value` (plus one for rounding up
            // a fraction, which the clamp below removes) and fits in 64 bits.
            let off = Money::try_from(off).unwrap_or(eligible_value);
            max_discount.map_or(off, |cap| off.min(cap))
        }
    };
    raw.clamp(0, eligible_value.max(0))
}

/// `1234` → `"¥12.34"` (two decimal places of minor units).
pub fn money(symbol: &str, amount: Money) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{symbol}{}.{:02}", abs / 100, abs % 100)
}

/// What a scoped template applies to, in words: "fruit tea or milk tea", "selected products".
fn scope_text(template: &Template) -> Option<String> {
    if !template.is_scoped() {
        return None;
    }
    let mut parts: Vec<String> = template
        .categories
        .iter()
        .map(|c| c.replace(['-', '_'], " "))
        .collect();
    if !template.products.is_empty() {
        parts.push("selected products".to_owned());
    }
    Some(join_or(&parts))
}

/// "a", "a or b", "a, b or c".
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn weekday_name(day: &Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}
