//! Mock-runtime tests of the whole request lifecycle, with the real worker staking pallet.

use crate::{mock::*, *};
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Inspect, Authorize, Hooks},
};
use opg_primitives::{
	inference::{answer_digest, commitment, quorum, Answer, BoundedValue, Rejection, Value},
	Misconduct,
};
use sp_runtime::{
	testing::UintAuthorityId,
	transaction_validity::{InvalidTransaction, TransactionSource},
	RuntimeAppPublic,
};

const MAX_FEE: Balance = 5_000;

fn now() -> u64 {
	System::block_number()
}

/// Finish this block and start the next, as the executive would.
fn next_block() {
	next_block_with_parent(|n| sp_core::H256::from_low_u64_be(n * 7919));
}

/// [`next_block`] with the parent hash `parent` gives for the new block's number.
fn next_block_with_parent(parent: impl Fn(u64) -> sp_core::H256) {
	let n = now() + 1;
	System::set_parent_hash(parent(n));
	System::set_block_number(n);
	Inference::on_initialize(n);
}

fn run_to(n: u64) {
	while now() < n {
		next_block();
	}
}

fn request(seats: Option<u32>) -> RequestId {
	let id = NextRequestId::<Test>::get();
	assert_ok!(Inference::request_inference(
		RuntimeOrigin::signed(REQUESTER),
		MODEL,
		Value::Text(b"hello".to_vec()),
		MAX_FEE,
		seats
	));
	id
}

/// The committee of the request's current round, once drawn: blocks pass until the draw
/// (`BlockVrf::DELAY` blocks after the request or the escalation).
fn committee(id: RequestId) -> Vec<AccountId> {
	await_draw(id);
	Requests::<Test>::get(id).unwrap().committee.iter().map(|m| m.worker).collect()
}

/// Run blocks until the request's current round is drawn (or the request ended).
fn await_draw(id: RequestId) {
	while matches!(phase_of(id), Some(Phase::Drawing | Phase::Escalating { .. })) {
		next_block();
	}
}

fn round(id: RequestId) -> u8 {
	Requests::<Test>::get(id).map_or(0, |r| r.round)
}

fn commit_call(id: RequestId, worker: AccountId, commitment: [u8; 32]) -> RuntimeCall {
	let key = key_of(worker);
	let round = round(id);
	let signature = key.sign(&commit_payload(id, round, &commitment)).unwrap();
	RuntimeCall::Inference(Call::commit { request: id, round, key, commitment, signature })
}

/// The salt a member commits with (its own, secret until it reveals).
fn salt(worker: AccountId) -> [u8; 32] {
	[worker as u8; 32]
}

/// A text value's encoding: the outputs the tests' models answer with.
fn text(output: &[u8]) -> Vec<u8> {
	Value::Text(output.to_vec()).encode()
}

fn out(output: &[u8]) -> Answer {
	Answer::Output(text(output))
}

/// The reveal of `answer`: whole, or in a sealed round by its digest.
fn reveal_answer_call(id: RequestId, worker: AccountId, answer: Answer, salt: [u8; 32]) -> RuntimeCall {
	let key = key_of(worker);
	let round = round(id);
	if matches!(Requests::<Test>::get(id).map(|r| r.phase), Some(Phase::SealedReveal { .. })) {
		let digest = answer_digest(&answer);
		let signature = key.sign(&reveal_digest_payload(id, round, &digest, &salt)).unwrap();
		return RuntimeCall::Inference(Call::reveal_digest { request: id, round, key, digest, salt, signature });
	}
	let signature = key.sign(&reveal_payload(id, round, &answer, &salt)).unwrap();
	RuntimeCall::Inference(Call::reveal { request: id, round, key, answer, salt, signature })
}

fn publish_call(id: RequestId, worker: AccountId, answer: Answer) -> RuntimeCall {
	let key = key_of(worker);
	let signature = key.sign(&publish_payload(id, &answer)).unwrap();
	RuntimeCall::Inference(Call::publish { request: id, key, answer, signature })
}

thread_local! {
	/// What each member committed to, by request, round and worker: what it publishes later.
	static COMMITTED: std::cell::RefCell<std::collections::BTreeMap<(RequestId, u8, AccountId), Answer>> =
		Default::default();
}

fn committed(id: RequestId, round: u8, worker: AccountId) -> Answer {
	COMMITTED.with(|c| c.borrow().get(&(id, round, worker)).cloned()).expect("committed")
}

/// Every member of the sealed first round that revealed a digest publishes what it committed to.
fn publish_all(id: RequestId) {
	let sealed: Vec<AccountId> = Digests::<Test>::iter_prefix_values(id).map(|s| s.worker).collect();
	for w in sealed {
		submit(publish_call(id, w, committed(id, 0, w))).expect("publication accepted");
	}
}

fn reveal_call(id: RequestId, worker: AccountId, output: &[u8]) -> RuntimeCall {
	reveal_answer_call(id, worker, out(output), salt(worker))
}

/// Validate `call` as the transaction pool would, then dispatch it as the block would.
fn submit(call: RuntimeCall) -> Result<(), InvalidTransaction> {
	use sp_runtime::traits::Dispatchable;
	match call.authorize(TransactionSource::External) {
		Some(Ok(_)) => {},
		Some(Err(sp_runtime::transaction_validity::TransactionValidityError::Invalid(e))) => return Err(e),
		other => panic!("unexpected authorization {other:?}"),
	}
	call.dispatch(frame_system::RawOrigin::Authorized.into()).expect("authorized call dispatches");
	Ok(())
}

fn commit_answer(id: RequestId, worker: AccountId, answer: &Answer) {
	COMMITTED.with(|c| c.borrow_mut().insert((id, round(id), worker), answer.clone()));
	submit(commit_call(id, worker, commitment(answer, &worker, &salt(worker)))).expect("commit accepted");
}

fn commit(id: RequestId, worker: AccountId, output: &[u8]) {
	commit_answer(id, worker, &out(output));
}

fn reveal(id: RequestId, worker: AccountId, output: &[u8]) {
	submit(reveal_call(id, worker, output)).expect("reveal accepted");
}

/// Every member of the current committee commits, then every one reveals, `output(seat)`; a
/// sealed first round that goes on to publish (in its own phase, or in the escalated round's
/// reveal phase) publishes too.
fn answer_all(id: RequestId, output: impl Fn(usize) -> Vec<u8>) {
	let members = committee(id);
	for (seat, w) in members.iter().enumerate() {
		commit(id, *w, &output(seat));
	}
	for (seat, w) in members.iter().enumerate() {
		reveal(id, *w, &output(seat));
	}
	if matches!(phase_of(id), Some(Phase::Publish { .. }))
		|| (round(id) > 0 && matches!(phase_of(id), Some(Phase::Reveal { .. })))
	{
		publish_all(id);
	}
}

fn phase_of(id: RequestId) -> Option<Phase<u64>> {
	Requests::<Test>::get(id).map(|r| r.phase)
}

fn slashed(worker: AccountId) -> Option<Misconduct> {
	System::events().iter().find_map(|r| match &r.event {
		RuntimeEvent::Inference(Event::MemberSlashed { worker: w, reason, .. }) if *w == worker => Some(*reason),
		_ => None,
	})
}

fn settled(id: RequestId) -> Option<(Vec<u8>, Vec<AccountId>)> {
	System::events().iter().find_map(|r| match &r.event {
		RuntimeEvent::Inference(Event::Settled { request, output, agreeing, .. }) if *request == id => {
			let output = match output.value() {
				Value::Text(text) => text,
				other => other.encode(),
			};
			Some((output, agreeing.clone()))
		},
		_ => None,
	})
}

