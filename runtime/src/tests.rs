//! Checks of the runtime as configured: genesis presets build, and the pallets' invariants hold
//! on them.

use crate::*;
use frame_support::traits::{fungible::Inspect, Hooks};
use sp_runtime::BuildStorage;

fn genesis(preset: &str) -> sp_io::TestExternalities {
	let patch = genesis_config_presets::get_preset(&preset.into()).expect("preset exists");
	let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("default");
	json_merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("valid config");
	config.build_storage().expect("genesis builds").into()
}

fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
	match (a, b) {
		(serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
			for (k, v) in b {
				json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
			}
		},
		(a, b) => *a = b,
	}
}

#[test]
fn local_testnet_has_four_validators_and_a_funded_treasury() {
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_babe::Authorities::<Runtime>::get().len(), 4);
		assert_eq!(pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(), 4);
		assert_eq!(Balances::balance(&treasury_account()), EXISTENTIAL_DEPOSIT);
		let pot = pallet_worker_staking::Pallet::<Runtime>::reward_account();
		assert_eq!(Balances::balance(&pot), EXISTENTIAL_DEPOSIT);
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

#[test]
fn development_has_one_validator_and_a_committee_of_staked_workers() {
	use genesis_config_presets::{dev_worker_key, DEVELOPMENT_WORKERS, GENESIS_WORKER_BOND};
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_babe::Authorities::<Runtime>::get().len(), 1);
		System::on_initialize(1);
		for who in DEVELOPMENT_WORKERS {
			let key = dev_worker_key(who);
			assert_eq!(WorkerStaking::worker_of_key(&key), Some(who.to_account_id()));
			assert_eq!(
				WorkerStaking::held(pallet_worker_staking::HoldReason::WorkerBond, &who.to_account_id()),
				GENESIS_WORKER_BOND
			);
		}
		for model in opg_primitives::demo::MODELS {
			assert_eq!(WorkerStaking::eligible_workers(&model).len(), DEVELOPMENT_WORKERS.len());
		}
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

#[test]
fn local_testnet_validators_are_workers_serving_the_demo_models() {
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		for model in opg_primitives::demo::MODELS {
			assert_eq!(WorkerStaking::eligible_workers(&model).len(), 4);
		}
	});
}

#[test]
fn unknown_preset_is_none() {
	assert!(genesis_config_presets::get_preset(&"mainnet".into()).is_none());
}

#[test]
fn inference_hook_never_takes_room_from_ordinary_transactions() {
	use frame_support::dispatch::DispatchClass;
	use pallet_inference::WeightInfo as _;
	type W = pallet_inference::weights::SubstrateWeight<Runtime>;
	let limits = configs::RuntimeBlockWeights::get();
	let normal = limits.get(DispatchClass::Normal).max_total.expect("normal class is limited");
	let expiries = W::prune_result().saturating_mul(
		<<Runtime as pallet_inference::Config>::MaxDeadlinesPerBlock as frame_support::traits::Get<u32>>::get().into(),
	);
	let hook = W::on_initialize_idle()
		.saturating_add(expiries)
		.saturating_add(<Runtime as pallet_inference::Config>::MaxHookWeight::get());
	assert!(
		normal.saturating_add(hook).ref_time() <= limits.max_block.ref_time(),
		"hook {hook:?} + ordinary {normal:?} > block {:?}",
		limits.max_block
	);
}

#[test]
fn operational_transactions_fit_after_the_hook_took_its_budget_and_ordinary_ones_filled_theirs() {
	use frame_support::dispatch::{DispatchClass, DispatchInfo, Pays};
	let limits = configs::RuntimeBlockWeights::get();
	let normal = limits.get(DispatchClass::Normal).max_total.expect("normal class is limited");
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		start_block(1);
		// The worst hook: its whole budget, on top of what initializing the block took.
		let hook = <Runtime as pallet_inference::Config>::MaxHookWeight::get();
		frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(hook, DispatchClass::Mandatory);
		frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(normal, DispatchClass::Normal);
		let info = |class, share: u64| DispatchInfo {
			call_weight: frame_support::weights::Weight::from_parts(limits.max_block.ref_time() / 100 * share, 0),
			class,
			pays_fee: Pays::Yes,
			..Default::default()
		};
		// No ordinary transaction fits any more; an operational one of a fifth of the block
		// (e.g. an equivocation report) still does, from the share kept for them.
		assert!(frame_system::CheckWeight::<Runtime>::do_prepare(&info(DispatchClass::Normal, 1), 100, 100).is_err());
		assert_ok(frame_system::CheckWeight::<Runtime>::do_prepare(&info(DispatchClass::Operational, 20), 100, 100));
	});
}

