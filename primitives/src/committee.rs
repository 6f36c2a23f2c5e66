//! Stake-weighted committee selection: a pure function of the candidates and a seed.
//!
//! The runtime draws committees with it, and anyone can re-run it to check a draw. It uses
//! integer arithmetic only, so every node computes the same committee.
//!
//! # Why this design
//!
//! A worker holds at most one seat of a committee. Drawing seat after seat among the workers not
//! yet drawn (what a naive stake-weighted draw does) favours small workers: once a large worker
//! is seated, the remaining seats go to the others, so splitting a stake over many workers wins
//! more seats than holding it in one. Here every worker is seated with probability exactly
//! proportional to its stake (`seats × stake / total`), so a stake's expected seats are the same
//! however it is split. The one exception is a worker whose stake alone is worth a seat or more
//! (`stake ≥ total / seats`): it is seated every time, which is the one seat it can hold, and the
//! other seats are shared by the rest in proportion to their stake.
//!
//! The draw is systematic sampling on a shuffled list ("πps" sampling): each candidate owns an
//! interval as long as its inclusion probability, the intervals are laid end to end in an order
//! shuffled by the seed, and the seats are the candidates whose intervals contain the points
//! `u, u + 1, …, u + seats − 1` for one uniform `u ∈ [0, 1)`. No interval is longer than 1, so
//! no candidate is hit twice.

use alloc::vec::Vec;
use sp_crypto_hashing::blake2_256;
use sp_runtime::{helpers_128bit::multiply_by_rational_with_rounding, Rounding};

/// One seat's worth of inclusion probability, in fixed point: probabilities are exact to 2⁻⁶⁴.
const UNIT: u128 = 1 << 64;

/// Why no committee could be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionError {
	/// Fewer candidates with non-zero stake than seats.
	NotEnoughCandidates { eligible: u32, wanted: u32 },
	/// The stakes add up to more than a `u128` holds (or a stake times the seats does).
	StakeOverflow,
}

/// A uniform draw in `0..bound` (`bound > 0`) for draw number `round`, from `seed`.
///
/// 128 bits of blake2 output reduced modulo `bound`: the bias is below `bound / 2^128`, which for
/// any bound used here is far below anything measurable.
fn draw(seed: &[u8; 32], round: u32, bound: u128) -> u128 {
	let mut input = [0u8; 36];
	input[..32].copy_from_slice(seed);
	input[32..].copy_from_slice(&round.to_le_bytes());
	let hash = blake2_256(&input);
	let mut low = [0u8; 16];
	low.copy_from_slice(&hash[..16]);
	u128::from_le_bytes(low) % bound
}

/// Each stake's probability of a seat among `seats`, in `UNIT`s; they add up to `seats × UNIT`.
///
/// A stake worth a seat or more is capped at certainty and the seats left are shared by the
/// others in proportion to their stake, repeatedly until no share exceeds one. `stakes` are
/// non-zero and at least `seats` of them.
pub fn inclusion_units(stakes: &[u128], seats: u32) -> Result<Vec<u128>, SelectionError> {
	let mut capped = alloc::vec![false; stakes.len()];
	let mut left = seats as u128;
	loop {
		if left == 0 {
			break;
		}
		let rest = uncapped_sum(stakes, &capped)?;
		let mut newly = 0u128;
		for (stake, capped) in stakes.iter().zip(capped.iter_mut()).filter(|(_, c)| !**c) {
			// stake × left ≥ rest: its share would reach a whole seat.
			if stake.checked_mul(left).ok_or(SelectionError::StakeOverflow)? >= rest {
				*capped = true;
				newly += 1;
			}
		}
		if newly == 0 {
			break;
		}
		// At most `left` stakes can each be worth `rest / left`.
		left -= newly;
	}
	let rest = uncapped_sum(stakes, &capped)?;
	let share = left * UNIT;
	let mut units: Vec<u128> = stakes
		.iter()
		.zip(&capped)
		.map(|(stake, capped)| match (*capped, left) {
			(true, _) => UNIT,
			(false, 0) => 0,
			// `rest > 0`: it includes this non-zero stake. The result is below `UNIT`.
			(false, _) => multiply_by_rational_with_rounding(*stake, share, rest, Rounding::Down).unwrap_or(0),
		})
		.collect();
	// Rounding down lost less than one unit per uncapped stake: give those units back one each,
	// so the shares add up to the seats exactly (an uncapped share stays below `UNIT`).
	let mut missing = share.saturating_sub(uncapped_sum(&units, &capped)?);
	for (unit, _) in units.iter_mut().zip(&capped).filter(|(_, c)| !**c) {
		if missing == 0 {
			break;
		}
		*unit += 1;
		missing -= 1;
	}
	Ok(units)
}