fn failed(id: RequestId) -> Option<FailureReason> {
	System::events().iter().find_map(|r| match &r.event {
		RuntimeEvent::Inference(Event::Failed { request, reason }) if *request == id => Some(*reason),
		_ => None,
	})
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn total(who: AccountId) -> Balance {
	Balances::total_balance(&who)
}

// ---- registry ----

#[test]
fn model_registry_holds_deposit_and_checks_owner() {
	run(0, || {
		assert_eq!(Inference::held(HoldReason::ModelDeposit, &OWNER), DEPOSIT);
		assert_noop!(
			Inference::register_model(
				RuntimeOrigin::signed(201),
				MODEL,
				opg_primitives::inference::ModelFormat::Onnx,
				b"mlp".to_vec(),
				1,
				opg_primitives::inference::ComparisonRule::Exact,
				opg_primitives::inference::ExecutionProfile::Portable,
				vec![b"x".to_vec()]
			),
			Error::<Test>::ModelExists
		);
		assert_noop!(
			Inference::update_model(RuntimeOrigin::signed(201), MODEL, 5, vec![b"y".to_vec()]),
			Error::<Test>::NotOwner
		);
		assert_noop!(Inference::update_model(RuntimeOrigin::signed(OWNER), MODEL, 5, vec![]), Error::<Test>::BadUris);
		assert_noop!(
			Inference::update_model(RuntimeOrigin::signed(OWNER), MODEL, 5, vec![vec![b'u'; 33]]),
			Error::<Test>::BadUris
		);
		assert_ok!(Inference::update_model(RuntimeOrigin::signed(OWNER), MODEL, 5, vec![b"y".to_vec()]));
		assert_eq!(Models::<Test>::get(MODEL).unwrap().price, 5);
		assert_noop!(Inference::retire_model(RuntimeOrigin::signed(201), MODEL), Error::<Test>::NotOwner);
		assert_ok!(Inference::retire_model(RuntimeOrigin::signed(OWNER), MODEL));
		assert_eq!(free(OWNER), INITIAL);
		assert_noop!(Inference::retire_model(RuntimeOrigin::signed(OWNER), MODEL), Error::<Test>::UnknownModel);
	});
}

#[test]
fn a_model_registers_only_under_a_profile_the_workers_implement() {
	use opg_primitives::inference::{ComparisonRule, ExecutionProfile};
	run(0, || {
		let register = |id: ModelId, profile: ExecutionProfile| {
			Inference::register_model(
				RuntimeOrigin::signed(201),
				id,
				opg_primitives::inference::ModelFormat::Onnx,
				b"mlp".to_vec(),
				1,
				ComparisonRule::Exact,
				profile,
				vec![b"x".to_vec()],
			)
		};
		// The mock's workers implement portable versions 1 and 2.
		assert_eq!(<<Test as Config>::LatestPortableVersion as frame_support::traits::Get<u16>>::get(), 2);
		assert_noop!(register(8, ExecutionProfile::PortableVersion(3)), Error::<Test>::UnsupportedProfile);
		// Version 1 has one spelling, so a model's id and profile cannot pair up twice.
		assert_noop!(register(8, ExecutionProfile::PortableVersion(1)), Error::<Test>::UnsupportedProfile);
		assert_noop!(register(8, ExecutionProfile::PortableVersion(0)), Error::<Test>::UnsupportedProfile);
		assert_ok!(register(8, ExecutionProfile::PortableVersion(2)));
		assert_ok!(register(9, ExecutionProfile::portable(1)));
		assert_eq!(Models::<Test>::get(8).unwrap().profile.portable_version(), Some(2));
		assert_eq!(Models::<Test>::get(9).unwrap().profile, ExecutionProfile::Portable);
	});
}

#[test]
fn a_model_cannot_register_a_rule_loose_enough_to_pass_wrong_answers() {
	use opg_primitives::inference::{ComparisonRule, MAX_RULE_ABS_TOL_BITS, MAX_RULE_ULPS};
	run(0, || {
		let register = |id: ModelId, rule: ComparisonRule| {
			Inference::register_model(
				RuntimeOrigin::signed(201),
				id,
				opg_primitives::inference::ModelFormat::BertEmbedding,
				b"bert".to_vec(),
				1,
				rule,
				opg_primitives::inference::ExecutionProfile::Fast,
				vec![b"x".to_vec()],
			)
		};
		// Whoever registers a well-known model's id first cannot make any output agree.
		for (max_ulps, abs_tol_bits) in [
			(u32::MAX, 0),
			(MAX_RULE_ULPS + 1, 0),
			(0, MAX_RULE_ABS_TOL_BITS + 1),
			(0, f32::INFINITY.to_bits()),
			(0, f32::NAN.to_bits()),
			(0, (-1e-6f32).to_bits()),
		] {
			assert_noop!(register(8, ComparisonRule::F32Ulps { max_ulps, abs_tol_bits }), Error::<Test>::RuleTooLoose);
		}
		assert_eq!(MAX_RULE_ABS_TOL_BITS, 1e-3f32.to_bits());
		assert_ok!(register(
			8,
			ComparisonRule::F32Ulps { max_ulps: MAX_RULE_ULPS, abs_tol_bits: MAX_RULE_ABS_TOL_BITS }
		));
		// The engine's fast-profile rule.
		assert_ok!(register(9, ComparisonRule::F32Ulps { max_ulps: 256, abs_tol_bits: 1e-5f32.to_bits() }));
	});
}

/// The requester asks `model` about `text`, holding `fee`.
fn r(model: ModelId, text: &[u8], fee: Balance, seats: Option<u32>) -> sp_runtime::DispatchResult {
	Inference::request_inference(RuntimeOrigin::signed(REQUESTER), model, Value::Text(text.to_vec()), fee, seats)
}

// ---- requests: bad input ----

#[test]
fn request_rejects_bad_input_without_state_change() {
	run(3, || {
		assert_noop!(r(99, b"x", MAX_FEE, None), Error::<Test>::UnknownModel);
		assert_noop!(r(MODEL, b"", MAX_FEE, None), Error::<Test>::EmptyInput);
		for nothing in [Value::Tokens(vec![]), Value::F32 { shape: vec![0, 4], bits: vec![] }] {
			assert_noop!(
				Inference::request_inference(RuntimeOrigin::signed(REQUESTER), MODEL, nothing, MAX_FEE, None),
				Error::<Test>::EmptyInput
			);
		}
		assert_noop!(r(MODEL, &[0u8; 65], MAX_FEE, None), Error::<Test>::InputTooLarge);
		// 3 seats: 1_000 + 3 × 100, plus 10 % = 1_430.
		assert_eq!(Inference::quote(&MODEL, 3), Some(1_430));
		assert_noop!(r(MODEL, b"x", 1_429, None), Error::<Test>::FeeTooLow);
		assert_noop!(r(MODEL, b"x", MAX_FEE, Some(0)), Error::<Test>::SeatsOutOfBounds);
		assert_noop!(r(MODEL, b"x", MAX_FEE, Some(4)), Error::<Test>::SeatsOutOfBounds);
		assert_noop!(r(MODEL, b"x", INITIAL, None), Error::<Test>::InsufficientBalance);
		for _ in 0..12 {
			assert_ok!(r(MODEL, b"x", MAX_FEE, Some(1)));
		}
		assert_noop!(r(MODEL, b"x", MAX_FEE, Some(1)), Error::<Test>::TooManyRequests);
	});
	run(2, || {
		assert_noop!(r(MODEL, b"x", MAX_FEE, None), Error::<Test>::NotEnoughWorkers);
	});
}

// ---- the lifecycle ----

#[test]
fn honest_committee_settles_and_pays_everyone() {
	run(3, || {
		let issuance = Balances::total_issuance();
		// The request is the block's third transaction.
		System::set_extrinsic_index(2);
		let id = request(None);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), MAX_FEE);
		next_block();
		let members = committee(id);
		assert_eq!(members.len(), 3);
		for w in &members {
			commit(id, *w, b"answer");
		}
		// `max_fee` pays for an escalation, so the first round is sealed: digests first.
		assert!(matches!(phase_of(id), Some(Phase::SealedReveal { .. })));
		for w in &members {
			reveal(id, *w, b"answer");
		}
		assert!(matches!(phase_of(id), Some(Phase::Publish { .. })), "equal digests publish");
		assert_eq!(Outputs::<Test>::iter_prefix(id).count(), 0, "no answer is public yet");
		publish_all(id);
		let (output, agreeing) = settled(id).expect("settled");
		assert_eq!(output, b"answer".to_vec());
		assert_eq!(agreeing.len(), 3);
		// Price 1_000 to the owner, 3 × 100 to the members, 130 to the treasury.
		assert_eq!(free(OWNER), INITIAL - DEPOSIT + PRICE);
		assert_eq!(free(TREASURY), ED + 130);
		assert_eq!(total(REQUESTER), INITIAL - 1_430);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
		for w in &members {
			assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(*w), *w));
			assert_eq!(free(*w), INITIAL - BOND + FEE);
		}
		assert_eq!(Balances::total_issuance(), issuance);
		let result = Results::<Test>::get(id).unwrap();
		assert_eq!(result.answer, StoredAnswer::Output(BoundedValue::from_encoded(text(b"answer")).unwrap()));
		// Enough to re-run it from the block body alone: where the input is, and how to judge.
		assert_eq!(result.requested, Some(Inclusion { block: 1, index: 2 }));
		let model = Models::<Test>::get(MODEL).unwrap();
		assert_eq!((result.rule, result.profile), (model.rule, model.profile));
		assert!(Requests::<Test>::get(id).is_none());
		assert_eq!(Assignments::<Test>::iter().count(), 0);
	});
}

