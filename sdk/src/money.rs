//! Money and points arithmetic that cannot overflow or lose a fen silently.
//!
//! Money and points are integers (minor units and whole points). Conversions between them go
//! through 128-bit intermediates and an explicit [`Rounding`], and every result is checked:
//! an overflow is an error, never a wrapped number.

use serde::{Deserialize, Serialize};

use crate::{Money, Points, RuleError};

/// How to round a fractional number of points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// Toward zero: 9.9 points become 9. The usual choice for accrual.
    #[default]
    Down,
    /// Away from zero: 9.1 points become 10.
    Up,
    /// To the nearest whole point, halves away from zero: 9.5 becomes 10.
    Nearest,
}

impl Rounding {
    /// `numerator / denominator`, rounded this way. `denominator` must be positive.
    pub fn divide(self, numerator: i128, denominator: i128) -> i128 {
        debug_assert!(denominator > 0);
        let quotient = numerator / denominator;
        let remainder = numerator % denominator;
        if remainder == 0 {
            return quotient;
        }
        let away = if numerator < 0 { -1 } else { 1 };
        match self {
            Rounding::Down => quotient,
            Rounding::Up => quotient + away,
            Rounding::Nearest => {
                if remainder.abs() * 2 >= denominator {
                    quotient + away
                } else {
                    quotient
                }
            }
        }
    }
}

/// An earning rate: `points` points for every `per` minor units of money, e.g. 1 point per
/// 100 fen (one point per yuan) is `Rate { points: 1, per: 100 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Points earned per `per` minor units.
    pub points: Points,
    /// Minor units of money that earn `points`; must be positive.
    pub per: Money,
}

impl Rate {
    /// The points `amount` earns at this rate, rounded as asked.
    pub fn points_for(&self, amount: Money, rounding: Rounding) -> Result<Points, RuleError> {
        if self.per <= 0 {
            return Err(RuleError::invalid_config(format!(
                "earning rate must be per a positive amount of money, got per = {}",
                self.per
            )));
        }
        let raw = i128::from(amount) * i128::from(self.points);
        narrow(rounding.divide(raw, i128::from(self.per)))
    }
}

/// `points × percent / 100`, rounded as asked: tier multipliers (150 = 1.5×) and bonuses.
pub fn scale(points: Points, percent: u32, rounding: Rounding) -> Result<Points, RuleError> {
    narrow(rounding.divide(i128::from(points) * i128::from(percent), 100))
}

/// Adds points or money, failing instead of wrapping.
pub fn add(a: i64, b: i64) -> Result<i64, RuleError> {
    a.checked_add(b)
        .ok_or_else(|| RuleError::internal(format!("{a} + {b} overflows 64 bits")))
}

/// Sums points or money, failing instead of wrapping.
pub fn sum(values: impl IntoIterator<Item = i64>) -> Result<i64, RuleError> {
    values.into_iter().try_fold(0, add)
}

fn narrow(value: i128) -> Result<i64, RuleError> {
    i64::try_from(value)
        .map_err(|_| RuleError::internal(format!("{value} does not fit in 64 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_as_asked() {
        let per_yuan = Rate {
            points: 1,
            per: 100,
        };
        assert_eq!(per_yuan.points_for(1999, Rounding::Down).unwrap(), 19);
        assert_eq!(per_yuan.points_for(1901, Rounding::Up).unwrap(), 20);
        assert_eq!(per_yuan.points_for(1950, Rounding::Nearest).unwrap(), 20);
        assert_eq!(per_yuan.points_for(1949, Rounding::Nearest).unwrap(), 19);
        assert_eq!(per_yuan.points_for(-1999, Rounding::Down).unwrap(), -19);
        assert_eq!(per_yuan.points_for(-1901, Rounding::Up).unwrap(), -20);
    }

    #[test]
    fn bad_rate_and_overflow_are_errors() {
        let broken = Rate { points: 1, per: 0 };
        assert!(matches!(
            broken.points_for(100, Rounding::Down),
            Err(RuleError::InvalidConfig(_))
        ));
        let huge = Rate {
            points: i64::MAX,
            per: 1,
        };
        assert!(huge.points_for(i64::MAX, Rounding::Down).is_err());
        assert!(add(i64::MAX, 1).is_err());
        assert_eq!(sum([1, 2, 3]).unwrap(), 6);
    }

    #[test]
    fn scale_applies_percent_multipliers() {
        assert_eq!(scale(33, 150, Rounding::Down).unwrap(), 49);
        assert_eq!(scale(33, 150, Rounding::Nearest).unwrap(), 50);
        assert_eq!(scale(10, 200, Rounding::Down).unwrap(), 20);
    }
}
