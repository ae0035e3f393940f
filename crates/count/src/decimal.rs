//! Exact decimal numbers: ballot weights as given on the roll, and the fixed-point values the
//! counting rules work in.

use std::fmt;

use serde::{Serialize, Serializer};

/// Most decimal places a weight may have. Together with [`MAX_TOTAL_WEIGHT_UNITS`] this keeps
/// every product the rules form (Meek: weight x 10^9 x 10^9) inside an `i128`.
pub const MAX_WEIGHT_DECIMALS: u32 = 9;

/// Upper bound on the sum of all weights, counted in units of the finest decimal place used.
pub const MAX_TOTAL_WEIGHT_UNITS: i128 = 1_000_000_000_000_000_000;

/// A ballot's weight: an exact positive decimal (`mantissa / 10^decimals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Weight {
    mantissa: u64,
    decimals: u32,
}

/// Why a weight was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightError(pub String);

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WeightError {}

impl Weight {
    /// The weight of an ordinary ballot.
    pub const ONE: Weight = Weight {
        mantissa: 1,
        decimals: 0,
    };

    /// A whole-number weight (a count of identical ballots); zero is refused.
    pub fn from_count(count: u64) -> Result<Weight, WeightError> {
        if count == 0 {
            return Err(WeightError("a weight must be positive".into()));
        }
        Ok(Weight {
            mantissa: count,
            decimals: 0,
        })
    }

    /// Parses a plain decimal such as `3`, `1.5` or `0.125` exactly. Signs, exponents and more
    /// than [`MAX_WEIGHT_DECIMALS`] decimal places are refused, as is zero.
    pub fn parse(text: &str) -> Result<Weight, WeightError> {
        let bad = || WeightError(format!("'{text}' is not a positive decimal weight"));
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac_part.is_empty())
        {
            return Err(bad());
        }
        let frac = frac_part.trim_end_matches('0');
        if frac.len() as u32 > MAX_WEIGHT_DECIMALS {
            return Err(WeightError(format!(
                "weight '{text}' has more than {MAX_WEIGHT_DECIMALS} decimal places"
            )));
        }
        let mut mantissa: u64 = 0;
        for b in int_part.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .filter(|m| *m <= 1_000_000_000_000_000_000)
                .ok_or_else(|| WeightError(format!("weight '{text}' is too large")))?;
        }
        if mantissa == 0 {
            return Err(WeightError(format!("weight '{text}' is not positive")));
        }
        Ok(Weight {
            mantissa,
            decimals: frac.len() as u32,
        })
    }

    /// Decimal places after normalisation (`1.50` has one).
    pub fn decimals(&self) -> u32 {
        self.decimals
    }

    /// The weight counted in units of `10^-decimals` (`decimals` >= [`Weight::decimals`]).
    pub fn units(&self, decimals: u32) -> i128 {
        debug_assert!(decimals >= self.decimals);
        i128::from(self.mantissa) * pow10(decimals - self.decimals)
    }

    /// The mantissa and the number of decimal places.
    pub(crate) fn parts(&self) -> (u64, u32) {
        (self.mantissa, self.decimals)
    }

    /// `10^places` for `places` up to [`MAX_WEIGHT_DECIMALS`].
    #[inline]
    pub(crate) fn scale(places: u32) -> u64 {
        const POW10: [u64; MAX_WEIGHT_DECIMALS as usize + 1] = [
            1,
            10,
            100,
            1_000,
            10_000,
            100_000,
            1_000_000,
            10_000_000,
            100_000_000,
            1_000_000_000,
        ];
        POW10[places as usize]
    }

    /// [`Weight::units`] for a weight of at most [`MAX_TOTAL_WEIGHT_UNITS`] units, as counts
    /// check of every ballot before counting.
    #[inline]
    pub(crate) fn small_units(&self, decimals: u32) -> u64 {
        self.mantissa * Weight::scale(decimals - self.decimals)
    }

    /// The exact value as a [`Fixed`].
    pub fn to_fixed(&self) -> Fixed {
        Fixed::new(i128::from(self.mantissa), self.decimals)
    }

    /// The exact value as a fraction (numerator, denominator).
    pub fn as_fraction(&self) -> (u64, u64) {
        (self.mantissa, 10u64.pow(self.decimals))
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_fixed().fmt(f)
    }
}

impl std::str::FromStr for Weight {
    type Err = WeightError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Weight::parse(s)
    }
}

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `10^n` for the small `n` the rules use.
pub(crate) fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// An exact decimal `raw / 10^decimals`, printed with exactly `decimals` places (the way a
/// result sheet prints Scottish votes to five places).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fixed {
    raw: i128,
    decimals: u32,
}

impl Fixed {
    pub fn new(raw: i128, decimals: u32) -> Fixed {
        Fixed { raw, decimals }
    }

    pub fn zero(decimals: u32) -> Fixed {
        Fixed { raw: 0, decimals }
    }

    /// The value in units of `10^-decimals`.
    pub fn raw(&self) -> i128 {
        self.raw
    }

    pub fn decimals(&self) -> u32 {
        self.decimals
    }

    pub fn is_zero(&self) -> bool {
        self.raw == 0
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.raw < 0 { "-" } else { "" };
        let abs = self.raw.unsigned_abs();
        if self.decimals == 0 {
            return f.pad(&format!("{sign}{abs}"));
        }
        let scale = 10u128.pow(self.decimals);
        let text = format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = self.decimals as usize
        );
        f.pad(&text)
    }
}

impl Serialize for Fixed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        let w = Weight::parse("1.50").unwrap();
        assert_eq!(w.decimals(), 1);
        assert_eq!(w.units(3), 1500);
        assert_eq!(w.to_string(), "1.5");
        assert_eq!(Weight::parse("2").unwrap().units(0), 2);
        assert_eq!(Weight::parse(".25").unwrap().as_fraction(), (25, 100));
        assert_eq!(Weight::parse("0.000000001").unwrap().units(9), 1);
    }

    #[test]
    fn refuses_non_weights() {
        for bad in [
            "",
            ".",
            "0",
            "0.0",
            "-1",
            "+1",
            "1e3",
            "1.",
            "abc",
            "1.2.3",
            "0.0000000001",
        ] {
            assert!(Weight::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fixed_prints_all_places() {
        assert_eq!(Fixed::new(12_345_000, 5).to_string(), "123.45000");
        assert_eq!(Fixed::new(-5, 2).to_string(), "-0.05");
        assert_eq!(Fixed::new(7, 0).to_string(), "7");
    }
}