#[test]
fn lying_executor_is_outvoted_and_slashed() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		commit(id, m[0], b"lie");
		commit(id, m[1], b"truth");
		commit(id, m[2], b"truth");
		reveal(id, m[0], b"lie");
		reveal(id, m[1], b"truth");
		reveal(id, m[2], b"truth");
		publish_all(id);
		assert_eq!(settled(id).unwrap().0, b"truth".to_vec());
		assert_eq!(slashed(m[0]), Some(Misconduct::WrongOutput));
		assert_eq!(slashed(m[1]), None);
		assert_eq!(Staking::held(pallet_worker_staking::HoldReason::WorkerBond, &m[0]), BOND - BOND / 10);
		// The liar is not paid: only two member fees were spent.
		assert_eq!(total(REQUESTER), INITIAL - (PRICE + 2 * FEE + 120));
	});
}

#[test]
fn lying_minority_of_verifiers_is_slashed() {
	run(7, || {
		let id = request(Some(3));
		next_block();
		let m = committee(id);
		// Two of three lie the same way: they are the quorum. With five of seven honest on
		// escalation the honest answer wins instead, as shown below.
		commit(id, m[0], b"truth");
		commit(id, m[1], b"lie");
		commit(id, m[2], b"lie-2");
		reveal(id, m[0], b"truth");
		reveal(id, m[1], b"lie");
		reveal(id, m[2], b"lie-2");
		assert!(settled(id).is_none(), "three different answers are no quorum");
		let m2 = committee(id);
		assert_eq!(m2.len(), 7);
		assert_eq!(round(id), 1);
		for (i, w) in m2.iter().enumerate() {
			let out: &[u8] = if i < 5 { b"truth" } else { b"lie" };
			commit(id, *w, out);
		}
		for (i, w) in m2.iter().enumerate() {
			let out: &[u8] = if i < 5 { b"truth" } else { b"lie" };
			reveal(id, *w, out);
		}
		publish_all(id);
		assert_eq!(settled(id).unwrap().0, b"truth".to_vec());
		assert_eq!(slashed(m2[5]), Some(Misconduct::WrongOutput));
		assert_eq!(slashed(m2[6]), Some(Misconduct::WrongOutput));
	});
}

#[test]
fn agreed_refusal_of_the_input_ends_rejected_and_pays_only_the_members() {
	run(3, || {
		let issuance = Balances::total_issuance();
		let id = request(None);
		next_block();
		let members = committee(id);
		let refusal = Answer::Rejected(Rejection::WrongShape);
		for w in &members {
			commit_answer(id, *w, &refusal);
		}
		for w in &members {
			submit(reveal_answer_call(id, *w, refusal.clone(), salt(*w))).expect("reveal accepted");
		}
		publish_all(id);
		let (reason, agreeing, paid) = System::events()
			.iter()
			.find_map(|r| match &r.event {
				RuntimeEvent::Inference(Event::Rejected { request, reason, agreeing, paid }) if *request == id => {
					Some((*reason, agreeing.clone(), *paid))
				},
				_ => None,
			})
			.expect("rejected");
		assert_eq!((reason, agreeing.len()), (Rejection::WrongShape, 3));
		assert!(settled(id).is_none());
		// 3 × 100 to the members and 10 % of that to the treasury; the owner gets
		// nothing and the requester the rest of its hold.
		assert_eq!(paid, 300 + 30);
		assert_eq!(free(OWNER), INITIAL - DEPOSIT);
		assert_eq!(free(TREASURY), ED + 30);
		assert_eq!(total(REQUESTER), INITIAL - 330);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
		for w in &members {
			assert_eq!(slashed(*w), None);
			assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(*w), *w));
			assert_eq!(free(*w), INITIAL - BOND + FEE);
		}
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(
			Inference::request_status(id),
			opg_primitives::inference::RequestStatus::Rejected { reason: Rejection::WrongShape, at: now() }
		);
	});
}

#[test]
fn a_refusal_against_two_outputs_is_outvoted_and_slashed() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		commit_answer(id, m[0], &Answer::Rejected(Rejection::NotFinite));
		commit(id, m[1], b"answer");
		commit(id, m[2], b"answer");
		submit(reveal_answer_call(id, m[0], Answer::Rejected(Rejection::NotFinite), salt(m[0])))
			.expect("reveal accepted");
		reveal(id, m[1], b"answer");
		reveal(id, m[2], b"answer");
		publish_all(id);
		assert_eq!(settled(id).unwrap(), (b"answer".to_vec(), vec![m[1], m[2]]));
		assert_eq!(slashed(m[0]), Some(Misconduct::WrongOutput));
	});
}

#[test]
fn a_reveal_needs_the_committed_salt() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		for w in &m {
			commit(id, *w, b"answer");
		}
		// The right answer with another salt does not open the commitment.
		assert_eq!(
			submit(reveal_answer_call(id, m[0], out(b"answer"), [0xAB; 32])),
			Err(InvalidTransaction::Custom(6))
		);
		reveal(id, m[0], b"answer");
	});
}

#[test]
fn copied_commitment_cannot_be_revealed_and_is_slashed() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		let honest = commitment(&out(b"answer"), &m[0], &salt(m[0]));
		commit(id, m[0], b"answer");
		commit(id, m[1], b"answer");
		// The lazy member copies m[0]'s commitment instead of running the model.
		submit(commit_call(id, m[2], honest)).expect("a commitment is opaque");
		reveal(id, m[0], b"answer");
		reveal(id, m[1], b"answer");
		// Revealing m[0]'s output does not open m[2]'s commitment: the account is in the hash.
		assert_eq!(submit(reveal_call(id, m[2], b"answer")), Err(InvalidTransaction::Custom(6)));
		run_to(now() + REVEAL_WINDOW);
		publish_all(id);
		assert_eq!(settled(id).unwrap().1, vec![m[0], m[1]]);
		assert_eq!(slashed(m[2]), Some(Misconduct::BadOrMissingReveal));
	});
}

#[test]
fn no_show_is_slashed_and_the_rest_settle() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		commit(id, m[0], b"answer");
		commit(id, m[1], b"answer");
		run_to(now() + COMMIT_WINDOW);
		assert_eq!(slashed(m[2]), Some(Misconduct::NoShow));
		assert_eq!(Staking::held(pallet_worker_staking::HoldReason::WorkerBond, &m[2]), BOND - BOND / 100);
		reveal(id, m[0], b"answer");
		reveal(id, m[1], b"answer");
		publish_all(id);
		assert_eq!(settled(id).unwrap().1.len(), 2);
	});
}

#[test]
fn no_quorum_escalates_once_then_refunds_in_full() {
	run(7, || {
		let id = request(None);
		next_block();
		answer_all(id, |seat| vec![seat as u8]);
		assert_eq!(round(id), 1);
		assert_eq!(Digests::<Test>::iter_prefix(id).count(), 3, "sealed, kept for the escalated verdict");
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 0, "published after the escalation commits");
		answer_all(id, |seat| vec![seat as u8]);
		assert_eq!(failed(id), Some(FailureReason::NoQuorum));
		assert_eq!(total(REQUESTER), INITIAL);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
		assert!(Requests::<Test>::get(id).is_none());
		// No round agreed, so no answer is known to be wrong: nobody who revealed is slashed
		// and the first round's answers are dropped unjudged.
		for w in WORKERS {
			assert!(slashes_on(id, w).is_empty());
		}
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 0);
	});
}

/// Every slash of `worker` on request `id`, in order.
fn slashes_on(id: RequestId, worker: AccountId) -> Vec<Misconduct> {
	System::events()
		.iter()
		.filter_map(|r| match &r.event {
			RuntimeEvent::Inference(Event::MemberSlashed { request, worker: w, reason, .. })
				if *request == id && *w == worker =>
			{
				Some(*reason)
			},
			_ => None,
		})
		.collect()
}

/// A request whose first round of three splits: one honest answer (`truth`) and two different
/// lies. Its id and the first round's members.
fn split_first_round() -> (RequestId, Vec<AccountId>) {
	let id = request(None);
	next_block();
	let first = committee(id);
	for (w, out) in first.iter().zip([&b"truth"[..], b"lie", b"lie-2"]) {
		commit(id, *w, out);
	}
	for (w, out) in first.iter().zip([&b"truth"[..], b"lie", b"lie-2"]) {
		reveal(id, *w, out);
	}
	(id, first)
}