fn uncapped_sum(values: &[u128], capped: &[bool]) -> Result<u128, SelectionError> {
	values
		.iter()
		.zip(capped)
		.filter(|(_, c)| !**c)
		.try_fold(0u128, |acc, (v, _)| acc.checked_add(*v))
		.ok_or(SelectionError::StakeOverflow)
}

/// Draw `seats` distinct candidates; each is seated with probability `seats × stake / total`
/// (capped at certainty, see the module docs).
///
/// Candidates with zero stake are never drawn. The order of `candidates` only fixes the draw for
/// a given seed (the seed shuffles it), so callers pass them in a canonical order. The result is
/// in the shuffled order.
pub fn select_committee<Id: Clone, Stake: Copy + Into<u128>>(
	candidates: &[(Id, Stake)],
	seats: u32,
	seed: &[u8; 32],
) -> Result<Vec<Id>, SelectionError> {
	let pool: Vec<(usize, u128)> = candidates
		.iter()
		.enumerate()
		.map(|(i, (_, stake))| (i, (*stake).into()))
		.filter(|(_, stake)| *stake > 0)
		.collect();
	let eligible = u32::try_from(pool.len()).unwrap_or(u32::MAX);
	if eligible < seats {
		return Err(SelectionError::NotEnoughCandidates { eligible, wanted: seats });
	}
	pool.iter().try_fold(0u128, |acc, (_, stake)| acc.checked_add(*stake)).ok_or(SelectionError::StakeOverflow)?;
	if seats == 0 {
		return Ok(Vec::new());
	}
	let stakes: Vec<u128> = pool.iter().map(|(_, s)| *s).collect();
	let units = inclusion_units(&stakes, seats)?;

	// Fisher–Yates with draws 1..: the order the intervals are laid out in.
	let mut order: Vec<usize> = (0..pool.len()).collect();
	for i in (1..order.len()).rev() {
		let j = draw(seed, i as u32, i as u128 + 1) as usize;
		order.swap(i, j);
	}
	// Draw 0: where the first point falls; the others follow one `UNIT` apart.
	let mut point = draw(seed, 0, UNIT);
	let mut start = 0u128;
	let mut chosen = Vec::with_capacity(seats as usize);
	for position in order {
		let end = start + units[position];
		// `point ≥ start` always holds, and an interval is at most one `UNIT` long, so it holds
		// at most one point.
		if point < end && (chosen.len() as u32) < seats {
			chosen.push(candidates[pool[position].0].0.clone());
			point += UNIT;
		}
		start = end;
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

	/// How often each candidate is seated over `trials` seeds.
	fn seat_counts(candidates: &[(usize, u128)], seats: u32, trials: u64) -> Vec<u64> {
		let mut seated = vec![0u64; candidates.len()];
		for n in 0..trials {
			let committee = select_committee(candidates, seats, &seed(n)).unwrap();
			assert_eq!(committee.len() as u32, seats);
			for member in committee {
				seated[member] += 1;
			}
		}
		seated
	}

	/// `observed` is within 5σ of `trials × units / UNIT` for a yes/no event of that probability.
	fn within_five_sigma(observed: u64, trials: u64, units: u128) -> bool {
		let p = units as f64 / UNIT as f64;
		let (mean, sd) = (trials as f64 * p, (trials as f64 * p * (1.0 - p)).sqrt());
		(observed as f64 - mean).abs() <= 5.0 * sd + 1e-9
	}

	#[test]
	fn inclusion_is_proportional_to_stake_and_capped_at_one_seat() {
		let stakes = [5u128, 10, 20, 40, 80];
		// 80 × 3 ≥ 155 and then 40 × 2 ≥ 75 are worth a seat each; the last seat is shared by
		// 5, 10 and 20 in proportion.
		let units = inclusion_units(&stakes, 3).unwrap();
		assert_eq!(units[3..], [UNIT, UNIT]);
		for (unit, stake) in units[..3].iter().zip([5u128, 10, 20]) {
			assert!(unit.abs_diff(stake * UNIT / 35) <= 1, "{unit} for stake {stake}");
		}
		assert_eq!(units.iter().sum::<u128>(), 3 * UNIT);

		let candidates: Vec<(usize, u128)> = stakes.iter().copied().enumerate().collect();
		let trials = 20_000;
		let seated = seat_counts(&candidates, 3, trials);
		for (i, count) in seated.iter().enumerate() {
			assert!(
				within_five_sigma(*count, trials, units[i]),
				"candidate {i}: seated {count} of {trials}: {seated:?}"
			);
		}
	}

	#[test]
	fn inclusion_units_always_add_up_to_the_seats() {
		for n in 0..500u64 {
			let h = blake2_256(&n.to_le_bytes());
			let count = 1 + h[0] as usize % 64;
			let stakes: Vec<u128> = (0..count)
				.map(|i| {
					1 + (u64::from_le_bytes(blake2_256(&[h, [i as u8; 32]].concat())[..8].try_into().unwrap())
						>> (h[1] % 60)) as u128
				})
				.collect();
			let seats = 1 + h[2] as u32 % count as u32;
			let units = inclusion_units(&stakes, seats).unwrap();
			assert_eq!(units.iter().sum::<u128>(), seats as u128 * UNIT, "{stakes:?}, {seats} seats");
			assert!(units.iter().all(|u| *u <= UNIT), "{units:?}");
		}
	}

	#[test]
	fn every_candidate_is_seated_when_there_are_as_many_seats() {
		let candidates = vec![(0usize, 1u128), (1, 1_000), (2, 7), (3, 1_000_000)];
		for n in 0..100 {
			let mut committee = select_committee(&candidates, 4, &seed(n)).unwrap();
			committee.sort();
			assert_eq!(committee, vec![0, 1, 2, 3]);
		}
	}

	/// Ten percent of the stake wins ten percent of the seats whether it is one worker or ten:
	/// splitting gains nothing.
	#[test]
	fn a_stake_wins_the_same_seats_however_it_is_split() {
		let honest: Vec<u128> = vec![100; 9];
		let trials = 20_000u64;
		let seats = 4u32;
		for pieces in [1usize, 10] {
			let mut stakes = honest.clone();
			stakes.extend(core::iter::repeat(100 / pieces as u128).take(pieces));
			let candidates: Vec<(usize, u128)> = stakes.iter().copied().enumerate().collect();
			let seated = seat_counts(&candidates, seats, trials);
			let attacker: u64 = seated[honest.len()..].iter().sum();
			// Expected: 4 seats × 10 % per request. Each piece is a yes/no event, and pieces
			// cannot be positively correlated by more than their sum: bound the spread by the
			// single-worker case's σ times the number of pieces' square root.
			let expected = trials as f64 * seats as f64 * 0.1;
			let sd = (trials as f64 * 0.4 * 0.6).sqrt() * (pieces as f64).sqrt();
			assert!(
				(attacker as f64 - expected).abs() <= 5.0 * sd,
				"{pieces} piece(s): {attacker} seats of {} ({:.2} %)",
				trials * seats as u64,
				100.0 * attacker as f64 / (trials * seats as u64) as f64
			);
		}
	}

	/// The odds that stake spread over many workers seats a quorum of a committee: what the
	/// architecture notes quote as the cost of capturing a model's verdicts.
	#[test]
	fn a_quorum_needs_most_of_the_stake() {
		let trials = 10_000u64;
		let workers = 60usize;
		let mut table = Vec::new();
		for seats in [4u32, 9] {
			let quorum = crate::inference::quorum(seats);
			let mut previous = 0u64;
			for percent in [10usize, 20, 33, 50, 67] {
				let attacker = workers * percent / 100;
				let candidates: Vec<(usize, u128)> = (0..workers).map(|i| (i, 1_000u128)).collect();
				let mut captured = 0u64;
				for n in 0..trials {
					let committee = select_committee(&candidates, seats, &seed(n)).unwrap();
					if committee.iter().filter(|m| **m < attacker).count() as u32 >= quorum {
						captured += 1;
					}
				}
				assert!(captured >= previous, "capture odds fall as the stake grows");
				previous = captured;
				table.push((seats, percent, captured as f64 / trials as f64));
			}
		}
		for (seats, percent, odds) in &table {
			eprintln!("{seats} seats, {percent} % of the stake: quorum captured in {:.2} % of draws", 100.0 * odds);
		}
		let odds = |seats: u32, percent: usize| table.iter().find(|t| t.0 == seats && t.1 == percent).unwrap().2;
		assert!(odds(4, 10) < 0.01 && odds(9, 10) < 0.001, "{table:?}");
		assert!(odds(9, 33) < 0.05, "{table:?}");
	}
}