#[test]
fn draw_queue_migration_starts_at_the_old_list() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(Inference::on_chain_storage_version(), StorageVersion::new(4), "genesis is current");
		StorageVersion::new(0).put::<Inference>();
		pallet_inference::NextRequestId::<Runtime>::put(12);
		let old: frame_support::BoundedVec<u64, frame_support::traits::ConstU32<1024>> =
			vec![10, 11].try_into().expect("fits");
		frame_support::storage::unhashed::put(&frame_support::storage::storage_prefix(b"Inference", b"Drawing"), &old);
		Migrations::on_runtime_upgrade();
		assert_eq!(pallet_inference::NextToDraw::<Runtime>::get(), 10);
		// And on through 1 → 2 (nothing open to retype here), 2 → 3 and 3 → 4, which seals
		// requests made from the upgrade's block on.
		assert_eq!(Inference::on_chain_storage_version(), StorageVersion::new(4));
		assert_eq!(pallet_inference::SealedSince::<Runtime>::get(), frame_system::Pallet::<Runtime>::block_number());
		assert!(!frame_support::storage::unhashed::exists(&frame_support::storage::storage_prefix(
			b"Inference",
			b"Drawing"
		)));
	});
}

/// A transaction signed by `who` with the runtime's own extensions.
fn signed(who: sp_keyring::Sr25519Keyring, nonce: Nonce, call: RuntimeCall) -> UncheckedExtrinsic {
	let extensions = transaction_extensions(nonce);
	let payload = SignedPayload::new(call.clone(), extensions.clone()).expect("implicit data");
	let signature = codec::Encode::using_encoded(&payload, |bytes| sp_core::Pair::sign(&who.pair(), bytes));
	UncheckedExtrinsic::new_signed(call, who.to_account_id().into(), signature.into(), extensions)
}

/// Start block `n` as the executive does (its hooks run), in slot `n`.
fn start_block(n: BlockNumber) {
	start_block_in_slot(n, n.into());
}