#[test]
fn first_round_liars_are_slashed_and_its_honest_members_paid_when_the_escalation_settles() {
	run(7, || {
		// No quorum in the first round: one honest answer, two different lies.
		let (id, first) = split_first_round();
		assert_eq!(round(id), 1);
		assert_eq!(Digests::<Test>::iter_prefix(id).count(), 3, "sealed");
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 0);
		for w in &first {
			assert!(slashes_on(id, *w).is_empty(), "nobody is judged before the escalated verdict");
		}
		// The escalated committee (every worker, the first round's included) agrees on the truth.
		answer_all(id, |_| b"truth".to_vec());
		let (output, agreeing) = settled(id).expect("settled");
		assert_eq!(output, b"truth".to_vec());
		assert_eq!(slashes_on(id, first[0]), vec![]);
		assert_eq!(slashes_on(id, first[1]), vec![Misconduct::WrongOutput]);
		assert_eq!(slashes_on(id, first[2]), vec![Misconduct::WrongOutput]);
		// Seven escalated seats and the first round's honest member are paid.
		assert_eq!(agreeing.len(), 8);
		assert_eq!(agreeing.iter().filter(|w| **w == first[0]).count(), 2, "paid for each seat it answered");
		assert_eq!(total(REQUESTER), INITIAL - (PRICE + 8 * FEE + (PRICE + 8 * FEE) / 10));
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 0);
		assert_eq!(Digests::<Test>::iter_prefix(id).count(), 0);
		assert_eq!(Assignments::<Test>::iter().count(), 0);
	});
}

#[test]
fn a_lie_that_blocked_the_first_round_is_slashed_when_the_escalation_rejects_the_input() {
	run(7, || {
		let id = request(None);
		next_block();
		let first = committee(id);
		let refusal = Answer::Rejected(Rejection::TextTooLong);
		commit_answer(id, first[0], &refusal);
		commit(id, first[1], b"made up");
		commit_answer(id, first[2], &Answer::Rejected(Rejection::WrongType));
		submit(reveal_answer_call(id, first[0], refusal.clone(), salt(first[0]))).unwrap();
		reveal(id, first[1], b"made up");
		submit(reveal_answer_call(id, first[2], Answer::Rejected(Rejection::WrongType), salt(first[2]))).unwrap();
		assert_eq!(round(id), 1);
		let second = committee(id);
		for w in &second {
			commit_answer(id, *w, &refusal);
		}
		for w in &second {
			submit(reveal_answer_call(id, *w, refusal.clone(), salt(*w))).unwrap();
		}
		publish_all(id);
		assert!(System::events().iter().any(|r| matches!(
			&r.event,
			RuntimeEvent::Inference(Event::Rejected { request, agreeing, .. }) if *request == id && agreeing.len() == 8
		)));
		assert_eq!(slashes_on(id, first[0]), vec![]);
		assert_eq!(slashes_on(id, first[1]), vec![Misconduct::WrongOutput], "an output against the agreed refusal");
		assert_eq!(slashes_on(id, first[2]), vec![Misconduct::WrongOutput], "another refusal");
	});
}

/// The first round's answers are not public until the escalated round has committed: a lazy
/// escalated member has nothing to copy and must run the model.
#[test]
fn first_round_answers_stay_sealed_until_the_escalated_round_has_committed() {
	run(7, || {
		let (id, first) = split_first_round();
		// Three different digests: escalated at once, with nothing but digests in state.
		assert_eq!(round(id), 1);
		assert!(matches!(phase_of(id), Some(Phase::Escalating { .. })));
		assert_eq!(Outputs::<Test>::iter_prefix(id).count(), 0);
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 0);
		let digests: Vec<[u8; 32]> = Digests::<Test>::iter_prefix_values(id).map(|s| s.digest).collect();
		assert!(digests.contains(&answer_digest(&out(b"truth"))));
		// Nor can a first-round member publish before the escalated round is drawn, or while it
		// commits.
		let early = publish_call(id, first[0], out(b"truth"));
		assert_eq!(submit(early.clone()), Err(InvalidTransaction::Custom(2)));
		let second = committee(id);
		assert!(matches!(phase_of(id), Some(Phase::Commit { .. })));
		assert_eq!(submit(early), Err(InvalidTransaction::Custom(2)));
		for w in &second {
			commit(id, *w, b"truth");
		}
		// The escalated round has committed: now the first round publishes, and only the answer
		// behind its digest.
		assert!(matches!(phase_of(id), Some(Phase::Reveal { .. })));
		assert_eq!(submit(publish_call(id, first[1], out(b"truth"))), Err(InvalidTransaction::Custom(6)));
		let duties = Inference::assignments(&key_of(first[1]));
		assert!(duties.iter().any(|d| d.round == 0 && d.duty == opg_primitives::inference::Duty::Publish));
		publish_all(id);
		assert_eq!(FirstRoundAnswers::<Test>::iter_prefix(id).count(), 3);
		for w in &second {
			reveal(id, *w, b"truth");
		}
		assert_eq!(settled(id).expect("settled").0, b"truth".to_vec());
		assert_eq!(slashes_on(id, first[1]), vec![Misconduct::WrongOutput]);
		assert_eq!(slashes_on(id, first[2]), vec![Misconduct::WrongOutput]);
		assert_eq!(Digests::<Test>::iter_prefix(id).count(), 0);
	});
}

/// A first-round member that revealed a digest and keeps its answer back is slashed like one
/// that never revealed, in its own publish phase or in the escalated round's.
#[test]
fn a_sealed_member_that_does_not_publish_is_slashed() {
	run(7, || {
		let id = request(None);
		next_block();
		let first = committee(id);
		for (w, out) in first.iter().zip([&b"a"[..], b"b", b"c"]) {
			commit(id, *w, out);
		}
		for (w, out) in first.iter().zip([&b"a"[..], b"b", b"c"]) {
			reveal(id, *w, out);
		}
		assert_eq!(round(id), 1);
		let second = committee(id);
		for w in &second {
			commit(id, *w, b"a");
		}
		for w in &first[..2] {
			submit(publish_call(id, *w, committed(id, 0, *w))).expect("published");
		}
		for w in &second {
			reveal(id, *w, b"a");
		}
		assert!(settled(id).is_none(), "waits for the last publication");
		run_to(now() + REVEAL_WINDOW);
		assert_eq!(settled(id).expect("settled").0, b"a".to_vec());
		assert_eq!(slashes_on(id, first[1]), vec![Misconduct::WrongOutput]);
		assert_eq!(slashes_on(id, first[2]), vec![Misconduct::BadOrMissingReveal]);
		// In a first round's own publish phase alike.
		let id = request(None);
		next_block();
		let first = committee(id);
		for w in &first {
			commit(id, *w, b"same");
		}
		for w in &first {
			reveal(id, *w, b"same");
		}
		assert!(matches!(phase_of(id), Some(Phase::Publish { .. })));
		for w in &first[..2] {
			submit(publish_call(id, *w, out(b"same"))).expect("published");
		}
		run_to(now() + REVEAL_WINDOW);
		assert_eq!(settled(id).expect("two of three publish").1, first[..2].to_vec());
		assert_eq!(slashes_on(id, first[2]), vec![Misconduct::BadOrMissingReveal]);
	});
}

/// Under a tolerance rule different bits may still agree: with enough workers to escalate,
/// a sealed round whose digests differ escalates; without, it is published and judged by the
/// rule instead of failing.
#[test]
fn a_tolerance_rule_round_with_different_bits_escalates_or_is_judged_by_the_rule() {
	use opg_primitives::inference::ComparisonRule;
	let f32_answer = |bits: u32| Answer::Output(Value::F32 { shape: vec![1], bits: vec![bits] }.encode());
	for (workers, escalates) in [(3usize, false), (7, true)] {
		run(workers, || {
			Models::<Test>::mutate(MODEL, |m| {
				m.as_mut().expect("registered").rule = ComparisonRule::F32Ulps { max_ulps: 4, abs_tol_bits: 0 }
			});
			let id = request(None);
			next_block();
			let m = committee(id);
			// 1.0 and its next two floats: three digests, one answer under the rule.
			for (i, w) in m.iter().enumerate() {
				commit_answer(id, *w, &f32_answer(0x3f80_0000 + i as u32));
			}
			for (i, w) in m.iter().enumerate() {
				submit(reveal_answer_call(id, *w, f32_answer(0x3f80_0000 + i as u32), salt(*w))).expect("reveal");
			}
			if escalates {
				assert_eq!(round(id), 1, "{workers} workers: escalated");
				assert_eq!(Outputs::<Test>::iter_prefix(id).count(), 0);
			} else {
				assert!(matches!(phase_of(id), Some(Phase::Publish { .. })), "{workers} workers: published");
				publish_all(id);
				assert_eq!(settled(id).expect("agreed under the rule").1.len(), 3);
				for w in &m {
					assert!(slashes_on(id, *w).is_empty());
				}
			}
		});
	}
}

