//! The committee protocol's pure logic: what a request costs and how a committee's revealed
//! outputs become a verdict. No storage and no funds here, so it is tested directly.

use alloc::vec::Vec;
pub use opg_primitives::inference::queue_fee;
use opg_primitives::inference::{largest_agreeing_group, quorum};
use sp_runtime::{
	traits::{CheckedAdd, CheckedMul},
	Perbill,
};

/// What a request with `seats` members pays when it settles: the model's price, a fee per seat,
/// and the treasury's share of both. `None` on overflow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cost<Balance> {
	pub price: Balance,
	pub per_member: Balance,
	pub treasury: Balance,
	pub total: Balance,
}

pub fn cost<Balance>(price: Balance, per_member: Balance, treasury_share: Perbill, seats: u32) -> Option<Cost<Balance>>
where
	Balance: Copy + CheckedAdd + CheckedMul + From<u32> + sp_runtime::traits::AtLeast32BitUnsigned,
{
	let members = per_member.checked_mul(&Balance::from(seats))?;
	let work = price.checked_add(&members)?;
	let treasury = treasury_share.mul_ceil(work);
	let total = work.checked_add(&treasury)?;
	Some(Cost { price, per_member, treasury, total })
}

/// The seed of the draw of request `id`'s committee for `round`, from the drawing block's
/// randomness: every request and round drawn in one block gets its own seed.
pub fn draw_seed(randomness: &[u8; 32], id: crate::RequestId, round: u8) -> [u8; 32] {
	use sp_runtime::traits::Hash;
	sp_runtime::traits::BlakeTwo256::hash(&codec::Encode::encode(&(b"opg/draw", randomness, id, round))).into()
}

/// The seats of the escalated committee after a first round of `seats`.
pub fn escalated_seats(seats: u32) -> u32 {
	seats.saturating_mul(2).saturating_add(1)
}

/// The seats of the first round whose escalation has `escalated` seats.
pub fn first_round_seats(escalated: u32) -> u32 {
	escalated.saturating_sub(1) / 2
}

/// The outcome of a reveal phase.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
	/// At least a quorum agreed. `output` is the seat whose output is the answer; `agreeing`
	/// the seats that agree with it; `disagreeing` the seats that revealed something else.
	Agreed { output: u32, agreeing: Vec<u32>, disagreeing: Vec<u32> },
	/// Too few agreeing outputs for a quorum of the committee.
	NoQuorum,
}

/// Judge the answers revealed by a committee of `seats` (seat index, answer), `agree` saying
/// when two answers are the same.
pub fn judge<A>(seats: u32, revealed: &[(u32, A)], agree: impl Fn(&A, &A) -> bool) -> Verdict {
	let answers: Vec<&A> = revealed.iter().map(|(_, a)| a).collect();
	match largest_agreeing_group(&answers, |a, b| agree(a, b)) {
		Some((representative, group)) if group.len() as u32 >= quorum(seats) => {
			let agreeing: Vec<u32> = group.iter().map(|i| revealed[*i].0).collect();
			let disagreeing = revealed.iter().map(|(seat, _)| *seat).filter(|seat| !agreeing.contains(seat)).collect();
			Verdict::Agreed { output: revealed[representative].0, agreeing, disagreeing }
		},
		_ => Verdict::NoQuorum,
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use opg_primitives::inference::{outputs_agree, ComparisonRule};

	fn judge(_: ComparisonRule, seats: u32, revealed: &[(u32, &[u8])]) -> Verdict {
		super::judge(seats, revealed, |a, b| outputs_agree(ComparisonRule::Exact, a, b))
	}

	#[test]
	fn cost_adds_price_seats_and_treasury_share() {
		let c = cost::<u128>(100, 10, Perbill::from_percent(10), 3).unwrap();
		assert_eq!(c, Cost { price: 100, per_member: 10, treasury: 13, total: 143 });
		assert_eq!(cost::<u128>(u128::MAX, 1, Perbill::zero(), 1), None);
		assert_eq!(escalated_seats(3), 7);
		// A queue of 4,096: the first 512 wait for free, then the fee grows with the square.
		assert_eq!(queue_fee::<u128>(1_000, 0, 4_096), 0);
		assert_eq!(queue_fee::<u128>(1_000, 512, 4_096), 0);
		assert_eq!(queue_fee::<u128>(1_000, 1_024, 4_096), 1_000);
		assert_eq!(queue_fee::<u128>(1_000, 4_096, 4_096), 49_000);
		assert_eq!(queue_fee::<u128>(u128::MAX, u64::MAX, 1), u128::MAX);
		assert_eq!(first_round_seats(7), 3);
	}

	#[test]
	fn honest_committee_agrees() {
		let (a, b): (&[u8], &[u8]) = (b"A", b"B");
		assert_eq!(
			judge(ComparisonRule::Exact, 3, &[(0, a), (1, a), (2, a)]),
			Verdict::Agreed { output: 0, agreeing: vec![0, 1, 2], disagreeing: vec![] }
		);
		// One liar is outvoted.
		assert_eq!(
			judge(ComparisonRule::Exact, 3, &[(0, b), (1, a), (2, a)]),
			Verdict::Agreed { output: 1, agreeing: vec![1, 2], disagreeing: vec![0] }
		);
		// Two of three is a quorum even when the third never revealed.
		assert_eq!(
			judge(ComparisonRule::Exact, 3, &[(0, a), (2, a)]),
			Verdict::Agreed { output: 0, agreeing: vec![0, 2], disagreeing: vec![] }
		);
	}

	#[test]
	fn split_or_sparse_committee_has_no_quorum() {
		let (a, b, c): (&[u8], &[u8], &[u8]) = (b"A", b"B", b"C");
		assert_eq!(judge(ComparisonRule::Exact, 3, &[(0, a), (1, b), (2, c)]), Verdict::NoQuorum);
		assert_eq!(judge(ComparisonRule::Exact, 3, &[(0, a)]), Verdict::NoQuorum);
		assert_eq!(judge(ComparisonRule::Exact, 3, &[]), Verdict::NoQuorum);
		// 7 seats need 5.
		let four_of_seven: Vec<(u32, &[u8])> = (0..4).map(|i| (i, a)).collect();
		assert_eq!(judge(ComparisonRule::Exact, 7, &four_of_seven), Verdict::NoQuorum);
	}
}
