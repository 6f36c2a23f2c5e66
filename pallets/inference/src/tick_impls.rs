//! What happens without a transaction: committee draws, phase deadlines, verdicts, settlement
//! and pruning. Everything is bounded per block.

use super::*;
use alloc::vec::Vec;
use frame_support::{
	defensive,
	pallet_prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
	weights::WeightMeter,
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{committee::select_committee, Misconduct};
use sp_runtime::traits::{Saturating, Zero};

/// How many later blocks a full deadline bucket spills into before a request gives up.
pub(crate) const SPILL_BLOCKS: u32 = 16;

/// What one processed deadline did, to charge the hook for it.
#[derive(Default)]
pub(crate) struct DeadlineWork {
	/// Members slashed.
	pub slashed: u32,
	/// Seats of the committee drawn when the request escalated (or whose candidates were read
	/// to decide against escalating).
	pub redrawn: Option<u32>,
	/// First-round answers judged against the escalated round's verdict: each costs what
	/// another seat of the deadline does.
	pub judged: u32,
}

impl DeadlineWork {
	/// What the slashes and the redraw weighed, beyond the verdict itself.
	pub(crate) fn weight<T: Config>(&self) -> Weight {
		let redraw = self.redrawn.map_or(Weight::zero(), T::WeightInfo::draw);
		Pallet::<T>::slashes_weight(self.slashed).saturating_add(redraw)
	}
}

/// How many past blocks' deadline lists one hook looks at when it is behind.
const MAX_OVERDUE_BLOCKS: u32 = 64;

impl<T: Config> Pallet<T> {
	/// The block's hook: expiries (bounded by `MaxDeadlinesPerBlock`), then due deadlines in
	/// order, then queued draws, the last two within `MaxHookWeight`. Deadlines come first:
	/// they end requests and release escrow; draws start new ones.
	pub(crate) fn tick(now: BlockNumberFor<T>) -> Weight {
		let mut weight = T::WeightInfo::on_initialize_idle();
		for id in Expiries::<T>::take(now) {
			weight.saturating_accrue(T::WeightInfo::prune_result().saturating_add(Self::deposit_weight()));
			if Results::<T>::take(id).is_some() {
				Self::deposit_event(Event::ResultPruned { request: id });
			}
			Self::release_deposit(id);
		}
		let mut meter = WeightMeter::with_limit(T::MaxHookWeight::get());
		Self::process_deadlines(now, &mut meter);
		Self::process_draws(now, &mut meter);
		weight.saturating_add(meter.consumed())
	}

	/// The most one deadline of a `seats` committee in `round` can cost: the verdict and every
	/// member slashed; for a first round, the escalated committee's draw; for an escalated one,
	/// the first round's members judged and slashed too.
	pub(crate) fn worst_deadline(seats: u32, round: u8) -> Weight {
		if round == 0 {
			return T::WeightInfo::deadline(seats)
				.saturating_add(Self::slashes_weight(seats))
				.saturating_add(T::WeightInfo::draw(protocol::escalated_seats(seats)));
		}
		let judged = seats.saturating_add(Self::judged_first_round(seats));
		T::WeightInfo::deadline(judged).saturating_add(Self::slashes_weight(judged))
	}

	/// The first-round answers an escalated round of `seats` may judge: none for a round
	/// escalated before they were kept (its two rounds could hold more than `MaxSeats`).
	fn judged_first_round(seats: u32) -> u32 {
		let first = protocol::first_round_seats(seats);
		if seats.saturating_add(first) <= T::MaxSeats::get() {
			first
		} else {
			0
		}
	}

	/// The most any one deadline can cost, over both rounds of the largest request.
	pub fn worst_single_deadline() -> Weight {
		let first = Self::max_first_round_seats();
		Self::worst_deadline(first, 0).max(Self::worst_deadline(protocol::escalated_seats(first), 1))
	}

	/// Process due deadlines, oldest block first, as far as `meter` allows; a block whose list
	/// is not finished keeps the rest and is resumed by the next hook.
	fn process_deadlines(now: BlockNumberFor<T>, meter: &mut WeightMeter) {
		let db = T::DbWeight::get();
		meter.consume(db.reads(1));
		let mut block = OverdueSince::<T>::get().unwrap_or(now);
		let mut looked = 0u32;
		while block <= now {
			if looked == MAX_OVERDUE_BLOCKS || !meter.can_consume(db.reads_writes(1, 1)) {
				OverdueSince::<T>::put(block);
				meter.consume(db.writes(1));
				return;
			}
			looked += 1;
			meter.consume(db.reads_writes(1, 1));
			let due = Deadlines::<T>::take(block);
			for (i, id) in due.iter().enumerate() {
				if !Self::process_deadline(*id, now, meter) {
					let rest: BoundedVec<RequestId, T::MaxDeadlinesPerBlock> =
						BoundedVec::truncate_from(due[i..].to_vec());
					Deadlines::<T>::insert(block, rest);
					OverdueSince::<T>::put(block);
					meter.consume(db.writes(1));
					return;
				}
			}
			block = block.saturating_add(1u32.into());
		}
		if OverdueSince::<T>::take().is_some() {
			meter.consume(db.writes(1));
		}
	}

	/// Process one due deadline if its worst case fits in `meter`; `false` if it did not fit.
	fn process_deadline(id: RequestId, now: BlockNumberFor<T>, meter: &mut WeightMeter) -> bool {
		let read = T::DbWeight::get().reads(1);
		if !meter.can_consume(read) {
			return false;
		}
		let Some(req) = Requests::<T>::get(id) else {
			meter.consume(read);
			return true;
		};
		if let Phase::Escalating { draws_at } = req.phase {
			if draws_at > now {
				meter.consume(read);
				return true;
			}
			let seats = protocol::escalated_seats(req.seats);
			let cost = read.saturating_add(T::WeightInfo::draw(seats));
			if !meter.can_consume(cost) {
				return false;
			}
			meter.consume(cost);
			Self::draw_escalation(id, req, now);
			return true;
		}
		let seats = req.committee.len() as u32;
		// `ends` is the last block a submission may be included in: due from the block after.
		let due = req.phase.ends().is_some_and(|ends| ends < now);
		if !due {
			// Moved on early; a later deadline of its own is scheduled.
			meter.consume(read);
			return true;
		}
		// Every deadline fits an empty budget (`integrity_test`), those of requests made under
		// older seat limits included: they never escalate past `MaxSeats` judged members.
		if !meter.can_consume(Self::worst_deadline(seats, req.round)) {
			return false;
		}
		let work = match req.phase {
			Phase::Commit { .. } => Self::close_commits(id, req),
			Phase::SealedReveal { .. } => Self::close_sealed_reveal(id, req),
			_ => Self::conclude(id, req),
		};
		meter.consume(T::WeightInfo::deadline(seats.saturating_add(work.judged)).saturating_add(work.weight::<T>()));
		true
	}

	/// Draw queued requests' committees in request order while `meter` allows and the block
	/// their commit phase would end in has room (two thirds of it are left to reveal and
	/// publish deadlines); end those that waited longer than `MaxDrawWait`.
	fn process_draws(now: BlockNumberFor<T>, meter: &mut WeightMeter) {
		let db = T::DbWeight::get();
		meter.consume(db.reads(2));
		// Without it nothing can be drawn fairly in this block: the queue waits for the next, but
		// requests that waited longer than `MaxDrawWait` still end, refunded.
		let randomness = T::Randomness::block_randomness();
		// Requests made since this block minus `DELAY` wait: their draw would use randomness
		// that blocks around their inclusion could still shape.
		let drawable_until = now.saturating_sub(T::Randomness::DELAY.into());
		let next = NextRequestId::<T>::get();
		let first = NextToDraw::<T>::get();
		let mut id = first;
		// The block whose hook would close the commit phases drawn now.
		let closes = now.saturating_add(T::CommitWindow::get());
		let room = (T::MaxDeadlinesPerBlock::get() / 3).max(1) as usize;
		while id < next {
			let Some(mut req) = Requests::<T>::get(id).filter(|r| matches!(r.phase, Phase::Drawing)) else {
				// Ended before its draw: nothing to do.
				if !meter.can_consume(db.reads(1)) {
					break;
				}
				meter.consume(db.reads(1));
				id = id.saturating_add(1);
				continue;
			};
			// Ending a request costs less than drawing its committee.
			let cost = T::WeightInfo::draw(req.seats);
			if !meter.can_consume(cost) {
				break;
			}
			if now.saturating_sub(req.created) > T::MaxDrawWait::get() {
				meter.consume(cost);
				Self::fail(id, req, FailureReason::Congested);
				id = id.saturating_add(1);
				continue;
			}
			// Requests are queued in the order they were made: the rest are younger still.
			let Some(randomness) = randomness.as_ref() else { break };
			if req.created > drawable_until || Deadlines::<T>::decode_len(closes).unwrap_or(0) >= room {
				break;
			}
			meter.consume(cost);
			let seats = req.seats;
			if Self::draw(id, &mut req, seats, randomness) {
				Requests::<T>::insert(id, req);
			}
			id = id.saturating_add(1);
		}
		if id != first {
			NextToDraw::<T>::put(id);
			meter.consume(db.writes(1));
		}
	}

	/// What slashing `members` committee members can weigh beyond the benchmarked path.
	pub(crate) fn slashes_weight(members: u32) -> Weight {
		T::Workers::slash_weight().saturating_mul(members.into())
	}

	/// Put `id` in the bucket of `at`, or of a later block if that is full; the block used.
	fn schedule(
		buckets: impl Fn(BlockNumberFor<T>, RequestId) -> Result<(), ()>,
		at: BlockNumberFor<T>,
		id: RequestId,
	) -> Option<BlockNumberFor<T>> {
		let mut block = at;
		for _ in 0..SPILL_BLOCKS {
			if buckets(block, id).is_ok() {
				return Some(block);
			}
			block = block.saturating_add(1u32.into());
		}
		None
	}

	/// A phase opened in block `now` for `length` blocks: the last block a submission may be
	/// included in (`ends`, what members are told), and the block whose hook closes it.
	pub(crate) fn window(now: BlockNumberFor<T>, length: BlockNumberFor<T>) -> (BlockNumberFor<T>, BlockNumberFor<T>) {
		let closes = now.saturating_add(length.max(1u32.into()));
		(closes.saturating_sub(1u32.into()), closes)
	}

	fn schedule_deadline(at: BlockNumberFor<T>, id: RequestId) -> bool {
		Self::schedule_deadline_at(at, id).is_some()
	}

	/// Schedule `id` in the deadline list of `at` or, when full, of a later block: the block used.
	fn schedule_deadline_at(at: BlockNumberFor<T>, id: RequestId) -> Option<BlockNumberFor<T>> {
		Self::schedule(|b, id| Deadlines::<T>::try_mutate(b, |v| v.try_push(id).map_err(|_| ())), at, id)
	}

	/// Draw a committee of `seats` for the request's current round and open its commit phase.
	/// On failure the request is ended and refunded, and `false` returned.
	pub(crate) fn draw(id: RequestId, req: &mut RequestOf<T>, seats: u32, randomness: &[u8; 32]) -> bool {
		use sp_runtime::SaturatedConversion;
		let candidates: Vec<(T::AccountId, u128)> = T::Workers::eligible_workers(&req.model)
			.into_iter()
			.map(|(w, stake)| (w, stake.saturated_into::<u128>()))
			.collect();
		let seed = protocol::draw_seed(randomness, id, req.round);
		let drawn = match select_committee(&candidates, seats, &seed) {
			Ok(drawn) => drawn,
			Err(_) => {
				Self::fail(id, req.clone(), FailureReason::NotEnoughWorkers);
				return false;
			},
		};
		let members: Option<Vec<Seat<T::AccountId, T::WorkerKey>>> = drawn
			.iter()
			.map(|w| {
				T::Workers::key_of_worker(w).map(|key| Seat {
					worker: w.clone(),
					key,
					commitment: None,
					revealed: false,
				})
			})
			.collect();
		let Some(committee) = members.and_then(|m| BoundedVec::try_from(m).ok()) else {
			Self::fail(id, req.clone(), FailureReason::NotEnoughWorkers);
			return false;
		};
		let now = frame_system::Pallet::<T>::block_number();
		let (ends, closes) = Self::window(now, T::CommitWindow::get());
		if !Self::schedule_deadline(closes, id) {
			Self::fail(id, req.clone(), FailureReason::Congested);
			return false;
		}
		for member in committee.iter() {
			Assignments::<T>::insert(&member.worker, id, ());
		}
		req.committee = committee;
		req.phase = Phase::Commit { ends };
		Self::deposit_event(Event::CommitteeDrawn { request: id, round: req.round, members: drawn, commit_ends: ends });
		true
	}

	/// Open the reveal phase now (every member committed, or the commit deadline passed) and
	/// store the request; with no room left to schedule its deadline, fail it instead. A first
	/// round that may escalate is sealed: it reveals digests, not answers.
	pub(crate) fn start_reveal(id: RequestId, mut req: RequestOf<T>) {
		let Some(ends) = Self::open_phase(id) else {
			Self::fail(id, req, FailureReason::Congested);
			return;
		};
		req.phase = if Self::sealed(&req) { Phase::SealedReveal { ends } } else { Phase::Reveal { ends } };
		Requests::<T>::insert(id, req);
		Self::deposit_event(Event::RevealStarted { request: id, ends });
	}

	/// Schedule the deadline of a reveal or publish phase opening now; the last block it takes
	/// submissions, or `None` when no block has room for the deadline.
	fn open_phase(id: RequestId) -> Option<BlockNumberFor<T>> {
		let now = frame_system::Pallet::<T>::block_number();
		let (ends, closes) = Self::window(now, T::RevealWindow::get());
		Self::schedule_deadline(closes, id).then_some(ends)
	}

	/// Whether the request's current round reveals sealed: a first round that may escalate,
	/// of a request made since commitments bind answers by digest.
	pub(crate) fn sealed(req: &RequestOf<T>) -> bool {
		req.round == 0 && req.created >= SealedSince::<T>::get() && Self::can_escalate(req)
	}

	/// Whether a request without a quorum in its current round would escalate: a first round
	/// whose escalation fits `MaxSeats` with it and whose `max_fee` pays both rounds' members.
	pub(crate) fn can_escalate(req: &RequestOf<T>) -> bool {
		let seats = protocol::escalated_seats(req.seats);
		let judged = req.seats.saturating_add(seats);
		let affordable = protocol::cost(req.price, T::VerificationFee::get(), T::TreasuryShare::get(), judged)
			.is_some_and(|c| c.total <= req.max_fee);
		req.round == 0 && judged <= T::MaxSeats::get() && affordable
	}

	/// The sealed reveal phase is over: slash who committed without revealing a digest. A
	/// quorum of equal digests publishes its answers and is judged; without one the request
	/// escalates before any answer is public (or, when it cannot escalate, publishes anyway to
	/// be judged by the rule, which may still find a quorum among different bits).
	pub(crate) fn close_sealed_reveal(id: RequestId, mut req: RequestOf<T>) -> DeadlineWork {
		let mut work = DeadlineWork::default();
		for member in req.committee.iter().filter(|m| m.commitment.is_some() && !m.revealed) {
			Self::slash_member(id, &member.worker, Misconduct::BadOrMissingReveal);
			work.slashed += 1;
		}
		let seats = req.committee.len() as u32;
		let quorum = opg_primitives::inference::quorum(seats);
		let digests: Vec<[u8; 32]> = Digests::<T>::iter_prefix_values(id).map(|s| s.digest).collect();
		let largest = digests.iter().map(|d| digests.iter().filter(|e| *e == d).count()).max().unwrap_or(0) as u32;
		// Without equal digests an answer under a tolerance rule may still agree; when no
		// escalation can be drawn for it (too few workers serve the model), the round is
		// published and judged by the rule rather than failed.
		let tolerant = req.rule != opg_primitives::inference::ComparisonRule::Exact;
		let mut judge_here = || {
			if !Self::can_escalate(&req) {
				return true;
			}
			if !tolerant {
				return false;
			}
			let escalated = protocol::escalated_seats(req.seats);
			// Charged like the draw it stands in for.
			work.redrawn = Some(escalated);
			(T::Workers::eligible_workers(&req.model).len() as u32) < escalated
		};
		if largest >= quorum || (digests.len() as u32 >= quorum && judge_here()) {
			let Some(ends) = Self::open_phase(id) else {
				Self::fail(id, req, FailureReason::Congested);
				return work;
			};
			req.phase = Phase::Publish { ends };
			Requests::<T>::insert(id, req);
			Self::deposit_event(Event::PublishStarted { request: id, ends });
		} else {
			Self::escalate_or_fail(id, req);
		}
		work
	}

	fn slash_member(id: RequestId, worker: &T::AccountId, reason: Misconduct) {
		let fraction = match reason {
			Misconduct::NoShow => T::NoShowSlash::get(),
			// A committee member only lies or hides; validator offences are not slashed here.
			Misconduct::WrongOutput | Misconduct::BadOrMissingReveal | Misconduct::ValidatorOffence => {
				T::WrongOutputSlash::get()
			},
		};
		let amount = T::Workers::slash(worker, fraction, reason);
		Self::deposit_event(Event::MemberSlashed { request: id, worker: worker.clone(), reason, amount });
	}

	/// The commit deadline passed: slash who did not commit; reveal if a quorum still can agree.
	/// A round where nobody committed fails at once with a full refund and no slash: a model
	/// whose bundle cannot be fetched or loaded silences every honest member alike, and nobody
	/// can tell that from a silent committee (a larger one would not do better).
	fn close_commits(id: RequestId, req: RequestOf<T>) -> DeadlineWork {
		if req.committee.iter().all(|m| m.commitment.is_none()) {
			Self::fail(id, req, FailureReason::Unanswered);
			return DeadlineWork::default();
		}
		let mut work = DeadlineWork::default();
		let mut committed = 0u32;
		for member in req.committee.iter() {
			if member.commitment.is_some() {
				committed += 1;
			} else {
				Self::slash_member(id, &member.worker, Misconduct::NoShow);
				work.slashed += 1;
			}
		}
		let seats = req.committee.len() as u32;
		if committed >= opg_primitives::inference::quorum(seats) {
			Self::start_reveal(id, req);
		} else {
			Self::escalate_or_fail(id, req);
		}
		work
	}

	/// The reveal phase is over: judge, then settle, reject, escalate or fail. An escalated
	/// round's verdict also judges the first round's answers: a member who revealed another
	/// answer there is slashed, one who revealed the agreed answer is paid like this round's.
	pub(crate) fn conclude(id: RequestId, req: RequestOf<T>) -> DeadlineWork {
		let mut work = DeadlineWork::default();
		let seats = req.committee.len() as u32;
		let mut revealed: Vec<(u32, AnswerOf<T>)> = Vec::new();
		for (seat, member) in req.committee.iter().enumerate() {
			if member.commitment.is_none() {
				continue;
			}
			let answer = match (member.revealed, req.phase) {
				(true, _) => Outputs::<T>::get(id, seat as u32),
				// Slashed when its sealed reveal phase closed.
				(false, Phase::Publish { .. }) => continue,
				(false, _) => None,
			};
			match answer {
				Some(answer) => revealed.push((seat as u32, answer)),
				// Committed and did not reveal, or (sealed) did not publish the answer behind its
				// digest.
				None => {
					Self::slash_member(id, &member.worker, Misconduct::BadOrMissingReveal);
					work.slashed += 1;
				},
			}
		}
		if req.round > 0 {
			// The sealed first round's members that did not publish what they revealed.
			let sealed: Vec<(u32, SealedAnswerOf<T>)> = Digests::<T>::iter_prefix(id).collect();
			work.judged = sealed.len() as u32;
			for (seat, s) in sealed {
				if !FirstRoundAnswers::<T>::contains_key(id, seat) {
					Self::slash_member(id, &s.worker, Misconduct::BadOrMissingReveal);
					work.slashed += 1;
				}
			}
		}
		let rule = req.rule;
		match protocol::judge(seats, &revealed, |a, b| a.agrees(b, rule)) {
			protocol::Verdict::Agreed { output, agreeing, disagreeing } => {
				for seat in disagreeing {
					Self::slash_member(id, &req.committee[seat as usize].worker, Misconduct::WrongOutput);
					work.slashed += 1;
				}
				let Some(answer) = revealed.into_iter().find(|(s, _)| *s == output).map(|(_, a)| a) else {
					// The verdict names a revealed seat, so this cannot happen.
					defensive!("the agreed seat has no answer");
					Self::fail(id, req, FailureReason::NoQuorum);
					return work;
				};
				let mut agreeing: Vec<T::AccountId> =
					agreeing.iter().map(|s| req.committee[*s as usize].worker.clone()).collect();
				let mut first_round: Vec<(u32, (T::AccountId, AnswerOf<T>))> =
					FirstRoundAnswers::<T>::drain_prefix(id).collect();
				first_round.sort_by_key(|(seat, _)| *seat);
				work.judged = work.judged.max(first_round.len() as u32);
				for (_, (worker, earlier)) in first_round {
					if earlier.agrees(&answer, rule) {
						agreeing.push(worker);
					} else {
						Self::slash_member(id, &worker, Misconduct::WrongOutput);
						work.slashed += 1;
					}
				}
				Self::settle(id, req, answer, agreeing);
			},
			// Published answers cannot be sealed again: a round that published ends here.
			protocol::Verdict::NoQuorum if matches!(req.phase, Phase::Publish { .. }) => {
				Self::fail(id, req, FailureReason::NoQuorum)
			},
			protocol::Verdict::NoQuorum => Self::escalate_or_fail(id, req),
		}
		work
	}

	fn clear_round(id: RequestId, req: &RequestOf<T>) {
		for (seat, member) in req.committee.iter().enumerate() {
			Outputs::<T>::remove(id, seat as u32);
			Assignments::<T>::remove(&member.worker, id);
		}
	}

	/// Forget a finished request's sealed first round, and its members' assignments to it.
	fn clear_sealed(id: RequestId) {
		for (_, sealed) in Digests::<T>::drain_prefix(id) {
			Assignments::<T>::remove(&sealed.worker, id);
		}
	}

	/// Escalate to a larger committee once, drawn `DELAY` blocks later, or fail. The first
	/// round's revealed answers are kept to be judged by the escalated round's verdict, so
	/// `max_fee` must cover paying both rounds' members (`3k + 1` fees).
	fn escalate_or_fail(id: RequestId, mut req: RequestOf<T>) {
		let seats = protocol::escalated_seats(req.seats);
		// Both rounds' members must fit one deadline's judgement, and `max_fee` pay them.
		if !Self::can_escalate(&req) {
			// No round reached a quorum, so no answer is known to be wrong: the requester gets
			// everything back and nobody who revealed is slashed (the silent ones already were).
			Self::fail(id, req, FailureReason::NoQuorum);
			return;
		}
		for (seat, member) in req.committee.iter().enumerate() {
			if let Some(answer) = Outputs::<T>::take(id, seat as u32) {
				FirstRoundAnswers::<T>::insert(id, seat as u32, (member.worker.clone(), answer));
			}
		}
		Self::clear_round(id, &req);
		// A sealed first round's members publish during the escalated round's reveal phase.
		for sealed in Digests::<T>::iter_prefix_values(id) {
			Assignments::<T>::insert(&sealed.worker, id, ());
		}
		req.round = req.round.saturating_add(1);
		req.committee = Default::default();
		// Drawn from randomness of blocks built after this verdict: whoever's transaction or
		// block closed the round cannot know it.
		let now = frame_system::Pallet::<T>::block_number();
		let Some(draws_at) = Self::schedule_deadline_at(now.saturating_add(T::Randomness::DELAY.max(1).into()), id)
		else {
			Self::fail(id, req, FailureReason::Congested);
			return;
		};
		req.phase = Phase::Escalating { draws_at };
		Requests::<T>::insert(id, req);
		Self::deposit_event(Event::Escalated { request: id, seats, draws_at });
	}

	/// Draw an escalated committee in block `now`, whose hook found it due; without randomness
	/// in this block the draw moves to the next.
	fn draw_escalation(id: RequestId, mut req: RequestOf<T>, now: BlockNumberFor<T>) {
		let Some(randomness) = T::Randomness::block_randomness() else {
			match Self::schedule_deadline_at(now.saturating_add(1u32.into()), id) {
				Some(draws_at) => {
					req.phase = Phase::Escalating { draws_at };
					Requests::<T>::insert(id, req);
				},
				None => Self::fail(id, req, FailureReason::Congested),
			}
			return;
		};
		let seats = protocol::escalated_seats(req.seats);
		if Self::draw(id, &mut req, seats, &randomness) {
			Requests::<T>::insert(id, req);
		}
	}

	/// Move `amount` of the requester's escrow to `to`; what cannot be moved stays held and is
	/// released with the rest.
	fn pay(requester: &T::AccountId, to: &T::AccountId, amount: BalanceOf<T>) -> BalanceOf<T> {
		if amount.is_zero() {
			return amount;
		}
		T::Currency::transfer_on_hold(
			&HoldReason::Escrow.into(),
			requester,
			to,
			amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Polite,
		)
		.unwrap_or_else(|_| Zero::zero())
	}

	/// Return a request's storage deposit: its request and answer are gone from state.
	pub(crate) fn release_deposit(id: RequestId) {
		let Some((who, amount)) = Deposits::<T>::take(id) else { return };
		if T::Currency::release(&HoldReason::RequestDeposit.into(), &who, amount, Precision::BestEffort).is_err() {
			// Deposits match their holds (a `try_state` invariant), so this cannot fail.
			defensive!("request deposit release failed");
		}
	}

	fn release_rest(requester: &T::AccountId, amount: BalanceOf<T>) {
		if amount.is_zero() {
			return;
		}
		if T::Currency::release(&HoldReason::Escrow.into(), requester, amount, Precision::Exact).is_err() {
			// Holds match open requests (a `try_state` invariant), so this cannot fail.
			defensive!("escrow release failed");
		}
	}

	/// Pay for an agreed answer. An output pays the owner its price, each agreeing member its
	/// fee and the treasury its share; a refusal of the input pays the members and the
	/// treasury's share of their fees only. The rest of the hold returns to the requester.
	fn settle(id: RequestId, req: RequestOf<T>, answer: AnswerOf<T>, agreeing: Vec<T::AccountId>) {
		Self::clear_round(id, &req);
		Self::clear_sealed(id);
		Requests::<T>::remove(id);
		let requester = req.requester.clone();
		let fee = T::VerificationFee::get();
		let price = match answer {
			StoredAnswer::Output(_) => req.price,
			StoredAnswer::Rejected(_) => Zero::zero(),
		};
		let mut paid = Self::pay(&requester, &req.owner, price);
		let pot = T::Workers::reward_account();
		for worker in agreeing.iter() {
			let moved = Self::pay(&requester, &pot, fee);
			if !moved.is_zero() {
				T::Workers::credit_reward(worker, moved);
			}
			paid = paid.saturating_add(moved);
		}
		let work = price.saturating_add(fee.saturating_mul((agreeing.len() as u32).into()));
		let treasury_fee = T::TreasuryShare::get().mul_ceil(work);
		paid = paid.saturating_add(Self::pay(&requester, &T::Treasury::get(), treasury_fee));
		Self::release_rest(&requester, req.max_fee.saturating_sub(paid));

		let now = frame_system::Pallet::<T>::block_number();
		let expires = now.saturating_add(T::ResultRetention::get());
		let stored =
			Self::schedule(|b, id| Expiries::<T>::try_mutate(b, |v| v.try_push(id).map_err(|_| ())), expires, id)
				.is_some();
		if stored {
			Results::<T>::insert(
				id,
				InferenceResult {
					model: req.model,
					answer: answer.clone(),
					settled: now,
					rule: req.rule,
					profile: req.profile,
					requested: req.extrinsic.map(|index| Inclusion { block: req.created, index }),
				},
			);
		} else {
			// No answer kept: nothing left in state to pay for.
			Self::release_deposit(id);
		}
		match answer {
			StoredAnswer::Output(output) => {
				T::OnResult::on_result(id, &requester, &req.model, output.as_bytes());
				Self::deposit_event(Event::Settled { request: id, output, agreeing, paid });
			},
			StoredAnswer::Rejected(reason) => {
				T::OnResult::on_rejected(id, &requester, &req.model, reason);
				Self::deposit_event(Event::Rejected { request: id, reason, agreeing, paid });
			},
		}
	}

	pub(crate) fn fail(id: RequestId, req: RequestOf<T>, reason: FailureReason) {
		Self::clear_round(id, &req);
		Self::clear_sealed(id);
		if req.round > 0 {
			let _ = FirstRoundAnswers::<T>::clear_prefix(id, T::MaxSeats::get(), None);
		}
		Requests::<T>::remove(id);
		Self::release_rest(&req.requester, req.max_fee);
		Self::release_deposit(id);
		T::OnResult::on_failure(id, &req.requester, reason);
		Self::deposit_event(Event::Failed { request: id, reason });
	}
}