/// A request whose `max_fee` pays one round cannot escalate: nobody could copy its answers, so
/// it reveals them whole, in one phase, as before.
#[test]
fn a_request_that_cannot_escalate_reveals_its_answers_at_once() {
	run(3, || {
		let one_round = PRICE + 3 * FEE + (PRICE + 3 * FEE) / 10;
		assert_ok!(r(MODEL, b"hello", one_round, None));
		let id = NextRequestId::<Test>::get() - 1;
		next_block();
		let m = committee(id);
		for w in &m {
			commit(id, *w, b"answer");
		}
		assert!(matches!(phase_of(id), Some(Phase::Reveal { .. })));
		for w in &m {
			reveal(id, *w, b"answer");
		}
		assert_eq!(settled(id).expect("settled").1.len(), 3);
	});
}

/// A request made before the upgrade that sealed first rounds keeps revealing whole answers,
/// and a commitment made the old way still opens.
#[test]
fn requests_from_before_sealing_reveal_whole_answers_and_old_commitments() {
	use opg_primitives::inference::legacy_commitment;
	run(3, || {
		let id = request(None);
		SealedSince::<Test>::put(now() + 1);
		next_block();
		let m = committee(id);
		submit(commit_call(id, m[0], legacy_commitment(&out(b"answer"), &m[0], &salt(m[0])))).expect("commit");
		commit(id, m[1], b"answer");
		commit(id, m[2], b"answer");
		assert!(matches!(phase_of(id), Some(Phase::Reveal { .. })), "made before sealing");
		for w in &m {
			reveal(id, *w, b"answer");
		}
		assert_eq!(settled(id).expect("settled").1.len(), 3);
	});
}

#[test]
fn escalation_needs_a_max_fee_that_pays_both_rounds() {
	run(7, || {
		// Enough for the seven escalated seats alone, not for the first round's three as well.
		let seven = PRICE + 7 * FEE + (PRICE + 7 * FEE) / 10;
		assert_ok!(Inference::request_inference(
			RuntimeOrigin::signed(REQUESTER),
			MODEL,
			Value::Text(b"hello".to_vec()),
			seven,
			None
		));
		let short = NextRequestId::<Test>::get() - 1;
		let ten = PRICE + 10 * FEE + (PRICE + 10 * FEE) / 10;
		assert_ok!(Inference::request_inference(
			RuntimeOrigin::signed(REQUESTER),
			MODEL,
			Value::Text(b"hello".to_vec()),
			ten,
			None
		));
		let enough = NextRequestId::<Test>::get() - 1;
		next_block();
		answer_all(short, |seat| vec![seat as u8]);
		answer_all(enough, |seat| vec![seat as u8]);
		assert_eq!(failed(short), Some(FailureReason::NoQuorum));
		assert_eq!(round(enough), 1, "escalated");
		assert_eq!(Digests::<Test>::iter_prefix(enough).count(), 3, "its first round kept, sealed");
	});
}

#[test]
fn silent_committee_times_out_and_refunds_without_slashing() {
	run(7, || {
		let id = request(None);
		next_block();
		let first = committee(id);
		run_to(now() + COMMIT_WINDOW);
		// Nobody answered (e.g. the model's bundle is unreachable): no escalation, no slash.
		for w in &first {
			assert_eq!(slashed(*w), None);
		}
		assert_eq!(failed(id), Some(FailureReason::Unanswered));
		assert!(Requests::<Test>::get(id).is_none());
		assert_eq!(total(REQUESTER), INITIAL);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
	});
}

#[test]
fn one_answer_is_enough_to_hold_the_silent_members_to_account() {
	run(7, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		commit(id, m[0], b"answer");
		run_to(now() + COMMIT_WINDOW);
		assert_eq!(slashed(m[0]), None);
		assert_eq!(slashed(m[1]), Some(Misconduct::NoShow));
		assert_eq!(slashed(m[2]), Some(Misconduct::NoShow));
		assert_eq!(round(id), 1, "escalated");
	});
}

#[test]
fn escalation_without_enough_workers_fails_and_refunds() {
	run(3, || {
		let id = request(None);
		next_block();
		answer_all(id, |seat| vec![seat as u8]);
		assert!(matches!(phase_of(id), Some(Phase::Escalating { .. })));
		await_draw(id);
		assert_eq!(failed(id), Some(FailureReason::NotEnoughWorkers));
		assert_eq!(total(REQUESTER), INITIAL);
	});
}

#[test]
fn retiring_a_model_keeps_open_requests_on_their_terms() {
	run(3, || {
		let id = request(None);
		assert_ok!(Inference::retire_model(RuntimeOrigin::signed(OWNER), MODEL));
		assert_noop!(r(MODEL, b"x", MAX_FEE, None), Error::<Test>::UnknownModel);
		next_block();
		answer_all(id, |_| b"answer".to_vec());
		assert!(settled(id).is_some());
		assert_eq!(free(OWNER), INITIAL + PRICE);
	});
}

