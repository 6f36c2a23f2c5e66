//! Where transaction fees go, and how they follow demand.
//!
//! A fee is split between the treasury (`FEE_TO_TREASURY`) and the block's author (the rest);
//! a tip goes to the author in full, so an author has a reason to include the transactions that
//! pay most and none to leave any out. Nothing is burned: an account that cannot take its share
//! (it would stay below the existential deposit) leaves it to the treasury.
//!
//! The fee multiplier follows block fullness (`TargetedFeeAdjustment`): above a quarter of the
//! ordinary share of a block it rises, below it falls back, never under the posted fee.

use crate::{AccountId, Balances, Runtime};
use frame_support::traits::{
	fungible::{Balanced, Credit},
	FindAuthor, Imbalance, OnUnbalanced,
};
use sp_runtime::Perbill;

/// The treasury's share of each fee; the block's author gets the rest.
pub const FEE_TO_TREASURY: Perbill = Perbill::from_percent(80);

/// The account of this block's author: the account of the BABE key that claimed its slot.
pub fn block_author() -> Option<AccountId> {
	let digest = frame_system::Pallet::<Runtime>::digest();
	let pre_runtime = digest.logs.iter().filter_map(|item| item.as_pre_runtime());
	let index = <pallet_babe::Pallet<Runtime> as FindAuthor<u32>>::find_author(pre_runtime)?;
	let (key, _) = pallet_babe::Authorities::<Runtime>::get().get(index as usize)?.clone();
	AccountId::try_from(sp_core::crypto::ByteArray::as_slice(&key)).ok()
}

/// Deposit `credit` into `who`, or hand it back when `who` cannot take it.
fn pay(who: &AccountId, credit: Credit<AccountId, Balances>) -> Option<Credit<AccountId, Balances>> {
	Balances::resolve(who, credit).err()
}

/// Splits each transaction's fee between the treasury and the author and gives the author the
/// tip (`FungibleAdapter` hands over the fee, then the tip).
pub struct DealWithFees;

impl OnUnbalanced<Credit<AccountId, Balances>> for DealWithFees {
	fn on_unbalanceds(mut fees_then_tips: impl Iterator<Item = Credit<AccountId, Balances>>) {
		let Some(fee) = fees_then_tips.next() else { return };
		let to_treasury_amount = FEE_TO_TREASURY.mul_ceil(fee.peek());
		let (mut to_treasury, mut to_author) = fee.split(to_treasury_amount);
		for tip in fees_then_tips {
			to_author = to_author.merge(tip);
		}
		let refused = match block_author() {
			Some(author) => pay(&author, to_author),
			None => Some(to_author),
		};
		if let Some(refused) = refused {
			to_treasury = to_treasury.merge(refused);
		}
		// The treasury exists from genesis; if it could not take this, it is burned.
		let _ = pay(&crate::treasury_account(), to_treasury);
	}
}