#[test]
fn a_block_with_more_deadlines_due_than_the_hook_may_take_still_takes_transfers_and_reveals() {
	use frame_support::dispatch::DispatchClass;
	use opg_primitives::inference::{commitment, Answer};
	use pallet_inference::{Phase, Requests};
	use sp_core::Pair;
	use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave, Ferdie};

	let worker_pair = |who: sp_keyring::Sr25519Keyring| {
		sp_core::sr25519::Pair::from_string(&format!("//{who:?}//opg-worker"), None).expect("dev seed")
	};
	let answer = Answer::Output(codec::Encode::encode(&opg_primitives::inference::Value::Tokens(vec![4])));
	let salt = [3u8; 32];
	let member_call = |who: sp_keyring::Sr25519Keyring, request: u64, reveal: bool| {
		let key = genesis_config_presets::dev_worker_key(who);
		let call = if reveal {
			let signature = worker_pair(who).sign(&pallet_inference::reveal_payload(request, 0, &answer, &salt));
			pallet_inference::Call::reveal {
				request,
				round: 0,
				key,
				answer: answer.clone(),
				salt,
				signature: signature.into(),
			}
		} else {
			let c = commitment(&answer, &who.to_account_id(), &salt);
			let signature = worker_pair(who).sign(&pallet_inference::commit_payload(request, 0, &c));
			pallet_inference::Call::commit { request, round: 0, key, commitment: c, signature: signature.into() }
		};
		general_transaction(RuntimeCall::Inference(call))
	};

	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		start_block(1);
		let model = opg_primitives::demo::ONNX_MLP;
		assert_ok(Inference::register_model(
			RuntimeOrigin::signed(Ferdie.to_account_id()),
			model,
			opg_primitives::inference::ModelFormat::Onnx,
			b"mlp".to_vec(),
			OPG,
			opg_primitives::inference::ComparisonRule::Exact,
			opg_primitives::inference::ExecutionProfile::Portable,
			vec![b"http://127.0.0.1/mlp.tar".to_vec()],
		));
		// As many requests as one block draws; their commit phases all end in the same block.
		let drawn_per_block =
			<<Runtime as pallet_inference::Config>::MaxDeadlinesPerBlock as frame_support::traits::Get<u32>>::get() / 3;
		let requests: Vec<u64> = (0..drawn_per_block as u64).collect();
		// Each pays for one round, so it cannot escalate and its members reveal whole answers.
		let one_round = Inference::quote(&model, 3).expect("registered");
		for _ in &requests {
			assert_ok(Inference::request_inference(
				RuntimeOrigin::signed(Ferdie.to_account_id()),
				model,
				opg_primitives::inference::Value::Tokens(vec![1]),
				one_round,
				Some(3),
			));
		}
		start_block(2);
		start_block(3);
		let Some(Phase::Commit { ends }) = Requests::<Runtime>::get(requests[requests.len() - 1]).map(|r| r.phase)
		else {
			panic!("every request is drawn two blocks later, from the VRF outputs of both")
		};
		// Commits are taken up to block `ends`; the next block's hook closes the phase.
		let closes = ends + 1;
		// Alice and Bob commit on every request; Charlie never shows up.
		for id in &requests {
			for who in [Alice, Bob] {
				assert_eq!(Executive::apply_extrinsic(member_call(who, *id, false)), Ok(Ok(())));
			}
		}
		for n in 4..closes {
			start_block(n);
		}

		// Every commit deadline falls in this block: each slashes Charlie, at up to 128
		// delegators' worth of weight. The hook takes what fits in its budget and defers the rest.
		start_block(closes);
		let limits = configs::RuntimeBlockWeights::get();
		let used = System::block_weight();
		assert!(used.get(DispatchClass::Mandatory).ref_time() <= limits.max_block.ref_time() / 4);
		assert!(
			used.total().saturating_add(limits.get(DispatchClass::Normal).max_total.expect("limited")).ref_time()
				<= limits.max_block.ref_time(),
			"the hook left less than the ordinary share of the block"
		);
		let closed: Vec<u64> = requests
			.iter()
			.copied()
			.filter(|id| matches!(Requests::<Runtime>::get(id).map(|r| r.phase), Some(Phase::Reveal { .. })))
			.collect();
		assert!(!closed.is_empty() && closed.len() < requests.len(), "closed {} of {}", closed.len(), requests.len());
		assert_eq!(pallet_inference::OverdueSince::<Runtime>::get(), Some(closes));
		// Users' transactions and members' reveals still go in.
		let transfer = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
			dest: Ferdie.to_account_id().into(),
			value: OPG,
		});
		assert_eq!(Executive::apply_extrinsic(signed(Dave, 0, transfer)), Ok(Ok(())));
		let mut revealed = std::collections::BTreeSet::new();
		let reveal_open = |revealed: &mut std::collections::BTreeSet<u64>| {
			for id in &requests {
				let in_reveal = matches!(Requests::<Runtime>::get(id).map(|r| r.phase), Some(Phase::Reveal { .. }));
				if in_reveal && revealed.insert(*id) {
					for who in [Alice, Bob] {
						assert_eq!(Executive::apply_extrinsic(member_call(who, *id, true)), Ok(Ok(())));
					}
				}
			}
		};
		reveal_open(&mut revealed);
		pallet_inference::Pallet::<Runtime>::do_try_state().expect("inference invariants");

		// The next blocks work the rest off, oldest first; only the absent member is slashed,
		// once per request, and every request settles with the two honest answers.
		let events_in_block = || -> (Vec<AccountId>, usize) {
			let events = System::events();
			let slashed = events
				.iter()
				.filter_map(|r| match &r.event {
					RuntimeEvent::Inference(pallet_inference::Event::MemberSlashed { worker, .. }) => {
						Some(worker.clone())
					},
					_ => None,
				})
				.collect();
			let settled = events
				.iter()
				.filter(|r| matches!(r.event, RuntimeEvent::Inference(pallet_inference::Event::Settled { .. })))
				.count();
			(slashed, settled)
		};
		let (mut slashed, mut settled) = events_in_block();
		let mut n = closes;
		while pallet_inference::OverdueSince::<Runtime>::get().is_some() {
			n += 1;
			assert!(n < closes + 64, "the backlog does not shrink");
			start_block(n);
			reveal_open(&mut revealed);
			let (s, t) = events_in_block();
			slashed.extend(s);
			settled += t;
		}
		assert_eq!(settled, requests.len());
		assert!(requests.iter().all(|id| Requests::<Runtime>::get(id).is_none()));
		assert_eq!(slashed.len(), requests.len());
		assert!(slashed.iter().all(|w| *w == Charlie.to_account_id()));
		pallet_inference::Pallet::<Runtime>::do_try_state().expect("inference invariants");
	});
}

/// Finish the block under construction, if any, and start block `n` as BABE's authority
/// `slot % authorities` would in `slot`: its pre-digest carries the VRF output of that slot,
/// and the timestamp inherent is the slot's start.
fn start_block_in_slot(n: BlockNumber, slot: u64) {
	start_block_with_parent(n, slot, sp_core::H256::repeat_byte(n as u8));
}

