//! Where transaction fees go, and how they follow demand.
//!
//! A fee is split between the treasury (`FEE_TO_TREASURY`) and the block's author (the rest);
//! a tip goes to the author in full, so an author has a reason to include the transactions that
//! pay most and none to leave any out. Each block also mints a fixed reward for its author
//! (`AUTHOR_REWARD_PER_BLOCK`). A validator is a worker, and what it earns as an author is shared
//! with its delegators as its committee rewards are: its commission first, the rest pro rata to
//! its active stake (`pallet_worker_staking::Pallet::credit_author_reward`, event
//! `AuthorRewarded`). Nothing is burned: a share
//! nobody can take goes to the treasury.
//!
//! The fee multiplier follows block fullness (`TargetedFeeAdjustment`): above a quarter of the
//! ordinary share of a block it rises, below it falls back, never under the posted fee.

use crate::{AccountId, Balance, Balances, BlockNumber, Runtime, WorkerStaking};
use frame_support::{
	dispatch::DispatchClass,
	traits::{
		fungible::{Balanced, Credit},
		Imbalance, OnUnbalanced,
	},
};
use opg_primitives::token::OPG;
use sp_runtime::{traits::Zero, Perbill};

/// The treasury's share of each fee; the block's author gets the rest.
pub const FEE_TO_TREASURY: Perbill = Perbill::from_percent(80);

/// Minted for the author of each block: 0.1 OPG, 1,440 OPG a day and 525,600 OPG a year at one
/// block every six seconds, shared among the validators in proportion to the blocks they author.
pub const AUTHOR_REWARD_PER_BLOCK: Balance = OPG / 10;

/// This block's author: the session validator whose BABE key claimed the slot
/// (`pallet_session::FindAccountFromAuthorIndex`, so a rotated key still names its validator).
pub fn block_author() -> Option<AccountId> {
	pallet_authorship::Pallet::<Runtime>::author()
}

/// Deposit `credit` into `who`, or hand it back when `who` cannot take it.
fn pay(who: &AccountId, credit: Credit<AccountId, Balances>) -> Option<Credit<AccountId, Balances>> {
	Balances::resolve(who, credit).err()
}

/// Pay `credit` to `author` as a validator's earnings: into the worker staking pallet's reward
/// account, credited to the author's stake (commission, then its stakers pro rata). A validator
/// that is no longer a worker (it left, and serves out the session) is paid directly. Hands back
/// what could not be paid.
pub fn reward_author(author: &AccountId, credit: Credit<AccountId, Balances>) -> Option<Credit<AccountId, Balances>> {
	let amount = credit.peek();
	if amount.is_zero() {
		return None;
	}
	if !pallet_worker_staking::Workers::<Runtime>::contains_key(author) {
		return pay(author, credit);
	}
	let refused = pay(&WorkerStaking::reward_account(), credit);
	if refused.is_none() {
		WorkerStaking::credit_author_reward(author, amount);
	}
	refused
}

/// Mints each block's author reward (`pallet_authorship`'s handler, run in its `on_initialize`).
pub struct AuthorReward;

impl pallet_authorship::EventHandler<AccountId, BlockNumber> for AuthorReward {
	fn note_author(author: AccountId) {
		// Minting, the reward account's deposit and the credit to the author's stake.
		let weight = <<Runtime as pallet_worker_staking::Config>::WeightInfo as pallet_worker_staking::WeightInfo>::credit_reward()
			.saturating_add(<Runtime as frame_system::Config>::DbWeight::get().reads_writes(3, 3));
		frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(weight, DispatchClass::Mandatory);
		// Dropping what nobody could take un-mints it.
		let _ = reward_author(&author, Balances::issue(AUTHOR_REWARD_PER_BLOCK));
	}
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
			Some(author) => reward_author(&author, to_author),
			None => Some(to_author),
		};
		if let Some(refused) = refused {
			to_treasury = to_treasury.merge(refused);
		}
		// The treasury exists from genesis; if it could not take this, it is burned.
		let _ = pay(&crate::treasury_account(), to_treasury);
	}
}
