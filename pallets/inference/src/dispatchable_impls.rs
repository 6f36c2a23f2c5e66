//! Bodies of the calls and of their authorization. Each reads and checks first, then moves
//! funds, then writes storage and emits its event.

use super::*;
use alloc::vec::Vec;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, Mutate, MutateHold},
		tokens::{Fortitude, Precision, Preservation},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::inference::{
	Answer, BoundedValue, ComparisonRule, ExecutionProfile, ModelFormat, Value, ValueError,
};
use sp_runtime::{
	traits::{Saturating, Zero},
	transaction_validity::{InvalidTransaction, TransactionSource, TransactionValidityWithRefund, ValidTransaction},
	RuntimeAppPublic,
};

impl<T: Config> Pallet<T> {
	fn bounded_uris(uris: Vec<Vec<u8>>) -> Result<UrisOf<T>, Error<T>> {
		ensure!(!uris.is_empty(), Error::<T>::BadUris);
		let uris = uris
			.into_iter()
			.map(|u| (!u.is_empty()).then_some(u).and_then(|u| u.try_into().ok()))
			.collect::<Option<Vec<_>>>()
			.ok_or(Error::<T>::BadUris)?;
		uris.try_into().map_err(|_| Error::<T>::BadUris)
	}

	pub(crate) fn hold(reason: HoldReason, who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let spendable = T::Currency::reducible_balance(who, Preservation::Preserve, Fortitude::Polite);
		ensure!(spendable >= amount, Error::<T>::InsufficientBalance);
		T::Currency::hold(&reason.into(), who, amount)
	}

	#[allow(clippy::too_many_arguments)]
	pub(crate) fn do_register_model(
		owner: T::AccountId,
		id: T::ModelId,
		format: ModelFormat,
		architecture: Vec<u8>,
		price: BalanceOf<T>,
		rule: ComparisonRule,
		profile: ExecutionProfile,
		uris: Vec<Vec<u8>>,
	) -> DispatchResult {
		ensure!(!Models::<T>::contains_key(id), Error::<T>::ModelExists);
		ensure!(rule.is_bounded(), Error::<T>::RuleTooLoose);
		ensure!(profile.is_served_up_to(T::LatestPortableVersion::get()), Error::<T>::UnsupportedProfile);
		ensure!(!architecture.is_empty(), Error::<T>::BadArchitecture);
		let architecture: BoundedVec<_, _> = architecture.try_into().map_err(|_| Error::<T>::BadArchitecture)?;
		let uris = Self::bounded_uris(uris)?;
		let deposit = T::ModelDeposit::get();

		Self::hold(HoldReason::ModelDeposit, &owner, deposit)?;
		let model = Model { owner: owner.clone(), format, architecture, price, rule, profile, uris, deposit };
		Models::<T>::insert(id, model);
		Self::deposit_event(Event::ModelRegistered { model: id, owner, price });
		Ok(())
	}

	pub(crate) fn do_update_model(
		who: T::AccountId,
		id: T::ModelId,
		price: BalanceOf<T>,
		uris: Vec<Vec<u8>>,
	) -> DispatchResult {
		let mut model = Models::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(model.owner == who, Error::<T>::NotOwner);
		model.uris = Self::bounded_uris(uris)?;
		model.price = price;
		Models::<T>::insert(id, model);
		Self::deposit_event(Event::ModelUpdated { model: id, price });
		Ok(())
	}

	pub(crate) fn do_retire_model(who: T::AccountId, id: T::ModelId) -> DispatchResult {
		let model = Models::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(model.owner == who, Error::<T>::NotOwner);

		T::Currency::release(&HoldReason::ModelDeposit.into(), &who, model.deposit, Precision::BestEffort)?;
		Models::<T>::remove(id);
		Self::deposit_event(Event::ModelRetired { model: id });
		Ok(())
	}