/// [`start_block_in_slot`] with the parent hash given.
fn start_block_with_parent(n: BlockNumber, slot: u64, parent: sp_core::H256) {
	use sp_consensus_babe::digests::{PreDigest, SecondaryVRFPreDigest};
	if System::block_number() > 0 {
		Executive::finalize_block();
	}
	let authorities = pallet_babe::Authorities::<Runtime>::get();
	let index = (slot % authorities.len() as u64) as u32;
	let pair = keyring_of(sp_core::crypto::ByteArray::as_slice(&authorities[index as usize].0)).pair();
	// The epoch the slot falls in, and its randomness, as BABE's `on_initialize` will find them.
	let genesis_slot = *pallet_babe::GenesisSlot::<Runtime>::get();
	let epoch = if genesis_slot == 0 {
		0
	} else {
		(slot - genesis_slot) / <configs::EpochDuration as frame_support::traits::Get<u64>>::get()
	};
	let randomness = if epoch > pallet_babe::EpochIndex::<Runtime>::get() {
		pallet_babe::NextRandomness::<Runtime>::get()
	} else {
		pallet_babe::Randomness::<Runtime>::get()
	};
	let data = sp_consensus_babe::make_vrf_sign_data(&randomness, slot.into(), epoch);
	let pre_digest = PreDigest::SecondaryVRF(SecondaryVRFPreDigest {
		authority_index: index,
		slot: slot.into(),
		vrf_signature: sp_core::crypto::VrfSecret::vrf_sign(&pair, &data),
	});
	let digest = sp_runtime::Digest {
		logs: vec![sp_runtime::DigestItem::PreRuntime(
			sp_consensus_babe::BABE_ENGINE_ID,
			codec::Encode::encode(&pre_digest),
		)],
	};
	Executive::initialize_block(&<Header as sp_runtime::traits::Header>::new(
		n,
		Default::default(),
		Default::default(),
		parent,
		digest,
	));
	assert_ok(Timestamp::set(RuntimeOrigin::none(), slot * SLOT_DURATION).map_err(|e| format!("{e:?}")));
}

/// A worker that sets session keys and offers to validate joins the validator set at a session
/// boundary (chosen at one, in office from the next), and one that stops offering leaves it the
/// same way; BABE's authorities follow the session.
#[test]
fn validators_are_chosen_by_stake_from_candidates_at_session_boundaries() {
	use codec::Encode;
	use sp_core::Pair;
	use sp_keyring::Sr25519Keyring::{Dave, Eve};
	let mut ext = genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET);
	ext.register_extension(sp_keystore::KeystoreExt::new(sp_keystore::testing::MemoryKeystore::new()));
	ext.execute_with(|| {
		let validators = || pallet_session::Validators::<Runtime>::get();
		let babe_keys =
			|| pallet_babe::Authorities::<Runtime>::get().iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
		assert_eq!(validators().len(), 4);
		start_block(1);
		let mut n = 2;
		let mut run_to_session = |index: u32| {
			while Session::current_index() < index {
				start_block(n);
				n += 1;
				assert!(n < 1_000, "session {index} never came");
			}
		};
		let eve = Eve.to_account_id();
		let worker = sp_core::sr25519::Pair::from_string("//Eve//opg-worker", None).expect("dev seed");
		let proof = worker.sign(&opg_primitives::worker::key_possession_payload(&eve));
		assert_ok(WorkerStaking::register_worker(
			RuntimeOrigin::signed(eve.clone()),
			2 * genesis_config_presets::GENESIS_WORKER_BOND,
			worker.public().into(),
			Default::default(),
			sp_runtime::Perbill::zero(),
			proof.into(),
		));
		assert!(WorkerStaking::validate(RuntimeOrigin::signed(eve.clone())).is_err(), "no session keys yet");
		let generated = SessionKeys::generate(&eve.encode(), Some(b"//Eve".to_vec()));
		let eve_babe = generated.keys.babe.clone();
		assert_ok(Session::set_keys(RuntimeOrigin::signed(eve.clone()), generated.keys, generated.proof.encode()));
		assert_ok(WorkerStaking::validate(RuntimeOrigin::signed(eve.clone())));

		// Chosen at the next boundary, in office from the one after.
		run_to_session(1);
		assert!(!validators().contains(&eve));
		run_to_session(2);
		assert!(validators().contains(&eve), "{:?}", validators());
		assert_eq!(validators()[0], eve, "the most stake comes first");
		assert!(babe_keys().contains(&eve_babe), "BABE follows the session");
		assert_eq!(validators().len(), 5);

		// Dave stops offering: gone two boundaries later; four are left, the minimum.
		assert_ok(WorkerStaking::chill(RuntimeOrigin::signed(Dave.to_account_id())));
		run_to_session(4);
		assert!(!validators().contains(&Dave.to_account_id()));
		assert_eq!(validators().len(), 4);
		// Below the minimum nothing changes: the set stays rather than shrink to three.
		assert_ok(WorkerStaking::chill(RuntimeOrigin::signed(eve.clone())));
		run_to_session(6);
		assert!(validators().contains(&eve), "{:?}", validators());
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

/// Committees are drawn from BABE's VRF outputs of the drawing block and its parent: a header
/// re-sealed with other contents (another hash) draws the same, another slot's output does not.
#[test]
fn committee_randomness_is_babes_vrf_output_not_a_block_hash() {
	use pallet_inference::DrawRandomness;
	let randomness = |slots: [u64; 2], parents: [u8; 2]| {
		genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
			start_block_with_parent(1, slots[0], sp_core::H256::repeat_byte(parents[0]));
			assert_eq!(configs::BabeVrfRandomness::block_randomness(), None, "the genesis block has no VRF output");
			start_block_with_parent(2, slots[1], sp_core::H256::repeat_byte(parents[1]));
			configs::BabeVrfRandomness::block_randomness().expect("both blocks carry VRF outputs")
		})
	};
	let drawn = randomness([1, 2], [0, 0]);
	assert_eq!(randomness([1, 2], [7, 9]), drawn, "headers an author can grind change nothing");
	assert_ne!(randomness([1, 3], [0, 0]), drawn, "the next slot's author draws another committee");
	assert_ne!(randomness([5, 6], [0, 0]), drawn, "other authors of both blocks draw another committee");
}

