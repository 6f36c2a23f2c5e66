//! Benchmarks (v2) of every call, the authorization of member submissions, and the hook's
//! units of work, each in its worst case.

use super::*;
use alloc::{vec, vec::Vec};
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, Authorize, Get, Hooks};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use opg_primitives::inference::{
	commitment, Answer, BoundedValue, ComparisonRule, ExecutionProfile, ModelFormat, Value,
};
use sp_runtime::{traits::Saturating, transaction_validity::TransactionSource};

/// What the benchmarks need from the runtime: model ids, staked workers and their signatures.
pub trait BenchmarkHelper<T: Config> {
	fn model_id(i: u32) -> T::ModelId;
	/// Register worker `i`, staked and serving `model`; return its account and key.
	fn worker(model: T::ModelId, i: u32) -> (T::AccountId, T::WorkerKey);
	/// The most workers one model can have: the candidates a draw or a request's check reads
	/// in the worst case.
	fn max_candidates() -> u32;
	fn sign(key: &T::WorkerKey, msg: &[u8]) -> SignatureOf<T>;
}

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::ModelDeposit::get().saturating_add(T::VerificationFee::get()).saturating_mul(1_000_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

fn model<T: Config>() -> T::ModelId {
	let owner = funded::<T>("owner", 0);
	let id = T::BenchmarkHelper::model_id(0);
	Pallet::<T>::do_register_model(
		owner,
		id,
		ModelFormat::BertEmbedding,
		vec![b'a'; T::MaxArchitectureLen::get() as usize],
		T::VerificationFee::get(),
		// Outputs compared element by element, the costlier rule.
		ComparisonRule::F32Ulps { max_ulps: 256, abs_tol_bits: 1e-5f32.to_bits() },
		ExecutionProfile::Fast,
		vec![vec![b'u'; T::MaxUriLen::get() as usize]; T::MaxUris::get() as usize],
	)
	.expect("registers");
	id
}

/// Every worker a model can have, serving `model`: `at_least` of them, or more.
fn candidates<T: Config>(model: T::ModelId, at_least: u32) -> Vec<(T::AccountId, T::WorkerKey)> {
	(0..T::BenchmarkHelper::max_candidates().max(at_least)).map(|i| T::BenchmarkHelper::worker(model, i)).collect()
}

fn max_fee<T: Config>() -> BalanceOf<T> {
	T::VerificationFee::get().saturating_mul(10_000u32.into())
}

/// The salt every benchmark member commits with.
const SALT: [u8; 32] = [5u8; 32];

/// An open request whose committee of `k` has committed to `output` and is in its reveal
/// phase; `revealed` of them have revealed.
fn in_reveal<T: Config>(k: u32, revealed: u32, output: &[u8]) -> (RequestId, Vec<(T::AccountId, T::WorkerKey)>) {
	let model = model::<T>();
	let workers: Vec<_> = (0..k).map(|i| T::BenchmarkHelper::worker(model, i)).collect();
	let requester = funded::<T>("requester", 0);
	let seats = k.min(Pallet::<T>::max_first_round_seats()).max(1);
	Pallet::<T>::do_request_inference(requester, model, Value::Text(vec![1u8; 8]), max_fee::<T>(), Some(seats))
		.expect("requests");
	let id = NextRequestId::<T>::get() - 1;
	NextToDraw::<T>::put(id + 1);
	let now = frame_system::Pallet::<T>::block_number();
	let (ends, closes) = Pallet::<T>::window(now, T::RevealWindow::get());
	let mut req = Requests::<T>::get(id).expect("open");
	req.committee = workers
		.iter()
		.enumerate()
		.map(|(i, (w, key))| Seat {
			worker: w.clone(),
			key: key.clone(),
			commitment: Some(commitment(&Answer::Output(output.to_vec()), w, &SALT)),
			revealed: (i as u32) < revealed,
		})
		.collect::<Vec<_>>()
		.try_into()
		.expect("k <= MaxSeats");
	req.phase = Phase::Reveal { ends };
	for (i, (w, _)) in workers.iter().enumerate().take(revealed as usize) {
		Outputs::<T>::insert(id, i as u32, stored::<T>(output));
		Assignments::<T>::insert(w, id, ());
	}
	Requests::<T>::insert(id, req);
	Deadlines::<T>::mutate(closes, |d| d.try_push(id).expect("room"));
	(id, workers)
}

/// A deadline that is still open when the benchmark runs (the harness may move to block 1).
fn open_until<T: Config>() -> BlockNumberFor<T> {
	frame_system::Pallet::<T>::block_number().saturating_add(T::CommitWindow::get())
}

/// The longest text whose encoding is at most `len` bytes (one or two short of it where the
/// length prefix grows).
fn text_of_len(len: u32) -> Value {
	let mut text = vec![7u8; len.saturating_sub(2) as usize];
	while Value::Text(text.clone()).encoded_size() > len as usize {
		text.pop();
	}
	Value::Text(text)
}

/// An `f32` vector whose encoding is at most `len` bytes, every element `element`.
fn f32_of_len(len: u32, element: f32) -> Value {
	let mut n = (len / 4) as usize;
	loop {
		let value = Value::F32 { shape: vec![n as u32], bits: vec![element.to_bits(); n] };
		if value.encoded_size() <= len as usize || n == 0 {
			return value;
		}
		n -= 1;
	}
}

/// The largest output: an `f32` tensor of (about) `MaxOutputLen` bytes, which the model's
/// `F32Ulps` rule compares element by element.
fn max_output<T: Config>() -> Vec<u8> {
	f32_of_len(T::MaxOutputLen::get(), 0.5).encode()
}

/// The largest output that disagrees with [`max_output`] only in its last element, so a
/// comparison walks all of it before it fails.
fn max_wrong_output<T: Config>() -> Vec<u8> {
	let Value::F32 { shape, mut bits } = f32_of_len(T::MaxOutputLen::get(), 0.5) else { unreachable!("an f32 tensor") };
	if let Some(last) = bits.last_mut() {
		*last = 2.5f32.to_bits();
	}
	Value::F32 { shape, bits }.encode()
}

fn stored<T: Config>(output: &[u8]) -> AnswerOf<T> {
	StoredAnswer::Output(BoundedValue::from_encoded(output.to_vec()).expect("an encoded value that fits"))
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_model() {
		let owner = funded::<T>("owner", 1);
		let id = T::BenchmarkHelper::model_id(1);
		let uris = vec![vec![b'u'; T::MaxUriLen::get() as usize]; T::MaxUris::get() as usize];
		let arch = vec![b'a'; T::MaxArchitectureLen::get() as usize];

		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner),
			id,
			ModelFormat::Onnx,
			arch,
			1u32.into(),
			ComparisonRule::Exact,
			ExecutionProfile::Fast,
			uris,
		);

		assert!(Models::<T>::contains_key(id));
	}

	#[benchmark]
	fn update_model() {
		let id = model::<T>();
		let owner = Models::<T>::get(id).expect("registered").owner;
		let uris = vec![vec![b'v'; T::MaxUriLen::get() as usize]; T::MaxUris::get() as usize];

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, 5u32.into(), uris);

		assert_eq!(Models::<T>::get(id).map(|m| m.price), Some(5u32.into()));
	}

	#[benchmark]
	fn retire_model() {
		let id = model::<T>();
		let owner = Models::<T>::get(id).expect("registered").owner;

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id);

		assert!(!Models::<T>::contains_key(id));
	}

	#[benchmark]
	fn request_inference(l: Linear<3, { T::MaxInputLen::get() }>) {
		// 3 bytes: the smallest input that holds something, a one-byte text.
		// The check that enough workers serve the model reads all of them.
		let id = model::<T>();
		let seats = T::DefaultSeats::get();
		candidates::<T>(id, seats);
		let requester = funded::<T>("requester", 0);
		// A queue full but for one place: the request pays the largest queue fee.
		let waiting = u64::from(T::MaxPendingDraws::get().saturating_sub(1));
		NextRequestId::<T>::put(waiting);

		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id, text_of_len(l), max_fee::<T>(), Some(seats));

		assert_eq!(NextRequestId::<T>::get() - NextToDraw::<T>::get(), waiting + 1);
	}

	#[benchmark]
	fn authorize_commit() -> Result<(), BenchmarkError> {
		let (id, workers) = in_reveal::<T>(1, 0, b"x");
		let mut req = Requests::<T>::get(id).expect("open");
		req.committee[0].commitment = None;
		req.phase = Phase::Commit { ends: open_until::<T>() };
		Requests::<T>::insert(id, req);
		let (_, key) = workers[0].clone();
		let c = [9u8; 32];
		let signature = T::BenchmarkHelper::sign(&key, &commit_payload(id, 0, &c));
		let call = Call::<T>::commit { request: id, round: 0, key, commitment: c, signature };

		#[block]
		{
			call.authorize(TransactionSource::External).ok_or("authorizes")?.map_err(|_| "valid")?;
		}
		Ok(())
	}

	#[benchmark]
	fn commit() {
		// The last commit of a full first-round committee: it opens the reveal phase.
		let k = Pallet::<T>::max_first_round_seats();
		let (id, workers) = in_reveal::<T>(k, 0, b"x");
		let mut req = Requests::<T>::get(id).expect("open");
		req.committee.last_mut().expect("k >= 1").commitment = None;
		req.phase = Phase::Commit { ends: open_until::<T>() };
		Requests::<T>::insert(id, req);
		let (_, key) = workers.last().expect("k >= 1").clone();
		let c = [9u8; 32];
		let signature = T::BenchmarkHelper::sign(&key, &commit_payload(id, 0, &c));

		#[extrinsic_call]
		_(RawOrigin::Authorized, id, 0, key, c, signature);

		// Sealed when its `max_fee` pays for an escalation: the same write either way.
		assert!(matches!(
			Requests::<T>::get(id).map(|r| r.phase),
			Some(Phase::Reveal { .. } | Phase::SealedReveal { .. })
		));
	}

	#[benchmark]
	fn authorize_reveal() -> Result<(), BenchmarkError> {
		let output = max_output::<T>();
		let (id, workers) = in_reveal::<T>(2, 0, &output);
		let (_, key) = workers[0].clone();
		let answer = Answer::Output(output);
		let signature = T::BenchmarkHelper::sign(&key, &reveal_payload(id, 0, &answer, &SALT));
		let call = Call::<T>::reveal { request: id, round: 0, key, answer, salt: SALT, signature };

		#[block]
		{
			call.authorize(TransactionSource::External).ok_or("authorizes")?.map_err(|_| "valid")?;
		}
		Ok(())
	}

	#[benchmark]
	fn reveal(k: Linear<1, { T::MaxSeats::get() }>) {
		// The last reveal of a committee of `k`: it settles the request.
		let output = max_output::<T>();
		let (id, workers) = in_reveal::<T>(k, k - 1, &output);
		let (_, key) = workers.last().expect("k >= 1").clone();
		let answer = Answer::Output(output);
		let signature = T::BenchmarkHelper::sign(&key, &reveal_payload(id, 0, &answer, &SALT));

		#[extrinsic_call]
		_(RawOrigin::Authorized, id, 0, key, answer, SALT, signature);

		assert!(Requests::<T>::get(id).is_none());
	}

	#[benchmark]
	fn on_initialize_idle() {
		let n = frame_system::Pallet::<T>::block_number().saturating_add(1u32.into());

		#[block]
		{
			Pallet::<T>::on_initialize(n);
		}
	}

	#[benchmark]
	fn draw(k: Linear<1, { T::MaxSeats::get() }>) {
		// `k` seats drawn from every worker the model can have.
		let id = model::<T>();
		candidates::<T>(id, k);
		let requester = funded::<T>("requester", 0);
		Pallet::<T>::do_request_inference(requester, id, Value::Text(vec![1u8; 8]), max_fee::<T>(), Some(1))
			.expect("requests");
		let rid = NextRequestId::<T>::get() - 1;
		let mut req = Requests::<T>::get(rid).expect("open");

		#[block]
		{
			Pallet::<T>::draw(rid, &mut req, k, &[7u8; 32]);
		}

		assert_eq!(req.committee.len() as u32, k);
	}

	#[benchmark]
	fn deadline(k: Linear<1, { T::MaxSeats::get() }>) {
		// A reveal deadline where just a quorum agrees and everyone else either revealed a wrong
		// answer or never revealed: the most slashing with a settlement.
		let output = max_output::<T>();
		let (id, workers) = in_reveal::<T>(k, k, &output);
		let others = k - opg_primitives::inference::quorum(k);
		let wrong = others / 2;
		let silent = others - wrong;
		let mut req = Requests::<T>::get(id).expect("open");
		for (i, m) in req.committee.iter_mut().enumerate() {
			let i = i as u32;
			if i < wrong {
				Outputs::<T>::insert(id, i, stored::<T>(&max_wrong_output::<T>()));
			} else if i < wrong + silent {
				m.revealed = false;
			}
		}
		let Phase::Reveal { ends } = req.phase else { panic!("in reveal") };
		Requests::<T>::insert(id, req);
		let _ = workers;

		#[block]
		{
			Pallet::<T>::tick(ends.saturating_add(1u32.into()));
		}

		assert!(Requests::<T>::get(id).is_none());
	}

	#[benchmark]
	fn prune_result() {
		let now: BlockNumberFor<T> = 1u32.into();
		Results::<T>::insert(
			0,
			InferenceResult {
				model: T::BenchmarkHelper::model_id(0),
				answer: stored::<T>(&max_output::<T>()),
				settled: now,
				rule: ComparisonRule::Exact,
				profile: ExecutionProfile::Portable,
				requested: Some(Inclusion { block: now, index: 1 }),
			},
		);
		Expiries::<T>::mutate(now, |e| e.try_push(0).expect("room"));
		// Its requester's deposit is released with it.
		let requester = funded::<T>("requester", 0);
		Pallet::<T>::hold(HoldReason::RequestDeposit, &requester, T::RequestDeposit::get()).expect("holds");
		Deposits::<T>::insert(0, (requester, T::RequestDeposit::get()));

		#[block]
		{
			Pallet::<T>::tick(now);
		}

		assert!(Results::<T>::get(0).is_none() && Deposits::<T>::get(0).is_none());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(0), crate::mock::Test);
}
