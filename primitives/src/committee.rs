//! Stake-weighted committee selection: a pure function of the candidates and a seed.
//!
//! The runtime draws committees with it, and anyone can re-run it to check a draw. It uses
//! integer arithmetic only, so every node computes the same committee.

use alloc::vec::Vec;
use sp_crypto_hashing::blake2_256;

/// Why no committee could be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionError {
	/// Fewer candidates with non-zero stake than seats.
	NotEnoughCandidates { eligible: u32, wanted: u32 },
	/// The stakes add up to more than a `u128` holds.
	StakeOverflow,
}

/// A uniform draw in `0..bound` (`bound > 0`) for draw number `round`, from `seed`.
///
/// 128 bits of blake2 output reduced modulo `bound`: the bias is below `bound / 2^128`, which for
/// any real total stake is far below anything measurable.
fn draw(seed: &[u8; 32], round: u32, bound: u128) -> u128 {
	let mut input = [0u8; 36];
	input[..32].copy_from_slice(seed);
	input[32..].copy_from_slice(&round.to_le_bytes());
	let hash = blake2_256(&input);
	let mut low = [0u8; 16];
	low.copy_from_slice(&hash[..16]);
	u128::from_le_bytes(low) % bound
}

/// Draw `seats` distinct candidates, each draw weighted by stake among those not yet drawn.
///
/// Candidates with zero stake are never drawn. The order of `candidates` matters (it fixes which
/// stake interval each candidate owns), so callers pass them in a canonical order. The result is
/// in draw order.
pub fn select_committee<Id: Clone, Stake: Copy + Into<u128>>(
	candidates: &[(Id, Stake)],
	seats: u32,
	seed: &[u8; 32],
) -> Result<Vec<Id>, SelectionError> {
	let mut pool: Vec<(usize, u128)> = candidates
		.iter()
		.enumerate()
		.map(|(i, (_, stake))| (i, (*stake).into()))
		.filter(|(_, stake)| *stake > 0)
		.collect();
	let eligible = u32::try_from(pool.len()).unwrap_or(u32::MAX);
	if eligible < seats {
		return Err(SelectionError::NotEnoughCandidates { eligible, wanted: seats });
	}
	let mut total =
		pool.iter().try_fold(0u128, |acc, (_, stake)| acc.checked_add(*stake)).ok_or(SelectionError::StakeOverflow)?;

	let mut chosen = Vec::with_capacity(seats as usize);
	for round in 0..seats {
		// `total > 0`: every remaining candidate has stake, and at least one remains.
		let mut point = draw(seed, round, total);
		let position = pool
			.iter()
			.position(|(_, stake)| {
				if point < *stake {
					true
				} else {
					point -= *stake;
					false
				}
			})
			.unwrap_or(pool.len() - 1);
		let (index, stake) = pool.remove(position);
		total -= stake;
		chosen.push(candidates[index].0.clone());
	}
	Ok(chosen)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn seed(n: u64) -> [u8; 32] {
		blake2_256(&n.to_le_bytes())
	}

	#[test]
	fn draws_distinct_members_deterministically() {
		let candidates: Vec<(u32, u128)> = (0..10).map(|i| (i, 100 + i as u128)).collect();
		for n in 0..200 {
			let a = select_committee(&candidates, 5, &seed(n)).unwrap();
			let b = select_committee(&candidates, 5, &seed(n)).unwrap();
			assert_eq!(a, b);
			let mut sorted = a.clone();
			sorted.sort();
			sorted.dedup();
			assert_eq!(sorted.len(), 5, "{a:?} has a repeat");
		}
	}

	#[test]
	fn not_enough_candidates_and_zero_stake() {
		let candidates = vec![(1u8, 10u128), (2, 0), (3, 5)];
		assert_eq!(
			select_committee(&candidates, 3, &seed(0)),
			Err(SelectionError::NotEnoughCandidates { eligible: 2, wanted: 3 })
		);
		for n in 0..100 {
			let c = select_committee(&candidates, 2, &seed(n)).unwrap();
			assert!(!c.contains(&2), "zero stake drawn");
		}
		assert_eq!(select_committee(&candidates, 0, &seed(0)), Ok(vec![]));
		assert_eq!(
			select_committee::<u8, u128>(&[], 1, &seed(0)),
			Err(SelectionError::NotEnoughCandidates { eligible: 0, wanted: 1 })
		);
	}

	#[test]
	fn stake_overflow_is_an_error() {
		let candidates = vec![(1u8, u128::MAX), (2, 1)];
		assert_eq!(select_committee(&candidates, 1, &seed(0)), Err(SelectionError::StakeOverflow));
	}

	/// A single seat is drawn with probability exactly stake / total; over many seeds the observed
	/// frequencies must be within a few standard deviations of it.
	#[test]
	fn single_seat_frequency_is_proportional_to_stake() {
		let stakes = [1u128, 2, 3, 4, 10, 30, 50];
		let candidates: Vec<(usize, u128)> = stakes.iter().copied().enumerate().collect();
		let total: u128 = stakes.iter().sum();
		let trials = 40_000u64;
		let mut hits = [0u64; 7];
		for n in 0..trials {
			hits[select_committee(&candidates, 1, &seed(n)).unwrap()[0]] += 1;
		}
		for (i, stake) in stakes.iter().enumerate() {
			// Compare in integers: |hits·total − trials·stake| ≤ 5σ·total, σ² = n·p·(1−p).
			let expected_x_total = trials as u128 * stake;
			let observed_x_total = hits[i] as u128 * total;
			let diff = observed_x_total.abs_diff(expected_x_total);
			let variance_x_total2 = trials as u128 * stake * (total - stake);
			// diff ≤ 5·sqrt(variance): square both sides.
			assert!(
				diff * diff <= 25 * variance_x_total2,
				"candidate {i} (stake {stake}): {} hits of {trials}",
				hits[i]
			);
		}
	}

	/// With several seats, a larger stake is never less likely to be seated than a smaller one,
	/// and every seat-holder is seated about as often as an exact computation says.
	#[test]
	fn multi_seat_frequency_grows_with_stake() {
		let stakes = [5u128, 10, 20, 40, 80];
		let candidates: Vec<(usize, u128)> = stakes.iter().copied().enumerate().collect();
		let trials = 20_000u64;
		let mut seated = [0u64; 5];
		for n in 0..trials {
			for member in select_committee(&candidates, 3, &seed(n)).unwrap() {
				seated[member] += 1;
			}
		}
		assert_eq!(seated.iter().sum::<u64>(), 3 * trials);
		for w in seated.windows(2) {
			assert!(w[0] < w[1], "seat counts not increasing with stake: {seated:?}");
		}
	}
}