/// The account of BABE authority `index` in the genesis presets, where a validator's account
/// is its BABE key.
fn account_of_authority(index: usize) -> AccountId {
	let (key, _) = pallet_babe::Authorities::<Runtime>::get()[index].clone();
	AccountId::from(<[u8; 32]>::try_from(sp_core::crypto::ByteArray::as_slice(&key)).expect("an sr25519 key"))
}

/// The worker staking pallet's `AuthorRewarded` events of this block: (worker, amount).
fn rewarded() -> Vec<(AccountId, Balance)> {
	System::events()
		.iter()
		.filter_map(|r| match &r.event {
			RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::AuthorRewarded { worker, amount, .. }) => {
				Some((worker.clone(), *amount))
			},
			_ => None,
		})
		.collect()
}

#[test]
fn fees_go_to_the_treasury_and_the_author_and_tips_to_the_author() {
	use sp_keyring::Sr25519Keyring::{Charlie, Ferdie};
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		// Slot 5 of four authorities is the second's.
		start_block_in_slot(1, 5);
		let author = account_of_authority(1);
		assert_eq!(fees::block_author(), Some(author.clone()), "the session validator behind the BABE claim");
		let balance = |who: &AccountId| Balances::balance(who);
		let (treasury, pot, sender) = (treasury_account(), WorkerStaking::reward_account(), Ferdie.to_account_id());
		let (treasury_before, pot_before, author_before, sender_before) =
			(balance(&treasury), balance(&pot), balance(&author), balance(&sender));
		let issuance = Balances::total_issuance();
		System::reset_events();

		let tip = 7 * MILLI_OPG;
		let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: Charlie.to_account_id().into(),
			value: OPG,
		});
		let mut extensions = transaction_extensions(0);
		extensions.8 = pallet_transaction_payment::ChargeTransactionPayment::from(tip);
		let payload = SignedPayload::new(call.clone(), extensions.clone()).expect("implicit data");
		let signature = codec::Encode::using_encoded(&payload, |bytes| sp_core::Pair::sign(&Ferdie.pair(), bytes));
		let xt = UncheckedExtrinsic::new_signed(call, sender.clone().into(), signature.into(), extensions);
		assert_ok(Executive::apply_extrinsic(xt).expect("valid").map_err(|e| format!("{e:?}")));

		let (fee, paid_tip) = System::events()
			.iter()
			.find_map(|r| match &r.event {
				RuntimeEvent::TransactionPayment(pallet_transaction_payment::Event::TransactionFeePaid {
					actual_fee,
					tip,
					..
				}) => Some((*actual_fee, *tip)),
				_ => None,
			})
			.expect("the fee was paid");
		assert_eq!(paid_tip, tip);
		// `actual_fee` includes the tip.
		let fee = fee - tip;
		assert!(fee > 0);
		let to_treasury = fees::FEE_TO_TREASURY.mul_ceil(fee);
		assert_eq!(balance(&treasury) - treasury_before, to_treasury);
		// The author is a worker: its share is credited to its stake, shared with its delegators.
		assert_eq!(balance(&pot) - pot_before, fee - to_treasury + tip);
		assert_eq!(rewarded(), vec![(author.clone(), fee - to_treasury + tip)]);
		assert_eq!(balance(&author), author_before);
		assert_eq!(sender_before - balance(&sender), OPG + fee + tip);
		assert_eq!(Balances::total_issuance(), issuance, "nothing is burned");
	});
}