	pub(crate) fn do_request_inference(
		requester: T::AccountId,
		model_id: T::ModelId,
		input: Value,
		max_fee: BalanceOf<T>,
		seats: Option<u32>,
	) -> DispatchResult {
		let model = Models::<T>::get(model_id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(!input.is_empty(), Error::<T>::EmptyInput);
		let input = BoundedValue::<T::MaxInputLen>::new(&input).map_err(|_| Error::<T>::InputTooLarge)?;
		let seats = seats.unwrap_or_else(T::DefaultSeats::get);
		ensure!(seats >= 1 && seats <= Self::max_first_round_seats(), Error::<T>::SeatsOutOfBounds);
		let cost = protocol::cost(model.price, T::VerificationFee::get(), T::TreasuryShare::get(), seats)
			.ok_or(Error::<T>::Overflow)?;
		ensure!(max_fee >= cost.total, Error::<T>::FeeTooLow);
		let eligible = T::Workers::eligible_workers(&model_id).len() as u32;
		ensure!(eligible >= seats, Error::<T>::NotEnoughWorkers);
		let id = NextRequestId::<T>::get();
		let pending = id.saturating_sub(NextToDraw::<T>::get());
		ensure!(pending < u64::from(T::MaxPendingDraws::get()), Error::<T>::TooManyRequests);
		let queue_fee = Self::queue_fee();
		let deposit = T::RequestDeposit::get();
		let needed = max_fee.saturating_add(deposit).saturating_add(queue_fee);
		let spendable = T::Currency::reducible_balance(&requester, Preservation::Preserve, Fortitude::Polite);
		ensure!(spendable >= needed, Error::<T>::InsufficientBalance);

		Self::hold(HoldReason::Escrow, &requester, max_fee)?;
		Self::hold(HoldReason::RequestDeposit, &requester, deposit)?;
		if !queue_fee.is_zero() {
			T::Currency::transfer(&requester, &T::Treasury::get(), queue_fee, Preservation::Preserve)?;
		}
		if !deposit.is_zero() {
			Deposits::<T>::insert(id, (requester.clone(), deposit));
		}
		let request = Request {
			requester: requester.clone(),
			model: model_id,
			input,
			owner: model.owner,
			price: model.price,
			rule: model.rule,
			profile: model.profile,
			seats,
			max_fee,
			round: 0,
			phase: Phase::Drawing,
			committee: Default::default(),
			created: frame_system::Pallet::<T>::block_number(),
			extrinsic: frame_system::Pallet::<T>::extrinsic_index(),
		};
		Requests::<T>::insert(id, request);
		NextRequestId::<T>::put(id.saturating_add(1));
		Self::deposit_event(Event::InferenceRequested { request: id, requester, model: model_id, seats, max_fee });
		Ok(())
	}

	/// The open request, and the seat of `key` in it, for a submission in `round`.
	fn seat_of(request: RequestId, round: u8, key: &T::WorkerKey) -> Result<(RequestOf<T>, u32), Error<T>> {
		let req = Requests::<T>::get(request).ok_or(Error::<T>::UnknownRequest)?;
		ensure!(req.round == round, Error::<T>::WrongPhase);
		let seat = req.committee.iter().position(|m| &m.key == key).ok_or(Error::<T>::NotMember)?;
		Ok((req, seat as u32))
	}

	/// Everything a commit must satisfy, at validation and at dispatch.
	fn check_commit(
		request: RequestId,
		round: u8,
		key: &T::WorkerKey,
		commitment: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> Result<(RequestOf<T>, u32, BlockNumberFor<T>), Error<T>> {
		let (req, seat) = Self::seat_of(request, round, key)?;
		let Phase::Commit { ends } = req.phase else {
			return Err(Error::<T>::WrongPhase);
		};
		ensure!(frame_system::Pallet::<T>::block_number() <= ends, Error::<T>::WrongPhase);
		ensure!(req.committee[seat as usize].commitment.is_none(), Error::<T>::AlreadyCommitted);
		ensure!(key.verify(&commit_payload(request, round, commitment), signature), Error::<T>::BadSignature);
		Ok((req, seat, ends))
	}

	/// Everything a reveal must satisfy, at validation and at dispatch.
	fn check_reveal(
		request: RequestId,
		round: u8,
		key: &T::WorkerKey,
		answer: &Answer,
		salt: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> Result<(RequestOf<T>, u32, BlockNumberFor<T>), Error<T>> {
		let (req, seat) = Self::seat_of(request, round, key)?;
		let Phase::Reveal { ends } = req.phase else {
			return Err(Error::<T>::WrongPhase);
		};
		ensure!(frame_system::Pallet::<T>::block_number() <= ends, Error::<T>::WrongPhase);
		Self::check_answer(answer)?;
		let member = &req.committee[seat as usize];
		let committed = member.commitment.ok_or(Error::<T>::CannotReveal)?;
		ensure!(!member.revealed, Error::<T>::CannotReveal);
		ensure!(key.verify(&reveal_payload(request, round, answer, salt), signature), Error::<T>::BadSignature);
		// A request made before commitments bound the answer by its digest also takes a
		// commitment of the earlier form, so one committed across the upgrade can end.
		let matches = opg_primitives::inference::commitment(answer, &member.worker, salt) == committed
			|| (req.created < SealedSince::<T>::get()
				&& opg_primitives::inference::legacy_commitment(answer, &member.worker, salt) == committed);
		ensure!(matches, Error::<T>::CommitmentMismatch);
		Ok((req, seat, ends))
	}

	/// An output must be one encoded value within `MaxOutputLen`.
	fn check_answer(answer: &Answer) -> Result<(), Error<T>> {
		if let Answer::Output(output) = answer {
			ensure!(output.len() as u32 <= T::MaxOutputLen::get(), Error::<T>::OutputTooLarge);
			ensure!(
				BoundedValue::<T::MaxOutputLen>::from_encoded(output.clone()).is_ok(),
				Error::<T>::UndecodableOutput
			);
		}
		Ok(())
	}

	/// A checked answer as stored.
	fn stored_answer(answer: Answer) -> Result<AnswerOf<T>, Error<T>> {
		AnswerOf::<T>::bounded(answer).map_err(|e| match e {
			ValueError::TooLarge => Error::<T>::OutputTooLarge,
			ValueError::Undecodable => Error::<T>::UndecodableOutput,
		})
	}

	/// Everything a sealed reveal must satisfy, at validation and at dispatch.
	fn check_reveal_digest(
		request: RequestId,
		round: u8,
		key: &T::WorkerKey,
		digest: &[u8; 32],
		salt: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> Result<(RequestOf<T>, u32, BlockNumberFor<T>), Error<T>> {
		let (req, seat) = Self::seat_of(request, round, key)?;
		let Phase::SealedReveal { ends } = req.phase else {
			return Err(Error::<T>::WrongPhase);
		};
		ensure!(frame_system::Pallet::<T>::block_number() <= ends, Error::<T>::WrongPhase);
		let member = &req.committee[seat as usize];
		let committed = member.commitment.ok_or(Error::<T>::CannotReveal)?;
		ensure!(!member.revealed, Error::<T>::CannotReveal);
		ensure!(key.verify(&reveal_digest_payload(request, round, digest, salt), signature), Error::<T>::BadSignature);
		ensure!(
			opg_primitives::inference::sealed_commitment(digest, &member.worker, salt) == committed,
			Error::<T>::CommitmentMismatch
		);
		Ok((req, seat, ends))
	}

	/// Everything a publication must satisfy, at validation and at dispatch: the request's
	/// sealed first round is being published (its own `Publish` phase, or the escalated
	/// round's reveal phase), `key` revealed a digest there and has not published, and the
	/// answer has that digest. The seat and what it revealed, and the last block of the phase.
	fn check_publish(
		request: RequestId,
		key: &T::WorkerKey,
		answer: &Answer,
		signature: &SignatureOf<T>,
	) -> Result<(RequestOf<T>, u32, SealedAnswerOf<T>, BlockNumberFor<T>), Error<T>> {
		let req = Requests::<T>::get(request).ok_or(Error::<T>::UnknownRequest)?;
		let ends = match req.phase {
			Phase::Publish { ends } if req.round == 0 => ends,
			Phase::Reveal { ends } if req.round > 0 => ends,
			_ => return Err(Error::<T>::WrongPhase),
		};
		ensure!(frame_system::Pallet::<T>::block_number() <= ends, Error::<T>::WrongPhase);
		let (seat, sealed) =
			Digests::<T>::iter_prefix(request).find(|(_, s)| &s.key == key).ok_or(Error::<T>::NotMember)?;
		ensure!(!Self::published(request, req.round, seat), Error::<T>::CannotReveal);
		Self::check_answer(answer)?;
		ensure!(key.verify(&publish_payload(request, answer), signature), Error::<T>::BadSignature);
		ensure!(opg_primitives::inference::answer_digest(answer) == sealed.digest, Error::<T>::CommitmentMismatch);
		Ok((req, seat, sealed, ends))
	}

	/// Whether first-round seat `seat` has published its answer while the request is in `round`.
	pub(crate) fn published(request: RequestId, round: u8, seat: u32) -> bool {
		if round == 0 {
			Outputs::<T>::contains_key(request, seat)
		} else {
			FirstRoundAnswers::<T>::contains_key(request, seat)
		}
	}

	/// Whether every submission the open phase waits for is in, so it can end early.
	pub(crate) fn all_in(id: RequestId, req: &RequestOf<T>) -> bool {
		match req.phase {
			Phase::Publish { .. } => req
				.committee
				.iter()
				.enumerate()
				.all(|(seat, m)| !m.revealed || Outputs::<T>::contains_key(id, seat as u32)),
			_ => {
				req.committee.iter().all(|m| m.commitment.is_none() || m.revealed)
					&& (req.round == 0
						|| Digests::<T>::iter_key_prefix(id).all(|seat| FirstRoundAnswers::<T>::contains_key(id, seat)))
			},
		}
	}

	fn validity(
		tag: &'static [u8],
		request: RequestId,
		round: u8,
		seat: u32,
		ends: BlockNumberFor<T>,
	) -> TransactionValidityWithRefund {
		use sp_runtime::SaturatedConversion;
		let now = frame_system::Pallet::<T>::block_number();
		let longevity = ends.saturating_sub(now).saturated_into::<u64>().saturating_add(1);
		let validity = ValidTransaction::with_tag_prefix("opg-inference")
			.priority(TransactionPriority::MAX / 2)
			.and_provides((tag, request, round, seat))
			.longevity(longevity)
			.propagate(true)
			.build()?;
		Ok((validity, Weight::zero()))
	}

	pub(crate) fn authorize_commit(
		_source: TransactionSource,
		request: &RequestId,
		round: &u8,
		key: &T::WorkerKey,
		commitment: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> TransactionValidityWithRefund {
		let (_, seat, ends) =
			Self::check_commit(*request, *round, key, commitment, signature).map_err(|e| invalid(e))?;
		Self::validity(b"commit", *request, *round, seat, ends)
	}

	pub(crate) fn authorize_reveal(
		_source: TransactionSource,
		request: &RequestId,
		round: &u8,
		key: &T::WorkerKey,
		answer: &Answer,
		salt: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> TransactionValidityWithRefund {
		let (_, seat, ends) =
			Self::check_reveal(*request, *round, key, answer, salt, signature).map_err(|e| invalid(e))?;
		Self::validity(b"reveal", *request, *round, seat, ends)
	}

	pub(crate) fn authorize_reveal_digest(
		_source: TransactionSource,
		request: &RequestId,
		round: &u8,
		key: &T::WorkerKey,
		digest: &[u8; 32],
		salt: &[u8; 32],
		signature: &SignatureOf<T>,
	) -> TransactionValidityWithRefund {
		let (_, seat, ends) =
			Self::check_reveal_digest(*request, *round, key, digest, salt, signature).map_err(|e| invalid(e))?;
		Self::validity(b"reveal", *request, *round, seat, ends)
	}

	pub(crate) fn authorize_publish(
		_source: TransactionSource,
		request: &RequestId,
		key: &T::WorkerKey,
		answer: &Answer,
		signature: &SignatureOf<T>,
	) -> TransactionValidityWithRefund {
		let (_, seat, _, ends) = Self::check_publish(*request, key, answer, signature).map_err(|e| invalid(e))?;
		Self::validity(b"publish", *request, 0, seat, ends)
	}

	pub(crate) fn do_commit(
		request: RequestId,
		round: u8,
		key: T::WorkerKey,
		commitment: [u8; 32],
		signature: &SignatureOf<T>,
	) -> DispatchResultWithPostInfo {
		let (mut req, seat, _) = Self::check_commit(request, round, &key, &commitment, signature)?;
		let worker = req.committee[seat as usize].worker.clone();
		req.committee[seat as usize].commitment = Some(commitment);
		let all_in = req.committee.iter().all(|m| m.commitment.is_some());
		Self::deposit_event(Event::Committed { request, worker });
		if all_in {
			Self::start_reveal(request, req);
		} else {
			Requests::<T>::insert(request, req);
		}
		Ok(Some(T::WeightInfo::commit()).into())
	}

	pub(crate) fn do_reveal(
		request: RequestId,
		round: u8,
		key: T::WorkerKey,
		answer: Answer,
		salt: [u8; 32],
		signature: &SignatureOf<T>,
	) -> DispatchResultWithPostInfo {
		let (mut req, seat, _) = Self::check_reveal(request, round, &key, &answer, &salt, signature)?;
		let answer = Self::stored_answer(answer)?;
		let worker = req.committee[seat as usize].worker.clone();
		req.committee[seat as usize].revealed = true;
		Outputs::<T>::insert(request, seat, answer);
		Self::deposit_event(Event::Revealed { request, worker });
		if Self::all_in(request, &req) {
			let seats = req.committee.len() as u32;
			let work = Self::conclude(request, req);
			let judged = seats.saturating_add(work.judged);
			return Ok(Some(T::WeightInfo::reveal(judged).saturating_add(work.weight::<T>())).into());
		}
		Requests::<T>::insert(request, req);
		Ok(Some(T::WeightInfo::reveal(0).saturating_add(Self::sealed_reads_weight())).into())
	}

	pub(crate) fn do_reveal_digest(
		request: RequestId,
		round: u8,
		key: T::WorkerKey,
		digest: [u8; 32],
		salt: [u8; 32],
		signature: &SignatureOf<T>,
	) -> DispatchResultWithPostInfo {
		let (mut req, seat, _) = Self::check_reveal_digest(request, round, &key, &digest, &salt, signature)?;
		let worker = req.committee[seat as usize].worker.clone();
		req.committee[seat as usize].revealed = true;
		Digests::<T>::insert(request, seat, SealedAnswer { worker: worker.clone(), key, digest });
		Self::deposit_event(Event::Revealed { request, worker });
		if Self::all_in(request, &req) {
			let seats = req.committee.len() as u32;
			let work = Self::close_sealed_reveal(request, req);
			let weight = T::WeightInfo::reveal(seats).saturating_add(work.weight::<T>());
			return Ok(Some(weight.saturating_add(Self::sealed_reads_weight())).into());
		}
		Requests::<T>::insert(request, req);
		Ok(Some(T::WeightInfo::reveal(0).saturating_add(Self::sealed_reads_weight())).into())
	}

	pub(crate) fn do_publish(
		request: RequestId,
		key: T::WorkerKey,
		answer: Answer,
		signature: &SignatureOf<T>,
	) -> DispatchResultWithPostInfo {
		let (req, seat, sealed, _) = Self::check_publish(request, &key, &answer, signature)?;
		let answer = Self::stored_answer(answer)?;
		if req.round == 0 {
			Outputs::<T>::insert(request, seat, answer);
		} else {
			FirstRoundAnswers::<T>::insert(request, seat, (sealed.worker.clone(), answer));
		}
		Self::deposit_event(Event::Published { request, worker: sealed.worker });
		if Self::all_in(request, &req) {
			let seats = req.committee.len() as u32;
			let work = Self::conclude(request, req);
			let judged = seats.saturating_add(work.judged);
			return Ok(Some(T::WeightInfo::reveal(judged).saturating_add(work.weight::<T>())).into());
		}
		Ok(Some(T::WeightInfo::reveal(0).saturating_add(Self::sealed_reads_weight())).into())
	}

	/// Funds the pallet holds on `who` for `reason`.
	pub fn held(reason: HoldReason, who: &T::AccountId) -> BalanceOf<T> {
		use frame_support::traits::fungible::InspectHold;
		T::Currency::balance_on_hold(&reason.into(), who)
	}
}

/// Map a submission error to a transaction validity error (the error index is the custom code).
fn invalid<T: Config>(e: Error<T>) -> sp_runtime::transaction_validity::TransactionValidityError {
	let code = match e {
		Error::<T>::UnknownRequest => 1,
		Error::<T>::WrongPhase => 2,
		Error::<T>::NotMember => 3,
		Error::<T>::AlreadyCommitted => 4,
		Error::<T>::CannotReveal => 5,
		Error::<T>::CommitmentMismatch => 6,
		Error::<T>::BadSignature => return InvalidTransaction::BadProof.into(),
		Error::<T>::OutputTooLarge => return InvalidTransaction::ExhaustsResources.into(),
		Error::<T>::UndecodableOutput => 7,
		_ => 0,
	};
	InvalidTransaction::Custom(code).into()
}
