//! The best combination of eligible coupons under the stacking rules.
//!
//! A combination is either exactly one exclusive (non-stackable) coupon alone, or any set of
//! stackable coupons with at most one coupon per template. A set's total is the sum of its
//! coupons' discounts, capped at the value of the cart lines the set's coupons cover (for a
//! set with a whole-cart coupon, the cart value): two coupons for fruit tea never take more
//! off than the fruit tea costs.
//!
//! The best combination has the largest total; ties go to fewer coupons, then to the
//! lexicographically smaller list of sorted coupon ids. The search is exhaustive over the
//! [`MAX_STACKABLE`] most valuable stackable coupons (ties by id): at most 4096 sets, priced
//! in constant time each after a subset-sum transform over which lines each coupon covers.
//! Every exclusive coupon is considered on its own.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rulebox_sdk::Money;

use crate::verdict::Judged;

/// Most stackable coupons the exhaustive search considers (2^12 = 4096 sets).
pub const MAX_STACKABLE: usize = 12;

/// The chosen coupons, sorted by id, and their total discount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Best {
    pub coupon_ids: Vec<String>,
    pub total: Money,
}

/// One coupon that may enter a combination.
#[derive(Debug, Clone)]
struct Candidate<'a> {
    id: &'a str,
    discount: Money,
    covered: &'a [usize],
}

/// Picks the best combination among the eligible verdicts in `judged`. `amounts` are the
/// cart lines' values, indexed as in [`Judged::covered`].
pub fn best_combination(judged: &[Judged], amounts: &[Money]) -> Best {
    // One coupon per template: all eligible coupons of a template take the same amount off
    // the same cart, so the one with the smallest id represents it (best for the tie-break).
    let mut per_template: BTreeMap<&str, &Judged> = BTreeMap::new();
    for j in judged
        .iter()
        .filter(|j| j.verdict.eligible && j.verdict.discount > 0)
    {
        per_template
            .entry(&j.verdict.template_id)
            .and_modify(|kept| {
                if j.verdict.coupon_id < kept.verdict.coupon_id {
                    *kept = j;
                }
            })
            .or_insert(j);
    }
    let (stackable, exclusive): (Vec<&Judged>, Vec<&Judged>) =
        per_template.into_values().partition(|j| j.stackable);

    let mut best = Choice::none();
    for j in exclusive {
        best.consider(Choice {
            total: i128::from(j.verdict.discount),
            ids: vec![&j.verdict.coupon_id],
        });
    }

    let mut candidates: Vec<Candidate> = stackable
        .iter()
        .map(|j| Candidate {
            id: &j.verdict.coupon_id,
            discount: j.verdict.discount,
            covered: &j.covered,
        })
        .collect();
    candidates.sort_by(|a, b| b.discount.cmp(&a.discount).then_with(|| a.id.cmp(b.id)));
    candidates.truncate(MAX_STACKABLE);
    // Bit i of a set stands for the i-th smallest id, so comparing sets' bits in order
    // compares their sorted id lists.
    candidates.sort_by(|a, b| a.id.cmp(b.id));
    search_stackable(&candidates, amounts, &mut best);

    Best {
        coupon_ids: best.ids.iter().map(|id| (*id).to_owned()).collect(),
        total: Money::try_from(best.total).expect("a total is capped at the cart value"),
    }
}

/// A combination being compared: its total and its coupon ids, sorted.
struct Choice<'a> {
    total: i128,
    ids: Vec<&'a str>,
}

impl<'a> Choice<'a> {
    fn none() -> Self {
        Choice {
            total: 0,
            ids: Vec::new(),
        }
    }

    /// Larger total, then fewer coupons, then smaller sorted ids.
    fn cmp_preference(&self, other: &Choice) -> Ordering {
        other
            .total
            .cmp(&self.total)
            .then_with(|| self.ids.len().cmp(&other.ids.len()))
            .then_with(|| self.ids.cmp(&other.ids))
    }

    fn consider(&mut self, other: Choice<'a>) {
        if other.cmp_preference(self) == Ordering::Less {
            *self = other;
        }
    }
}

/// Every non-empty set of `candidates` (sorted by id, at most [`MAX_STACKABLE`]).
fn search_stackable<'a>(candidates: &[Candidate<'a>], amounts: &[Money], best: &mut Choice<'a>) {
    let n = candidates.len();
    if n == 0 {
        return;
    }
    debug_assert!(n <= MAX_STACKABLE);
    let full = (1usize << n) - 1;

    // uncovered[m]: value of the lines that no candidate outside `m` covers, i.e. whose
    // covering set is a subset of `m` (a subset-sum "zeta" transform). The lines a set `s`
    // covers are then worth `cart - uncovered[full ^ s]`. Every value is at most the cart's,
    // whose sum was checked not to overflow; sums of discounts saturate, which the `min`
    // with the covered value makes harmless.
    let mut uncovered = vec![0 as Money; full + 1];
    let mut signature = vec![0usize; amounts.len()];
    for (bit, c) in candidates.iter().enumerate() {
        for &line in c.covered {
            signature[line] |= 1 << bit;
        }
    }
    for (line, &sig) in signature.iter().enumerate() {
        uncovered[sig] += amounts[line];
    }
    for bit in 0..n {
        let half = 1usize << bit;
        for block in uncovered.chunks_exact_mut(half * 2) {
            let (without, with) = block.split_at_mut(half);
            for (w, wo) in with.iter_mut().zip(without.iter()) {
                *w += *wo;
            }
        }
    }
    let cart: Money = uncovered[full];

    // sums[s]: sum of the discounts in `s`, built from `s` without its lowest bit. The best
    // set is tracked as a mask: for two sets of equal size, the one holding the lowest bit
    // where they differ has the smaller sorted ids (bit order is id order).
    let mut sums = vec![0 as Money; full + 1];
    let (mut best_set, mut best_total) = (0usize, 0 as Money);
    for s in 1..=full {
        let low = s.trailing_zeros() as usize;
        sums[s] = sums[s & (s - 1)].saturating_add(candidates[low].discount);
        let total = sums[s].min(cart - uncovered[full ^ s]);
        let better = match total.cmp(&best_total) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => match s.count_ones().cmp(&best_set.count_ones()) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    let differ = s ^ best_set;
                    differ != 0 && s & differ & differ.wrapping_neg() != 0
                }
            },
        };
        if better {
            (best_set, best_total) = (s, total);
        }
    }
    if best_set != 0 {
        best.consider(Choice {
            total: i128::from(best_total),
            ids: (0..n)
                .filter(|bit| best_set & (1 << bit) != 0)
                .map(|bit| candidates[bit].id)
                .collect(),
        });
    }
}