/// Each block mints `AUTHOR_REWARD_PER_BLOCK` for its author, credited to the author's stake
/// like a committee reward: a delegator of the author claims its share.
#[test]
fn each_block_rewards_its_author_and_the_authors_delegators_share_it() {
	use sp_keyring::Sr25519Keyring::Ferdie;
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		let author = account_of_authority(1);
		let delegator = Ferdie.to_account_id();
		let stake = genesis_config_presets::GENESIS_WORKER_BOND;
		start_block_in_slot(1, 4);
		assert_ok(WorkerStaking::delegate(RuntimeOrigin::signed(delegator.clone()), author.clone(), stake));
		let issuance = Balances::total_issuance();
		let pot = Balances::balance(&WorkerStaking::reward_account());

		// Slots 5, 9 and 13 of four authorities are the second's.
		for (n, slot) in [(2, 5), (3, 9), (4, 13)] {
			start_block_in_slot(n, slot);
			assert_eq!(rewarded(), vec![(author.clone(), fees::AUTHOR_REWARD_PER_BLOCK)], "block {n}");
		}
		let minted = 3 * fees::AUTHOR_REWARD_PER_BLOCK;
		assert_eq!(Balances::total_issuance() - issuance, minted, "the reward is minted, once a block");
		assert_eq!(Balances::balance(&WorkerStaking::reward_account()) - pot, minted);

		// The delegator holds half the author's stake after the commission: its share of that.
		let commission = genesis_config_presets::GENESIS_WORKER_COMMISSION.mul_floor(fees::AUTHOR_REWARD_PER_BLOCK);
		let share = (fees::AUTHOR_REWARD_PER_BLOCK - commission) / 2;
		let before = Balances::balance(&delegator);
		assert_ok(WorkerStaking::claim_rewards(RuntimeOrigin::signed(delegator.clone()), author.clone()));
		let claimed = Balances::balance(&delegator) - before;
		assert!(claimed.abs_diff(3 * share) <= 3, "claimed {claimed}, expected {}", 3 * share);
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}

#[test]
fn fees_rise_while_blocks_are_full_and_fall_back_to_the_posted_price() {
	use frame_support::dispatch::DispatchClass;
	use pallet_transaction_payment::{Multiplier, NextFeeMultiplier};
	use sp_runtime::FixedPointNumber;
	genesis(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let normal = configs::RuntimeBlockWeights::get().get(DispatchClass::Normal).max_total.expect("a normal limit");
		let one = Multiplier::saturating_from_integer(1);
		assert_eq!(NextFeeMultiplier::<Runtime>::get(), one);
		let mut n = 1;
		// The fee multiplier moves in a block's `on_finalize`, which starting the next one runs.
		let mut block = |full: bool| {
			start_block_in_slot(n, n as u64);
			if full {
				frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(normal, DispatchClass::Normal);
			}
			n += 1;
		};
		// An hour of blocks full of ordinary transactions.
		for _ in 0..600 {
			block(true);
		}
		block(false);
		let congested = NextFeeMultiplier::<Runtime>::get();
		assert!(congested > Multiplier::saturating_from_rational(3, 2), "{congested:?}");
		assert!(congested < Multiplier::saturating_from_integer(2), "{congested:?}");
		// Empty blocks bring it back down, but never below the posted price.
		for _ in 0..3_000 {
			block(false);
		}
		assert_eq!(NextFeeMultiplier::<Runtime>::get(), one);
	});
}

fn assert_ok<E: core::fmt::Debug>(result: Result<(), E>) {
	assert!(result.is_ok(), "{result:?}");
}

/// The `opg` client is generated from `client/metadata/opg.scale`; it must be this runtime's
/// metadata, or the client would build calls this runtime decodes differently. Run with
/// `OPG_UPDATE_METADATA=1` to rewrite the file after changing the runtime.
#[test]
fn client_metadata_is_this_runtimes() {
	// BABE's `EpochDuration` constant is the session length in the chain's state (set at
	// genesis): the client's copy describes a chain with the default length.
	let current = sp_io::TestExternalities::default()
		.execute_with(|| Runtime::metadata_at_version(16).expect("metadata v16 is supported"));
	let path = std::path::PathBuf::from(
		std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
	)
	.join("../client/metadata/opg.scale");
	if std::env::var_os("OPG_UPDATE_METADATA").is_some() {
		std::fs::write(&path, &*current).expect("metadata written");
	}
	let stored = std::fs::read(&path).unwrap_or_default();
	assert!(
		stored == *current,
		"{} is not this runtime's metadata: run `OPG_UPDATE_METADATA=1 cargo test --release --locked -p opg-runtime client_metadata` and rebuild the client",
		path.display()
	);
}

/// The dev keyring entry whose sr25519 key is `key`.
fn keyring_of(key: &[u8]) -> sp_keyring::Sr25519Keyring {
	sp_keyring::Sr25519Keyring::iter()
		.find(|k| sp_core::crypto::ByteArray::as_slice(&k.public()) == key)
		.expect("a dev authority")
}