#[test]
fn only_members_of_the_open_phase_submit_once() {
	run(4, || {
		let id = request(None);
		// Before the draw nobody is a member.
		assert_eq!(submit(commit_call(id, 1, [0; 32])), Err(InvalidTransaction::Custom(3)));
		next_block();
		let m = committee(id);
		let outsider = *[1, 2, 3, 4].iter().find(|w| !m.contains(w)).unwrap();
		assert_eq!(submit(commit_call(id, outsider, [0; 32])), Err(InvalidTransaction::Custom(3)));
		assert_eq!(submit(commit_call(99, m[0], [0; 32])), Err(InvalidTransaction::Custom(1)));
		commit(id, m[0], b"a");
		assert_eq!(submit(commit_call(id, m[0], [1; 32])), Err(InvalidTransaction::Custom(4)));
		// Reveals are not open yet.
		assert_eq!(submit(reveal_call(id, m[0], b"a")), Err(InvalidTransaction::Custom(2)));
		// A signature by another key is refused.
		let key = key_of(m[1]);
		let signature = UintAuthorityId(12345).sign(&commit_payload(id, 0, &[2; 32])).unwrap();
		let forged =
			RuntimeCall::Inference(Call::commit { request: id, round: 0, key, commitment: [2; 32], signature });
		assert_eq!(submit(forged), Err(InvalidTransaction::BadProof));
		// Dispatching without the authorization origin fails.
		assert_noop!(
			Inference::commit(
				RuntimeOrigin::signed(m[1]),
				id,
				0,
				key_of(m[1]),
				[3; 32],
				key_of(m[1]).sign(&commit_payload(id, 0, &[3; 32])).unwrap()
			),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn results_are_pruned_after_retention() {
	run(3, || {
		let id = request(Some(1));
		next_block();
		let m = committee(id);
		commit(id, m[0], b"a");
		reveal(id, m[0], b"a");
		publish_all(id);
		assert!(Results::<Test>::get(id).is_some());
		// The answer's room in state is paid for by the requester's deposit until it goes.
		assert_eq!(Inference::held(HoldReason::RequestDeposit, &REQUESTER), REQUEST_DEPOSIT);
		run_to(now() + RETENTION);
		assert!(Results::<Test>::get(id).is_none());
		assert!(System::events()
			.iter()
			.any(|r| matches!(r.event, RuntimeEvent::Inference(Event::ResultPruned { request }) if request == id)));
		assert_eq!(Inference::held(HoldReason::RequestDeposit, &REQUESTER), 0);
		assert!(Deposits::<Test>::get(id).is_none());
	});
}

/// A request holds a deposit while it is open; one that fails returns it at once, with
/// everything else.
#[test]
fn a_failed_request_returns_its_deposit() {
	run(3, || {
		let id = request(None);
		assert_eq!(Inference::held(HoldReason::RequestDeposit, &REQUESTER), REQUEST_DEPOSIT);
		assert_eq!(Deposits::<Test>::get(id), Some((REQUESTER, REQUEST_DEPOSIT)));
		next_block();
		// Nobody commits: the round fails `Unanswered`.
		run_to(now() + COMMIT_WINDOW + 1);
		assert!(Requests::<Test>::get(id).is_none());
		assert_eq!(Inference::held(HoldReason::RequestDeposit, &REQUESTER), 0);
		assert_eq!(total(REQUESTER), INITIAL);
	});
}

/// Filling the draw queue costs more the fuller it is: the first eighth waits for free, then
/// each request pays the treasury a fee growing with the square of the queue beyond that
/// (not refunded, even when the request later fails).
#[test]
fn a_busy_queue_charges_a_growing_fee() {
	run(3, || {
		QueueFeeBase::set(1_200);
		// The queue holds 12: one waits for free, then the fee is 1_200 × (8 × beyond / 12)².
		let mut paid = Vec::new();
		for _ in 0..12 {
			let before = free(TREASURY);
			assert_ok!(r(MODEL, b"x", MAX_FEE, Some(1)));
			paid.push(free(TREASURY) - before);
		}
		assert_eq!(paid, vec![0, 0, 533, 2_133, 4_800, 8_533, 13_333, 19_200, 26_133, 34_133, 43_200, 53_333]);
		let total_paid: Balance = paid.iter().sum();
		assert_eq!(total(REQUESTER), INITIAL - total_paid);
	});
}

#[test]
fn quorum_matches_design() {
	assert_eq!(quorum(3), 2);
	assert_eq!(quorum(7), 5);
}

// ---- property test ----

mod properties {
	use super::*;
	use proptest::prelude::*;

	#[derive(Debug, Clone)]
	enum Op {
		Request {
			seats: u32,
		},
		/// Member `seat` of request `nth` commits output `out`: 0 is the honest answer, 1 the
		/// lie colluders share, any other a lie of the member's own.
		Commit {
			nth: u8,
			seat: u8,
			out: u8,
		},
		/// A reveal: the answer, or in a sealed first round its digest.
		Reveal {
			nth: u8,
			seat: u8,
		},
		/// Sealed first-round seat `seat` of request `nth` publishes the answer it committed to.
		Publish {
			nth: u8,
			seat: u8,
		},
		Blocks {
			n: u8,
		},
	}

	fn op() -> impl Strategy<Value = Op> {
		prop_oneof![
			(1u32..=3).prop_map(|seats| Op::Request { seats }),
			(0u8..6, 0u8..7, prop_oneof![4 => Just(0u8), 1 => Just(1u8), 1 => 2u8..4])
				.prop_map(|(nth, seat, out)| Op::Commit { nth, seat, out }),
			(0u8..6, 0u8..7).prop_map(|(nth, seat)| Op::Reveal { nth, seat }),
			(0u8..6, 0u8..3).prop_map(|(nth, seat)| Op::Publish { nth, seat }),
			(1u8..4).prop_map(|n| Op::Blocks { n }),
		]
	}

	proptest! {
		#![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]

		/// Any mix of requests, commits, reveals and silence: issuance (which counts holds) is
		/// conserved, invariants hold at every step, once the deadlines have passed every
		/// request has ended with its fee either paid out or refunded, and no member is slashed
		/// for a wrong output unless it revealed a lie, or colluders sharing one lie sat on the
		/// request (they may out-vote the honest members; the protocol's assumption is that
		/// they hold less than a third of a committee).
		#[test]
		fn every_request_ends_and_funds_are_conserved(
			ops in proptest::collection::vec(op(), 1..50),
			tight_hook in any::<bool>(),
		) {
			new_test_ext(7).execute_with(|| {
				if tight_hook {
					HookWeight::set(least_hook_weight());
				}
				let issuance = Balances::total_issuance();
				let mut ids: Vec<RequestId> = Vec::new();
				let mut outputs: std::collections::BTreeMap<(RequestId, u8, AccountId), Vec<u8>> = Default::default();
				for op in ops {
					match op {
						Op::Request { seats } => {
							if let Ok(()) = Inference::request_inference(
								RuntimeOrigin::signed(REQUESTER), MODEL, Value::Text(b"in".to_vec()), MAX_FEE, Some(seats)) {
								ids.push(NextRequestId::<Test>::get() - 1);
							}
						},
						Op::Commit { nth, seat, out } => {
							let Some(id) = ids.get(nth as usize).copied() else { continue };
							let Some(req) = Requests::<Test>::get(id) else { continue };
							let Some(member) = req.committee.get(seat as usize) else { continue };
							let output = if out < 2 { text(&[out]) } else { text(&[out, member.worker as u8]) };
							let accepted = submit(commit_call(
								id,
								member.worker,
								commitment(&Answer::Output(output.clone()), &member.worker, &salt(member.worker)),
							));
							if accepted.is_ok() {
								outputs.insert((id, req.round, member.worker), output);
							}
						},
						Op::Reveal { nth, seat } => {
							let Some(id) = ids.get(nth as usize).copied() else { continue };
							let Some(req) = Requests::<Test>::get(id) else { continue };
							let Some(member) = req.committee.get(seat as usize) else { continue };
							if let Some(out) = outputs.get(&(id, req.round, member.worker)) {
								let _ = submit(reveal_call(id, member.worker, &out.clone()));
							}
						},
						Op::Publish { nth, seat } => {
							let Some(id) = ids.get(nth as usize).copied() else { continue };
							let Some(sealed) = Digests::<Test>::get(id, seat as u32) else { continue };
							if let Some(out) = outputs.get(&(id, 0, sealed.worker)) {
								let _ = submit(publish_call(id, sealed.worker, Answer::Output(out.clone())));
							}
						},
						Op::Blocks { n } => run_to(now() + n as u64),
					}
					prop_assert_eq!(Inference::do_try_state(), Ok(()));
					prop_assert_eq!(Staking::do_try_state(), Ok(()));
				}
				// Two full rounds of deadlines later (and with the least hook, a block for each
				// deadline it deferred), nothing is open.
				let backlog = if tight_hook { 4 * ids.len() as u64 } else { 0 };
				run_to(now() + 2 * (1 + COMMIT_WINDOW + REVEAL_WINDOW) + 2 + backlog);
				prop_assert_eq!(Requests::<Test>::iter().count(), 0);
				prop_assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
				prop_assert_eq!(Balances::total_issuance(), issuance);
				for id in ids.iter().copied() {
					prop_assert!(settled(id).is_some() || failed(id).is_some(), "request {} never ended", id);
				}
				let honest = text(&[0]);
				for record in System::events() {
					let RuntimeEvent::Inference(Event::MemberSlashed { request, worker, reason: Misconduct::WrongOutput, .. }) =
						record.event
					else {
						continue;
					};
					let answers: Vec<&Vec<u8>> =
						outputs.iter().filter(|((id, _, _), _)| *id == request).map(|(_, out)| out).collect();
					let colluded = answers.iter().filter(|out| ***out == text(&[1])).count() >= 2;
					let lied = outputs.iter().any(|((id, _, w), out)| *id == request && *w == worker && *out != honest);
					prop_assert!(lied || colluded, "worker {} slashed on request {} for an honest answer", worker, request);
				}
				Ok(())
			})?;
		}
	}
}

/// The least `MaxHookWeight` that `integrity_test` accepts for the mock runtime.
fn least_hook_weight() -> frame_support::weights::Weight {
	Inference::worst_single_deadline()
}

fn phase(id: RequestId) -> Phase<u64> {
	Requests::<Test>::get(id).expect("open").phase
}

#[test]
fn a_burst_of_requests_waits_in_the_queue_and_is_drawn_in_order() {
	run(3, || {
		let ids: Vec<RequestId> = (0..12).map(|_| request(Some(1))).collect();
		assert_eq!(NextToDraw::<Test>::get(), ids[0]);
		// Nothing is drawn from the randomness of the block after the requests' own: its
		// author saw them.
		next_block();
		assert!(ids.iter().all(|id| matches!(phase(*id), Phase::Drawing)));
		next_block();
		// One block draws as many as a third of the deadline list of the block their commits end in.
		let third = (<<Test as Config>::MaxDeadlinesPerBlock as frame_support::traits::Get<u32>>::get() / 3) as usize;
		let drawn = ids.iter().filter(|id| !matches!(phase(**id), Phase::Drawing)).count();
		assert_eq!(drawn, third);
		assert!(ids[..third].iter().all(|id| matches!(phase(*id), Phase::Commit { .. })), "in request order");
		assert_eq!(NextToDraw::<Test>::get(), ids[third]);
		assert_eq!(Inference::request_status(ids[third]), opg_primitives::inference::RequestStatus::Drawing);
		// The queue has room again.
		let late = request(Some(1));
		run_to(now() + 2);
		assert_eq!(NextToDraw::<Test>::get(), late + 1);
		for id in ids.iter().chain([&late]) {
			answer_all(*id, |_| b"4".to_vec());
			assert!(settled(*id).is_some());
		}
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
	});
}

#[test]
fn a_request_that_cannot_be_drawn_in_time_is_refunded() {
	run(3, || {
		let id = request(Some(1));
		// Every block's deadline list where its commit phase would end is already a third full.
		let third = <<Test as Config>::MaxDeadlinesPerBlock as frame_support::traits::Get<u32>>::get() / 3;
		for b in now()..=now() + MAX_DRAW_WAIT + 2 + COMMIT_WINDOW {
			Deadlines::<Test>::mutate(b + COMMIT_WINDOW, |list| {
				for filler in 0..third {
					list.try_push(1_000 + filler as u64).expect("room");
				}
			});
		}
		run_to(now() + MAX_DRAW_WAIT);
		assert_eq!(phase(id), Phase::Drawing);
		next_block();
		assert_eq!(failed(id), Some(FailureReason::Congested));
		assert_eq!(NextToDraw::<Test>::get(), id + 1);
		assert_eq!(total(REQUESTER), INITIAL);
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
	});
}

#[test]
fn deadlines_beyond_the_hook_budget_wait_in_order_for_the_next_blocks() {
	run(3, || {
		HookWeight::set(least_hook_weight());
		let ids: Vec<RequestId> = (0..8).map(|_| request(None)).collect();
		next_block();
		let absent = committee(ids[0])[2];
		for id in &ids {
			for w in committee(*id).into_iter().filter(|w| *w != absent) {
				commit(*id, w, b"4");
			}
		}
		let Phase::Commit { ends } = phase(ids[0]) else { panic!("in commit") };
		run_to(ends + 1);
		let closed = ids.iter().filter(|id| matches!(phase(**id), Phase::SealedReveal { .. })).count();
		assert!(closed > 0 && closed < ids.len(), "the hook closed {closed} of {} deadlines", ids.len());
		assert!(ids[..closed].iter().all(|id| matches!(phase(*id), Phase::SealedReveal { .. })), "oldest first");
		assert_eq!(OverdueSince::<Test>::get(), Some(ends + 1));
		// A deferred deadline does not reopen the phase: past `ends` the absent member's
		// commit is refused although the hook has not closed its request yet.
		let deferred = *ids.iter().find(|id| matches!(phase(**id), Phase::Commit { .. })).expect("one deferred");
		assert_eq!(
			submit(commit_call(deferred, absent, commitment(&out(b"4"), &absent, &salt(absent)))),
			Err(InvalidTransaction::Custom(2))
		);
		Inference::do_try_state().expect("deferred deadlines are still scheduled");
		while OverdueSince::<Test>::get().is_some() {
			next_block();
		}
		let slashes = System::events()
			.iter()
			.filter(
				|r| matches!(&r.event, RuntimeEvent::Inference(Event::MemberSlashed { worker, .. }) if *worker == absent),
			)
			.count();
		assert_eq!(slashes, ids.len(), "the absent member is slashed once per request");
		for id in &ids {
			for w in committee(*id).into_iter().filter(|w| *w != absent) {
				reveal(*id, w, b"4");
			}
			publish_all(*id);
			assert!(settled(*id).is_some());
		}
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 0);
	});
}

#[test]
fn runtime_api_views_follow_the_lifecycle() {
	use opg_primitives::inference::{Duty, RequestStatus};
	run(3, || {
		assert_eq!(Inference::model_info(&MODEL).map(|m| m.price), Some(PRICE));
		let id = request(None);
		assert_eq!(Inference::request_status(id), RequestStatus::Drawing);
		next_block();
		let m = committee(id);
		let duties = Inference::assignments(&key_of(m[0]));
		assert_eq!(duties.len(), 1);
		assert_eq!((duties[0].request, duties[0].duty, duties[0].input.clone()), (id, Duty::Commit, text(b"hello")));
		commit(id, m[0], b"a");
		assert!(Inference::assignments(&key_of(m[0])).is_empty(), "committed: nothing to do until reveal");
		commit(id, m[1], b"a");
		commit(id, m[2], b"a");
		assert_eq!(Inference::assignments(&key_of(m[0]))[0].duty, Duty::RevealDigest);
		for w in &m {
			reveal(id, *w, b"a");
		}
		let publish = Inference::assignments(&key_of(m[0]));
		assert_eq!((publish.len(), publish[0].round, publish[0].duty), (1, 0, Duty::Publish));
		assert!(matches!(Inference::request_status(id), RequestStatus::Reveal { round: 0, .. }));
		publish_all(id);
		assert!(
			matches!(Inference::request_status(id), RequestStatus::Settled { ref output, .. } if *output == Value::Text(b"a".to_vec()))
		);
		assert!(Inference::assignments(&key_of(m[0])).is_empty());
		assert_eq!(Inference::request_status(999), RequestStatus::Unknown);
	});
}

// ---- typed values ----

#[test]
fn an_output_that_is_not_a_value_cannot_be_revealed() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		let garbage = Answer::Output(b"\xff not a value".to_vec());
		commit_answer(id, m[0], &garbage);
		commit(id, m[1], b"answer");
		commit(id, m[2], b"answer");
		// A sealed reveal shows only a digest; the garbage behind it cannot be published.
		submit(reveal_answer_call(id, m[0], garbage.clone(), salt(m[0]))).expect("a digest is a digest");
		reveal(id, m[1], b"answer");
		reveal(id, m[2], b"answer");
		assert_eq!(submit(publish_call(id, m[0], garbage)), Err(InvalidTransaction::Custom(7)));
		for w in [m[1], m[2]] {
			submit(publish_call(id, w, out(b"answer"))).expect("published");
		}
		run_to(now() + REVEAL_WINDOW);
		assert_eq!(settled(id).expect("the others settle it").0, b"answer".to_vec());
		assert!(System::events().iter().any(|r| matches!(
			&r.event,
			RuntimeEvent::Staking(pallet_worker_staking::Event::Slashed { worker, reason: Misconduct::BadOrMissingReveal, .. })
				if *worker == m[0]
		)));
	});
}

