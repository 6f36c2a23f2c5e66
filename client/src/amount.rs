//! $OPG amounts as people write them (`1.5`, `0.001`) and as the chain counts them (the smallest
//! unit, 10^-18 OPG).

use crate::error::{Error, Result};
use opg_primitives::token::{OPG, TOKEN_DECIMALS, TOKEN_SYMBOL};

/// Parse a decimal amount of OPG into the smallest unit.
pub fn parse_opg(text: &str) -> Result<u128> {
	let bad = || Error::Input(format!("`{text}` is not an amount of OPG (e.g. 1.5)"));
	let text = text.trim().trim_end_matches(TOKEN_SYMBOL).trim();
	let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
	if whole.is_empty() && fraction.is_empty() || fraction.len() > TOKEN_DECIMALS as usize {
		return Err(bad());
	}
	let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
	if !digits(whole) || !digits(fraction) {
		return Err(bad());
	}
	let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
	let scale = 10u128.pow(TOKEN_DECIMALS as u32 - fraction.len() as u32);
	let fraction: u128 = if fraction.is_empty() { 0 } else { fraction.parse::<u128>().map_err(|_| bad())? * scale };
	whole.checked_mul(OPG).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)
}

/// Format an amount as OPG with up to six decimals, rounding up so a quote is never shown
/// below what it is (`1.060000 OPG` → `1.06 OPG`).
pub fn format_opg(amount: u128) -> String {
	let micro = OPG / 1_000_000;
	let units = amount.div_ceil(micro);
	let (whole, fraction) = (units / 1_000_000, units % 1_000_000);
	if fraction == 0 {
		format!("{whole} {TOKEN_SYMBOL}")
	} else {
		let fraction = format!("{fraction:06}");
		format!("{whole}.{} {TOKEN_SYMBOL}", fraction.trim_end_matches('0'))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn amounts_parse_and_format() {
		assert_eq!(parse_opg("1.5").unwrap(), 3 * OPG / 2);
		assert_eq!(parse_opg("2").unwrap(), 2 * OPG);
		assert_eq!(parse_opg(".25 OPG").unwrap(), OPG / 4);
		assert!(parse_opg("1.2.3").is_err());
		assert!(parse_opg("-1").is_err());
		assert!(parse_opg("").is_err());
		assert_eq!(format_opg(1_060_000_000_000_000_000), "1.06 OPG");
		assert_eq!(format_opg(2 * OPG), "2 OPG");
		assert_eq!(format_opg(1), "0.000001 OPG");
	}
}