/// Blocks 1 and 2 of the local testnet, with Ferdie delegating as much as the genesis bond to
/// the validator at BABE authority `index` in between: that validator and Ferdie.
fn validator_with_a_delegator(index: usize) -> (AccountId, AccountId) {
	start_block_in_slot(1, 4);
	let validator = account_of_authority(index);
	let delegator = sp_keyring::Sr25519Keyring::Ferdie.to_account_id();
	assert_ok(WorkerStaking::delegate(
		RuntimeOrigin::signed(delegator.clone()),
		validator.clone(),
		genesis_config_presets::GENESIS_WORKER_BOND,
	));
	start_block_in_slot(2, 5);
	(validator, delegator)
}

/// What an equivocation report must have done: slashed `offender` (own bond and a delegation of
/// equal size) by `fraction` for a `ValidatorOffence`, once, taken it off the candidate list and
/// disabled it.
fn assert_slashed_for_equivocation(offender: &AccountId, delegator: &AccountId, fraction: sp_runtime::Perbill) {
	let bond = genesis_config_presets::GENESIS_WORKER_BOND;
	let slashed = System::events()
		.iter()
		.filter_map(|r| match &r.event {
			RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::Slashed { worker, fraction, reason, amount }) => {
				Some((worker.clone(), *fraction, *reason, *amount))
			},
			_ => None,
		})
		.collect::<Vec<_>>();
	assert_eq!(slashed.len(), 1, "{slashed:?}");
	let (worker, got, reason, amount) = slashed[0].clone();
	assert_eq!((&worker, got, reason), (offender, fraction, opg_primitives::Misconduct::ValidatorOffence));
	assert_eq!(amount, 2 * fraction.mul_floor(bond));
	let worker = pallet_worker_staking::Workers::<Runtime>::get(offender).expect("still registered");
	assert_eq!(worker.own.active, bond - fraction.mul_floor(bond));
	let delegation = pallet_worker_staking::Delegations::<Runtime>::get(offender, delegator).expect("delegated");
	assert_eq!(delegation.active, worker.own.active, "delegators share the slash");
	assert!(!pallet_worker_staking::ValidatorCandidates::<Runtime>::get().contains(offender));
	let index = pallet_session::Validators::<Runtime>::get().iter().position(|v| v == offender).expect("a validator");
	assert!(
		<Session as frame_support::traits::DisabledValidators>::is_disabled(index as u32),
		"disabled for the rest of the set"
	);
	pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
}

/// Two blocks for one slot, signed by the same BABE key and proven a validator's key by the
/// session history, are reported unsigned: the offence slashes the validator and its
/// delegators by `min((3k/n)², 1)` (k = 1 of n = 4) and takes it off the candidate list.
#[test]
fn a_babe_equivocation_report_slashes_the_validator_and_its_delegators() {
	use frame_support::traits::KeyOwnerProofSystem;
	use sp_consensus_babe::digests::{CompatibleDigestItem, PreDigest, SecondaryPlainPreDigest};
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		let index = 2u32;
		let (offender, delegator) = validator_with_a_delegator(index as usize);
		let (key, _) = pallet_babe::Authorities::<Runtime>::get()[index as usize].clone();
		let pair = keyring_of(sp_core::crypto::ByteArray::as_slice(&key)).pair();

		// Two different headers for slot 6, both sealed by the offender's key.
		let slot = 6u64;
		let header = |parent: u8| {
			let pre_digest =
				PreDigest::SecondaryPlain(SecondaryPlainPreDigest { authority_index: index, slot: slot.into() });
			let mut header = <Header as sp_runtime::traits::Header>::new(
				3,
				Default::default(),
				Default::default(),
				sp_core::H256::repeat_byte(parent),
				sp_runtime::Digest { logs: vec![sp_runtime::DigestItem::babe_pre_digest(pre_digest)] },
			);
			let seal = sp_core::Pair::sign(&pair, sp_runtime::traits::Header::hash(&header).as_ref());
			header.digest.push(sp_runtime::DigestItem::babe_seal(seal.into()));
			header
		};
		let proof = sp_consensus_babe::EquivocationProof {
			slot: slot.into(),
			offender: key.clone(),
			first_header: header(1),
			second_header: header(2),
		};
		let key_owner_proof = Historical::prove((sp_consensus_babe::KEY_TYPE, key)).expect("a validator's key");
		System::reset_events();
		assert_ok(
			Babe::report_equivocation_unsigned(RuntimeOrigin::none(), Box::new(proof.clone()), key_owner_proof.clone())
				.map(|_| ())
				.map_err(|e| format!("{e:?}")),
		);
		let fraction = sp_runtime::Perbill::from_rational(3u32, 4).square();
		assert_slashed_for_equivocation(&offender, &delegator, fraction);
		assert!(
			Babe::report_equivocation_unsigned(RuntimeOrigin::none(), Box::new(proof), key_owner_proof).is_err(),
			"an offence is reported once"
		);
		// Disabled, its next block (slot 10 is authority 2's) is refused.
		start_block_in_slot(3, 10);
		let finalized = std::panic::catch_unwind(std::panic::AssertUnwindSafe(Executive::finalize_block));
		assert!(finalized.is_err(), "a disabled validator's block does not finalize");
	});
}