#[test]
fn migration_types_inputs_and_outputs_and_ends_requests_that_are_not_values() {
	use crate::migrations::{v1, MigrateV1ToV2};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	run(3, || {
		// Requests of version 1 were never sealed.
		SealedSince::<Test>::put(u64::MAX);
		// A settled request, its result stored as version 1 stored it.
		let settled_id = request(Some(1));
		next_block();
		let member = committee(settled_id)[0];
		commit(settled_id, member, b"answer");
		reveal(settled_id, member, b"answer");
		let result = Results::<Test>::get(settled_id).expect("settled");
		v1::Results::<Test>::insert(
			settled_id,
			v1::InferenceResult {
				model: result.model,
				answer: v1::StoredAnswer::Output(text(b"answer").try_into().unwrap()),
				settled: result.settled,
			},
		);
		// A request in reveal whose input is a value, one member's output revealed, another's
		// output not a value.
		let kept = request(None);
		next_block();
		let m = committee(kept);
		for w in &m {
			commit(kept, *w, b"answer");
		}
		reveal(kept, m[0], b"answer");
		let stored = Requests::<Test>::get(kept).unwrap();
		v1::Requests::<Test>::insert(kept, v1::Request::old(stored.clone(), &text(b"hello")));
		v1::Outputs::<Test>::insert(kept, 0, v1::StoredAnswer::Output(text(b"answer").try_into().unwrap()));
		v1::Outputs::<Test>::insert(kept, 1, v1::StoredAnswer::Output(b"\xff".to_vec().try_into().unwrap()));
		// A request whose input is not a value.
		let ended = request(None);
		let not_a_value = Requests::<Test>::get(ended).unwrap();
		v1::Requests::<Test>::insert(ended, v1::Request::old(not_a_value, b"\xff\xff"));
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), 2 * MAX_FEE);
		StorageVersion::new(1).put::<Inference>();

		MigrateV1ToV2::<Test>::on_runtime_upgrade();

		assert_eq!(Inference::on_chain_storage_version(), 2);
		// Everything kept, except the transaction index version 1 did not record.
		assert_eq!(Requests::<Test>::get(kept), Some(Request { extrinsic: None, ..stored }));
		assert_eq!(
			Outputs::<Test>::get(kept, 0),
			Some(StoredAnswer::Output(BoundedValue::from_encoded(text(b"answer")).unwrap()))
		);
		assert_eq!(Outputs::<Test>::get(kept, 1), None);
		assert_eq!(Results::<Test>::get(settled_id), Some(InferenceResult { requested: None, ..result }));
		assert!(Requests::<Test>::get(ended).is_none());
		assert_eq!(Inference::held(HoldReason::Escrow, &REQUESTER), MAX_FEE);
		assert!(System::events().iter().any(|r| matches!(
			r.event,
			RuntimeEvent::Inference(Event::Failed { request, reason: FailureReason::InputNotAValue }) if request == ended
		)));
		// Run again, nothing changes: the version guards it.
		MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Requests::<Test>::get(kept).map(|r| r.input.value()), Some(Value::Text(b"hello".to_vec())));
	});
}

#[test]
fn migration_makes_open_phases_end_a_block_earlier_and_keeps_their_deadlines() {
	use crate::migrations::MigrateV2ToV3;
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	run(3, || {
		let id = request(None);
		await_draw(id);
		let Phase::Commit { ends } = phase(id) else { panic!("in commit") };
		// As version 2 stored it: `ends` was the block whose hook closed the phase, which is
		// where its deadline is filed.
		Requests::<Test>::mutate(id, |r| r.as_mut().expect("open").phase = Phase::Commit { ends: ends + 1 });
		assert!(Deadlines::<Test>::get(ends + 1).contains(&id));
		StorageVersion::new(2).put::<Inference>();
		MigrateV2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(Inference::on_chain_storage_version(), 3);
		assert_eq!(phase(id), Phase::Commit { ends });
		Inference::do_try_state().expect("its deadline is where the new `ends` says");
		// Nobody commits: the deadline filed before the upgrade ends it.
		run_to(ends + 1);
		assert_eq!(failed(id), Some(FailureReason::Unanswered));
		// Run again, nothing changes: the version guards it.
		MigrateV2ToV3::<Test>::on_runtime_upgrade();
	});
}

