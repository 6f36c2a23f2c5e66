//! The $OPG token: its symbol, its decimals and the units derived from them.

use crate::Balance;

/// Ticker shown by wallets (chain spec property `tokenSymbol`).
pub const TOKEN_SYMBOL: &str = "OPG";

/// Decimal places of one OPG (chain spec property `tokenDecimals`).
pub const TOKEN_DECIMALS: u8 = 18;

/// The generic Substrate SS58 address prefix: addresses read the same as on any dev chain.
pub const SS58_PREFIX: u16 = 42;

/// One OPG in its smallest unit.
pub const OPG: Balance = 1_000_000_000_000_000_000;
/// One thousandth of an OPG.
pub const MILLI_OPG: Balance = OPG / 1_000;
/// One millionth of an OPG.
pub const MICRO_OPG: Balance = OPG / 1_000_000;

/// The smallest balance an account may hold; below it the account is reaped.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_OPG;

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn units_match_decimals() {
		assert_eq!(OPG, 10u128.pow(TOKEN_DECIMALS as u32));
		assert_eq!(MILLI_OPG * 1_000, OPG);
		assert_eq!(MICRO_OPG * 1_000_000, OPG);
		assert!(EXISTENTIAL_DEPOSIT > 0);
	}
}