/// Two GRANDPA prevotes for different blocks in one round, signed by the same key, are an
/// offence with the same consequences.
#[test]
fn a_grandpa_equivocation_report_slashes_the_validator_and_its_delegators() {
	use frame_support::traits::KeyOwnerProofSystem;
	use sp_keyring::Ed25519Keyring;
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		let (offender, delegator) = validator_with_a_delegator(1);
		let keys = pallet_session::NextKeys::<Runtime>::get(&offender).expect("session keys");
		let grandpa_key = keys.grandpa.clone();
		let pair = Ed25519Keyring::iter()
			.find(|k| {
				sp_core::crypto::ByteArray::as_slice(&k.public()) == sp_core::crypto::ByteArray::as_slice(&grandpa_key)
			})
			.expect("a dev GRANDPA key")
			.pair();

		let (set_id, round) = (Grandpa::current_set_id(), 1u64);
		let vote = |target: u8| {
			let prevote =
				finality_grandpa::Prevote { target_hash: sp_core::H256::repeat_byte(target), target_number: 1u32 };
			let message = finality_grandpa::Message::Prevote(prevote.clone());
			let payload = sp_consensus_grandpa::localized_payload(round, set_id, &message);
			(prevote, sp_core::Pair::sign(&pair, &payload).into())
		};
		let proof = sp_consensus_grandpa::EquivocationProof::new(
			set_id,
			sp_consensus_grandpa::Equivocation::Prevote(finality_grandpa::Equivocation {
				round_number: round,
				identity: grandpa_key.clone(),
				first: vote(1),
				second: vote(2),
			}),
		);
		let key_owner_proof =
			Historical::prove((sp_consensus_grandpa::KEY_TYPE, grandpa_key)).expect("a validator's key");
		System::reset_events();
		assert_ok(
			Grandpa::report_equivocation_unsigned(RuntimeOrigin::none(), Box::new(proof), key_owner_proof)
				.map(|_| ())
				.map_err(|e| format!("{e:?}")),
		);
		let fraction = sp_runtime::Perbill::from_rational(3u32, 4).square();
		assert_slashed_for_equivocation(&offender, &delegator, fraction);
	});
}

/// A validator that authors no block and sends no heartbeat in a session is reported offline
/// at the session's end: slashed `OFFLINE_SLASH` (im-online's own fraction is zero for one
/// offender of four) and taken off the candidate list; the three that authored are not.
#[test]
fn a_validator_offline_for_a_session_is_slashed_and_chilled() {
	genesis(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		let offline = account_of_authority(3);
		start_block_in_slot(1, 4);
		let (mut n, mut slot) = (2, 5u64);
		// The author of a slot is authority `slot % 4`: the fourth's slots stay empty.
		while Session::current_index() < 1 {
			if slot % 4 != 3 {
				start_block_in_slot(n, slot);
				n += 1;
				assert!(n < 100, "the session never ended");
			}
			slot += 1;
		}
		let events: Vec<RuntimeEvent> = System::events().into_iter().map(|r| r.event).collect();
		assert!(
			events.iter().any(|e| matches!(e,
				RuntimeEvent::Offences(pallet_offences::Event::Offence { kind, .. }) if kind == b"im-online:offlin")),
			"{events:?}"
		);
		let slashed: Vec<_> = events
			.iter()
			.filter_map(|e| match e {
				RuntimeEvent::WorkerStaking(pallet_worker_staking::Event::Slashed {
					worker, fraction, reason, ..
				}) => Some((worker.clone(), *fraction, *reason)),
				_ => None,
			})
			.collect();
		assert_eq!(
			slashed,
			vec![(offline.clone(), configs::OFFLINE_SLASH, opg_primitives::Misconduct::ValidatorOffence)]
		);
		assert!(!pallet_worker_staking::ValidatorCandidates::<Runtime>::get().contains(&offline));
		assert_eq!(pallet_worker_staking::ValidatorCandidates::<Runtime>::get().len(), 3);
		// Offline is not disabled: it may author again as soon as it is back.
		assert!(pallet_session::DisabledValidators::<Runtime>::get().is_empty());
		pallet_worker_staking::Pallet::<Runtime>::do_try_state().expect("staking invariants");
	});
}