// ---- deadlines mean what they say ----

#[test]
fn submissions_are_taken_in_block_ends_and_refused_after_it() {
	run(3, || {
		let id = request(None);
		next_block();
		let m = committee(id);
		let Phase::Commit { ends } = phase(id) else { panic!("in commit") };
		// What the member is told is the last block its commit goes in.
		let duty = Inference::assignments(&key_of(m[0]));
		assert_eq!((duty.len(), duty[0].ends), (1, ends));
		assert_eq!(ends, now() + COMMIT_WINDOW - 1, "a window of COMMIT_WINDOW blocks, this one included");
		commit(id, m[0], b"answer");
		run_to(ends);
		assert!(matches!(phase(id), Phase::Commit { .. }), "block `ends` still takes commits");
		commit(id, m[1], b"answer");
		next_block();
		// The block after `ends` closes it; the last member's commit is refused and it is a no-show.
		let Phase::SealedReveal { ends } = phase(id) else { panic!("the hook closed the commit phase") };
		assert_eq!(
			submit(commit_call(id, m[2], commitment(&out(b"answer"), &m[2], &salt(m[2])))),
			Err(InvalidTransaction::Custom(2))
		);
		// Reveals alike: the last one is taken in block `ends`.
		reveal(id, m[0], b"answer");
		run_to(ends);
		reveal(id, m[1], b"answer");
		// And publications: the last one is taken in block `ends` of the publish phase.
		let Phase::Publish { ends } = phase(id) else { panic!("every committed member revealed") };
		submit(publish_call(id, m[0], out(b"answer"))).expect("published");
		run_to(ends);
		submit(publish_call(id, m[1], out(b"answer"))).expect("published in block `ends`");
		assert!(settled(id).is_some(), "every revealed member published");
		let slashed: Vec<_> = System::events()
			.iter()
			.filter_map(|r| match &r.event {
				RuntimeEvent::Inference(Event::MemberSlashed { worker, .. }) => Some(*worker),
				_ => None,
			})
			.collect();
		assert_eq!(slashed, vec![m[2]], "only the member that missed the commit phase");
	});
}

// ---- where draws get their randomness ----

/// The draw of `id`'s first round when the blocks after its inclusion have hashes picked by
/// `header` (what their authors could grind by re-sealing them) and the drawing block's VRF
/// is keyed `vrf_key` (a different author, or the next slot's); nothing is kept.
fn draw_with(id: RequestId, header: u64, vrf_key: u64) -> Vec<AccountId> {
	use frame_support::storage::{with_transaction, TransactionOutcome};
	with_transaction(|| {
		VRF_KEY.with(|k| k.set(vrf_key));
		while matches!(phase_of(id), Some(Phase::Drawing)) {
			next_block_with_parent(|n| sp_core::H256::from_low_u64_be(header.wrapping_mul(1_000_003) ^ n));
		}
		VRF_KEY.with(|k| k.set(0));
		TransactionOutcome::Rollback(Ok::<_, sp_runtime::DispatchError>(committee(id)))
	})
	.expect("rolled back")
}

/// With the parent hash as the seed, the author of the block that includes a request could
/// re-seal its block until the hash seats its friends: among seven equal workers, two friends
/// hold two of three seats (a quorum) within a few dozen tries. Now the draw takes the VRF
/// output of blocks built after the request's own, so no header the author can make changes
/// it; the only randomness left to an author is its block's VRF, which it can publish or
/// withhold.
#[test]
fn the_blocks_around_a_request_cannot_grind_its_committee() {
	use opg_primitives::committee::select_committee;
	run(7, || {
		let id = request(None);
		let friends = [1u64, 2u64].map(|i| Staking::eligible_workers(&MODEL)[i as usize].0);
		let captured = |members: &[AccountId]| members.iter().filter(|m| friends.contains(m)).count() >= 2;
		let tries = 3_300u64;

		// The control: the seed as it was, over the same candidates.
		let candidates: Vec<(AccountId, u128)> =
			Staking::eligible_workers(&MODEL).into_iter().map(|(w, s)| (w, s as u128)).collect();
		let old_seed = |parent: u64| -> [u8; 32] {
			sp_io::hashing::blake2_256(&(sp_core::H256::from_low_u64_be(parent), id, 0u8).encode())
		};
		let found = (0..tries).find(|p| captured(&select_committee(&candidates, 3, &old_seed(*p)).unwrap()));
		assert!(found.is_some_and(|p| p < 100), "the old seed is captured within a few tries: {found:?}");

		// Every header the surrounding authors could make gives one and the same committee.
		let drawn: std::collections::BTreeSet<Vec<AccountId>> = (0..tries).map(|h| draw_with(id, h, 0)).collect();
		assert_eq!(drawn.len(), 1, "the draw depends on the headers around the request");
		// The drawing block's VRF output does decide it: other authors draw other committees.
		let by_author: std::collections::BTreeSet<Vec<AccountId>> = (0..64).map(|a| draw_with(id, 0, a)).collect();
		assert!(by_author.len() > 8, "{} committees from 64 VRF outputs", by_author.len());
	});
}

/// No randomness in the block (an author slot without a VRF output): nothing is drawn, and the
/// queue waits for a block that has it; escalations likewise.
#[test]
fn draws_wait_for_a_block_with_randomness() {
	run(7, || {
		let id = request(Some(1));
		NO_RANDOMNESS.with(|b| b.borrow_mut().extend([3, 4]));
		run_to(4);
		assert!(matches!(phase_of(id), Some(Phase::Drawing)));
		next_block();
		assert!(matches!(phase_of(id), Some(Phase::Commit { .. })));
		// A first round without a quorum escalates, drawn no earlier than `DELAY` blocks on.
		let (escalating, _) = split_first_round();
		let Some(Phase::Escalating { draws_at }) = phase_of(escalating) else { panic!("escalating") };
		assert_eq!(draws_at, now() + 2);
		NO_RANDOMNESS.with(|b| b.borrow_mut().insert(draws_at));
		run_to(draws_at);
		assert!(matches!(phase_of(escalating), Some(Phase::Escalating { draws_at: d }) if d == draws_at + 1));
		Inference::do_try_state().expect("the postponed draw is scheduled");
		next_block();
		assert!(matches!(phase_of(escalating), Some(Phase::Commit { .. })));
		assert_eq!(round(escalating), 1);
	});
}

/// Blocks without randomness draw nothing, yet a request that waited `MaxDrawWait` blocks
/// still ends, refunded: nothing stays pending because randomness stopped coming.
#[test]
fn without_randomness_a_queued_request_still_ends_after_max_draw_wait() {
	run(7, || {
		let id = request(Some(1));
		let created = now();
		NO_RANDOMNESS.with(|b| b.borrow_mut().extend(created..=created + MAX_DRAW_WAIT + 2));
		run_to(created + MAX_DRAW_WAIT);
		assert!(matches!(phase_of(id), Some(Phase::Drawing)));
		run_to(created + MAX_DRAW_WAIT + 1);
		assert_eq!(failed(id), Some(FailureReason::Congested));
		Inference::do_try_state().expect("invariants");
	});
}

/// Two workers holding 1 % of a model's stake between them win two of three seats (a quorum)
/// about one draw in 3,100 (325 in 1,000,000 seeds): the search an author grinding the parent hash had to run within its
/// slot, and the odds every draw now has, which no author can re-roll beyond withholding.
#[test]
fn a_one_percent_pair_is_captured_one_draw_in_thousands() {
	use opg_primitives::committee::select_committee;
	// The friends (0 and 1) stake 1 each; 66 others 3 each: 2 of 200.
	let candidates: Vec<(u64, u128)> = (0..68u64).map(|i| (i, if i < 2 { 1 } else { 3 })).collect();
	let captured = |seed: &[u8; 32]| {
		select_committee(&candidates, 3, seed).expect("enough candidates").iter().filter(|m| **m < 2).count() >= 2
	};
	let draws = 400_000u64;
	let captures = (0..draws)
		.filter(|i| captured(&protocol::draw_seed(&sp_io::hashing::blake2_256(&i.encode()), 7, 0)))
		.count() as u64;
	// Each friend is seated with probability 3 × 1/200; both a little more often than the
	// square (1 in 4,444) says, as systematic sampling spaces the seats evenly.
	assert!((100..=165).contains(&captures), "{captures} captures in {draws} draws");
	println!("1 % over two workers: {captures} captures in {draws} draws (1 in {})", draws / captures.max(1));
}
