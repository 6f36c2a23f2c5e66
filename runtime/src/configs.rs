//! How each pallet is configured for OPG chain.

use alloc::vec::Vec;
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstU128, ConstU16, ConstU32, ConstU64, ConstU8, Get, VariantCountOf},
	weights::{
		constants::{ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		ConstantMultiplier, Weight,
	},
	PalletId,
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{FungibleAdapter, Multiplier, TargetedFeeAdjustment};
use sp_runtime::{
	traits::{Bounded, One},
	FixedPointNumber, Perbill, Perquintill,
};
use sp_version::RuntimeVersion;

use super::{
	AccountId, Babe, Balance, Balances, Block, BlockNumber, Hash, Historical, ImOnline, Nonce, Offences, PalletInfo,
	Runtime, RuntimeCall, RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason, RuntimeOrigin, RuntimeTask,
	SessionKeys, System, WorkerStaking, DAYS, EPOCH_DURATION_IN_SLOTS, EXISTENTIAL_DEPOSIT, MICRO_OPG,
	MILLISECS_PER_BLOCK, MILLI_OPG, OPG, SLOT_DURATION, VERSION,
};

/// Share of a block that ordinary transactions may fill; the rest is kept for operational ones.
const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

/// Share of a block the inference hook may spend on committee draws and phase deadlines.
pub const INFERENCE_HOOK_SHARE: Perbill = Perbill::from_percent(23);

parameter_types! {
	pub const BlockHashCount: BlockNumber = 2400;
	pub const Version: RuntimeVersion = VERSION;
	/// Two seconds of execution in a six-second block leaves time to gossip and import it.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(5 * 1024 * 1024)
		.modify_max_length_for_class(DispatchClass::Normal, |max| *max = NORMAL_DISPATCH_RATIO * *max)
		.build();
	pub const SS58Prefix: u16 = opg_primitives::token::SS58_PREFIX;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	/// The node stores state in ParityDB.
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
}

/// The most validators BABE and GRANDPA take.
pub const MAX_AUTHORITIES: u32 = 32;

/// The most delegators a worker has: what a slash of a worker (or validator) touches.
pub const MAX_DELEGATORS_PER_WORKER: u32 = 128;

parameter_types! {
	pub const ExpectedBlockTime: opg_primitives::Moment = MILLISECS_PER_BLOCK;
}

/// Slots in a BABE epoch, which is a session: the length the chain's genesis set
/// (`pallet_worker_staking::SessionLength`, `EPOCH_DURATION_IN_SLOTS` unless a development chain
/// asks for shorter ones), fixed for the life of the chain.
pub struct EpochDuration;
impl Get<u64> for EpochDuration {
	fn get() -> u64 {
		pallet_worker_staking::SessionLength::<Runtime>::get()
	}
}

impl pallet_babe::Config for Runtime {
	type EpochDuration = EpochDuration;
	type ExpectedBlockTime = ExpectedBlockTime;
	// Epochs are sessions: the session pallet hands BABE each new set.
	type EpochChangeTrigger = pallet_babe::ExternalTrigger;
	// A validator disabled for an equivocation authors no valid block for the rest of the session.
	type DisabledValidators = crate::Session;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<MAX_AUTHORITIES>;
	// The stakers an offence slashes with the validator: its delegators (for report weights).
	type MaxNominators = ConstU32<MAX_DELEGATORS_PER_WORKER>;
	// Two blocks for one slot are proven against the session history and reported as offences.
	type KeyOwnerProof = sp_session::MembershipProof;
	type EquivocationReportSystem =
		pallet_babe::EquivocationReportSystem<Self, EquivocationReports, Historical, ReportLongevity>;
}

/// Sessions whose validator sets are kept (historical roots, GRANDPA set ids, offence slashes):
/// an equivocation in an older one can no longer be proven. Ten days of ten-minute sessions,
/// longer than the unbonding period, so an offender cannot unbond before it can be reported.
pub const SESSIONS_KEPT: u32 = 1_440;

parameter_types! {
	/// How long an equivocation report waits in the pool: one session.
	pub const ReportLongevity: u64 = EPOCH_DURATION_IN_SLOTS;
}

/// A session's validators are workers: only a registered worker's account may set session keys.
pub struct WorkerAccount;
impl sp_runtime::traits::Convert<AccountId, Option<AccountId>> for WorkerAccount {
	fn convert(who: AccountId) -> Option<AccountId> {
		pallet_worker_staking::Workers::<Runtime>::contains_key(&who).then_some(who)
	}
}

/// Each session's validators, chosen by the worker staking pallet from its candidates by stake.
pub struct StakedValidators;
impl pallet_session::SessionManager<AccountId> for StakedValidators {
	fn new_session(index: u32) -> Option<Vec<AccountId>> {
		WorkerStaking::elect_validators(index, &pallet_session::Validators::<Runtime>::get())
	}
	fn new_session_genesis(_: u32) -> Option<Vec<AccountId>> {
		// The session genesis (built before the worker staking genesis) has just set the genesis
		// validators' keys: they are the first two sessions' validators. Naming them here, not
		// leaving it to the session pallet, lets the historical pallet keep those sessions' roots.
		let mut validators: Vec<AccountId> = pallet_session::NextKeys::<Runtime>::iter_keys().collect();
		validators.sort();
		(!validators.is_empty()).then_some(validators)
	}
	fn end_session(index: u32) {
		// The history an equivocation is proven against is kept for `SESSIONS_KEPT` sessions.
		if let Some(dropped) = index.checked_sub(SESSIONS_KEPT) {
			pallet_session::historical::Pallet::<Runtime>::prune_up_to(dropped.saturating_add(1));
			WorkerStaking::forget_offences(dropped);
		}
	}
	fn start_session(_: u32) {}
}
impl pallet_session::historical::SessionManager<AccountId, ()> for StakedValidators {
	fn new_session(index: u32) -> Option<Vec<(AccountId, ())>> {
		<Self as pallet_session::SessionManager<AccountId>>::new_session(index).map(with_identity)
	}
	fn new_session_genesis(index: u32) -> Option<Vec<(AccountId, ())>> {
		<Self as pallet_session::SessionManager<AccountId>>::new_session_genesis(index).map(with_identity)
	}
	fn end_session(index: u32) {
		<Self as pallet_session::SessionManager<AccountId>>::end_session(index)
	}
	fn start_session(_: u32) {}
}

fn with_identity(validators: Vec<AccountId>) -> Vec<(AccountId, ())> {
	validators.into_iter().map(|v| (v, ())).collect()
}

/// Whose session keys are set: the keys the next session boundary queues.
pub struct SessionKeysSet;
impl pallet_worker_staking::SessionKeysRegistry<AccountId> for SessionKeysSet {
	fn has_keys(who: &AccountId) -> bool {
		pallet_session::NextKeys::<Runtime>::contains_key(who)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn set_keys_for_benchmark(who: &AccountId) {
		let keys = <SessionKeys as codec::Decode>::decode(&mut sp_runtime::traits::TrailingZeroInput::zeroes())
			.expect("keys decode from zeroes");
		pallet_session::NextKeys::<Runtime>::insert(who, keys);
	}
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type ValidatorId = AccountId;
	type ValidatorIdOf = WorkerAccount;
	type ShouldEndSession = Babe;
	type NextSessionRotation = Babe;
	type SessionManager = pallet_session::historical::NoteHistoricalRoot<Runtime, StakedValidators>;
	type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	// At most a third of the set (BABE keeps authoring and GRANDPA, which does not disable,
	// keeps finalizing); the disabled stay so until the next set takes office.
	type DisablingStrategy = pallet_session::disabling::UpToLimitDisablingStrategy;
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	// Only workers, who hold a bond, may set keys.
	type KeyDeposit = ConstU128<0>;
}

impl pallet_authorship::Config for Runtime {
	// The validator of the current session at the BABE authority index of the block's claim.
	type FindAuthor = pallet_session::FindAccountFromAuthorIndex<Self, Babe>;
	// A block authored is also proof to im-online that its author is up.
	type EventHandler = (crate::fees::AuthorReward, ImOnline);
}

/// A validator's identity in session history: its account is all an offence needs.
pub struct ValidatorIdentity;
impl sp_runtime::traits::Convert<AccountId, Option<()>> for ValidatorIdentity {
	fn convert(_: AccountId) -> Option<()> {
		Some(())
	}
}

impl pallet_session::historical::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type FullIdentification = ();
	type FullIdentificationOf = ValidatorIdentity;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<MAX_AUTHORITIES>;
	type MaxNominators = ConstU32<MAX_DELEGATORS_PER_WORKER>;
	type MaxSetIdSessionEntries = ConstU64<{ SESSIONS_KEPT as u64 }>;
	// Two votes in one round are proven against the session history and reported as offences.
	type KeyOwnerProof = sp_session::MembershipProof;
	type EquivocationReportSystem =
		pallet_grandpa::EquivocationReportSystem<Self, EquivocationReports, Historical, ReportLongevity>;
}

impl pallet_offences::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type IdentificationTuple = pallet_session::historical::IdentificationTuple<Self>;
	type OnOffenceHandler = ValidatorOffences;
}

/// Offences (BABE and GRANDPA equivocations) slash the offending validator's stake — its own
/// bond and its delegators' — through the worker staking pallet's slashing path, by the
/// fraction the offence sets (`min((3k/n)², 1)` for `k` offenders of `n` validators in one slot
/// or round), and take it off the candidate list.
pub struct ValidatorOffences;
impl sp_staking::offence::OnOffenceHandler<AccountId, pallet_session::historical::IdentificationTuple<Runtime>, Weight>
	for ValidatorOffences
{
	fn on_offence(
		offenders: &[sp_staking::offence::OffenceDetails<
			AccountId,
			pallet_session::historical::IdentificationTuple<Runtime>,
		>],
		slash_fraction: &[sp_runtime::Perbill],
		session: sp_staking::SessionIndex,
	) -> Weight {
		let mut weight = Weight::zero();
		for (details, fraction) in offenders.iter().zip(slash_fraction) {
			let (validator, ()) = &details.offender;
			WorkerStaking::slash_validator(validator, *fraction, session);
			weight = weight
				.saturating_add(<<Runtime as pallet_worker_staking::Config>::WeightInfo as pallet_worker_staking::WeightInfo>::slash(
					MAX_DELEGATORS_PER_WORKER,
				))
				.saturating_add(<Runtime as frame_system::Config>::DbWeight::get().reads_writes(2, 2));
		}
		weight
	}
}

/// A validator that neither authored a block nor sent an im-online heartbeat in a session is
/// reported offline at its end; the offence slashes at least this much (a committee no-show's
/// slash) and takes it off the candidate list.
pub const OFFLINE_SLASH: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(1);

parameter_types! {
	pub const ImOnlineUnsignedPriority: sp_runtime::transaction_validity::TransactionPriority =
		sp_runtime::transaction_validity::TransactionPriority::MAX;
}

impl pallet_im_online::Config for Runtime {
	type AuthorityId = pallet_im_online::sr25519::AuthorityId;
	type MaxKeys = ConstU32<MAX_AUTHORITIES>;
	type MaxPeerInHeartbeats = ConstU32<10_000>;
	type RuntimeEvent = RuntimeEvent;
	type ValidatorSet = Historical;
	type NextSessionRotation = Babe;
	type ReportUnresponsiveness = OfflineReports;
	type UnsignedPriority = ImOnlineUnsignedPriority;
	type WeightInfo = pallet_im_online::weights::SubstrateWeight<Runtime>;
}

type Validator = pallet_session::historical::IdentificationTuple<Runtime>;

/// BABE and GRANDPA equivocations: offences (slashed by [`ValidatorOffences`]) whose offenders
/// still in the set are also disabled at once: BABE refuses their blocks for the rest of the
/// session. The session pallet re-enables everyone when a newly chosen set takes office, which
/// here is every boundary; the offender, off the candidates, is out two boundaries on.
pub struct EquivocationReports;
impl<O: sp_staking::offence::Offence<Validator>> sp_staking::offence::ReportOffence<AccountId, Validator, O>
	for EquivocationReports
{
	fn report_offence(reporters: Vec<AccountId>, offence: O) -> Result<(), sp_staking::offence::OffenceError> {
		let offenders = offence.offenders();
		let severity = sp_staking::offence::OffenceSeverity(offence.slash_fraction(offenders.len() as u32));
		<Offences as sp_staking::offence::ReportOffence<AccountId, Validator, O>>::report_offence(reporters, offence)?;
		// The session pallet finds each offender in the current set (one that left it is not
		// disabled), whatever session the offence was in.
		for (validator, ()) in offenders {
			pallet_session::Pallet::<Runtime>::report_offence(validator, severity);
		}
		Ok(())
	}

	fn is_known_offence(offenders: &[Validator], time_slot: &O::Slot) -> bool {
		<Offences as sp_staking::offence::ReportOffence<AccountId, Validator, O>>::is_known_offence(
			offenders, time_slot,
		)
	}
}

/// im-online's unresponsiveness report, re-reported as [`Offline`]: its own fraction is zero
/// until more than a tenth of the validators are offline at once, and a validator that stops
/// must be slashed and replaced even alone.
pub struct OfflineReports;
impl sp_staking::offence::ReportOffence<AccountId, Validator, pallet_im_online::UnresponsivenessOffence<Validator>>
	for OfflineReports
{
	fn report_offence(
		reporters: Vec<AccountId>,
		offence: pallet_im_online::UnresponsivenessOffence<Validator>,
	) -> Result<(), sp_staking::offence::OffenceError> {
		<Offences as sp_staking::offence::ReportOffence<AccountId, Validator, Offline>>::report_offence(
			reporters,
			Offline(offence),
		)
	}

	fn is_known_offence(offenders: &[Validator], session: &sp_staking::SessionIndex) -> bool {
		<Offences as sp_staking::offence::ReportOffence<AccountId, Validator, Offline>>::is_known_offence(
			offenders, session,
		)
	}
}

/// Validators offline for a session: im-online's offence with at least [`OFFLINE_SLASH`].
pub struct Offline(pallet_im_online::UnresponsivenessOffence<Validator>);
impl sp_staking::offence::Offence<Validator> for Offline {
	const ID: sp_staking::offence::Kind = *b"im-online:offlin";
	type Slot = sp_staking::SessionIndex;

	fn offenders(&self) -> Vec<Validator> {
		self.0.offenders.clone()
	}
	fn session_index(&self) -> sp_staking::SessionIndex {
		self.0.session_index
	}
	fn validator_set_count(&self) -> u32 {
		self.0.validator_set_count
	}
	fn slot(&self) -> sp_staking::SessionIndex {
		self.0.session_index
	}
	fn slash_fraction(&self, offenders: u32) -> sp_runtime::Perbill {
		self.0.slash_fraction(offenders).max(OFFLINE_SLASH)
	}
}

/// Unsigned equivocation reports: the runtime builds them as bare extrinsics.
impl<LocalCall> frame_system::offchain::CreateTransactionBase<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	type Extrinsic = crate::UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<LocalCall> frame_system::offchain::CreateBare<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	fn create_bare(call: RuntimeCall) -> crate::UncheckedExtrinsic {
		crate::UncheckedExtrinsic::new_bare(call)
	}
}

/// im-online heartbeats: general transactions that authorize themselves (the heartbeat is signed
/// by the validator's im-online key), like committee commits and reveals.
impl<LocalCall> frame_system::offchain::CreateTransaction<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	type Extension = crate::TxExtension;

	fn create_transaction(call: RuntimeCall, extension: crate::TxExtension) -> crate::UncheckedExtrinsic {
		crate::UncheckedExtrinsic::new_transaction(call, extension)
	}
}

impl<LocalCall> frame_system::offchain::CreateAuthorizedTransaction<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	fn create_extension() -> crate::TxExtension {
		crate::transaction_extensions(0)
	}
}

impl pallet_timestamp::Config for Runtime {
	type Moment = opg_primitives::Moment;
	type OnTimestampSet = Babe;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type RuntimeEvent = RuntimeEvent;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

parameter_types! {
	/// The fee multiplier rises when ordinary transactions fill more than this of their share.
	pub const TargetBlockFullness: Perquintill = Perquintill::from_percent(25);
	/// How fast it moves: +0.075 % a block while ordinary transactions fill their share (about
	/// ×1.57 an hour of full blocks), −0.025 % a block while blocks are empty.
	pub AdjustmentVariable: Multiplier = Multiplier::saturating_from_rational(1, 1_000);
	/// Fees never fall below the posted price (multiplier one, where the chain starts).
	pub MinimumMultiplier: Multiplier = Multiplier::one();
	pub MaximumMultiplier: Multiplier = Bounded::max_value();
}

/// One picosecond of reference execution time costs this many base units: a balance transfer
/// (~150 µs of weight with its extrinsic base) costs about 0.00015 OPG.
pub const FEE_PER_WEIGHT_PICOSECOND: Balance = 1_000_000;
/// Each byte of a transaction costs this many base units (0.000001 OPG).
pub const FEE_PER_BYTE: Balance = MICRO_OPG;

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction = FungibleAdapter<Balances, crate::fees::DealWithFees>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = ConstantMultiplier<Balance, ConstU128<FEE_PER_WEIGHT_PICOSECOND>>;
	type LengthToFee = ConstantMultiplier<Balance, ConstU128<FEE_PER_BYTE>>;
	type FeeMultiplierUpdate =
		TargetedFeeAdjustment<Self, TargetBlockFullness, AdjustmentVariable, MinimumMultiplier, MaximumMultiplier>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	pub const WorkerStakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub TreasuryAccount: AccountId = super::treasury_account();
}

impl pallet_worker_staking::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type WorkerKey = opg_primitives::worker::WorkerId;
	type ModelId = opg_primitives::ModelId;
	type MinWorkerBond = ConstU128<{ 100 * OPG }>;
	type MinDelegation = ConstU128<OPG>;
	/// A day: longer than any request's deadlines, so misconduct is slashed before its stake
	/// can leave.
	type UnbondingPeriod = ConstU32<DAYS>;
	/// A day to undelegate before a higher commission applies.
	type CommissionRiseDelay = ConstU32<DAYS>;
	type MaxModelsPerWorker = ConstU32<16>;
	type MaxWorkersPerModel = ConstU32<64>;
	type MaxDelegatorsPerWorker = ConstU32<MAX_DELEGATORS_PER_WORKER>;
	type MaxUnbondingChunks = ConstU32<16>;
	type PalletId = WorkerStakingPalletId;
	type Treasury = TreasuryAccount;
	type Models = RegisteredModels;
	type SessionKeys = SessionKeysSet;
	/// BABE and GRANDPA take at most this many authorities.
	type MaxValidators = ConstU32<MAX_AUTHORITIES>;
	/// Four: GRANDPA finalizes with one of four down, not with one of three.
	type MinValidators = ConstU32<4>;
	type DefaultSessionLength = ConstU64<EPOCH_DURATION_IN_SLOTS>;
	type MaxValidatorCandidates = ConstU32<256>;
	type WeightInfo = pallet_worker_staking::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = WorkerStakingBenchmarkHelper;
}

/// The models workers may serve: those registered with the inference pallet.
pub struct RegisteredModels;
impl pallet_worker_staking::ModelCatalog<opg_primitives::ModelId> for RegisteredModels {
	fn is_registered(model: &opg_primitives::ModelId) -> bool {
		pallet_inference::Models::<Runtime>::contains_key(model)
	}
}

/// A model id made from an index, for benchmarks.
#[cfg(feature = "runtime-benchmarks")]
fn benchmark_model_id(i: u32) -> opg_primitives::ModelId {
	let mut raw = [0u8; 32];
	raw[28..].copy_from_slice(&i.to_be_bytes());
	opg_primitives::ModelId::from(raw)
}

/// Worker keys and model ids made from an index, for the staking benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct WorkerStakingBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_worker_staking::BenchmarkHelper<opg_primitives::worker::WorkerId, opg_primitives::ModelId>
	for WorkerStakingBenchmarkHelper
{
	fn worker_key(i: u32) -> opg_primitives::worker::WorkerId {
		use sp_runtime::RuntimeAppPublic;
		// In the benchmark keystore, so the registration benchmark can sign its proof.
		opg_primitives::worker::WorkerId::generate_pair(Some(alloc::format!("//opg-benchmark-worker-{i}").into_bytes()))
	}
	fn model_id(i: u32) -> opg_primitives::ModelId {
		use frame_support::traits::fungible::Mutate;
		let id = benchmark_model_id(i);
		if !pallet_inference::Models::<Runtime>::contains_key(id) {
			let owner: AccountId = frame_benchmarking::account("model-owner", i, 0);
			let _ = Balances::set_balance(&owner, 1_000_000 * OPG);
			crate::Inference::register_model(
				RuntimeOrigin::signed(owner),
				id,
				opg_primitives::inference::ModelFormat::Onnx,
				b"onnx".to_vec(),
				OPG,
				opg_primitives::inference::ComparisonRule::Exact,
				opg_primitives::inference::ExecutionProfile::Portable,
				alloc::vec![b"https://models.example/bundle".to_vec()],
			)
			.expect("a benchmark model registers");
		}
		id
	}
}

/// The inference pallet's view of workers: the worker staking pallet.
pub struct StakedWorkers;
impl pallet_inference::WorkerRegistry<AccountId, opg_primitives::worker::WorkerId, opg_primitives::ModelId, Balance>
	for StakedWorkers
{
	fn eligible_workers(model: &opg_primitives::ModelId) -> alloc::vec::Vec<(AccountId, Balance)> {
		WorkerStaking::eligible_workers(model)
	}
	fn worker_of_key(key: &opg_primitives::worker::WorkerId) -> Option<AccountId> {
		WorkerStaking::worker_of_key(key)
	}
	fn key_of_worker(worker: &AccountId) -> Option<opg_primitives::worker::WorkerId> {
		WorkerStaking::key_of_worker(worker)
	}
	fn reward_account() -> AccountId {
		WorkerStaking::reward_account()
	}
	fn credit_reward(worker: &AccountId, amount: Balance) {
		WorkerStaking::credit_reward(worker, amount)
	}
	fn slash(worker: &AccountId, fraction: Perbill, reason: opg_primitives::Misconduct) -> Balance {
		WorkerStaking::slash(worker, fraction, reason)
	}
	fn slash_weight() -> Weight {
		use pallet_worker_staking::WeightInfo;
		pallet_worker_staking::weights::SubstrateWeight::<Runtime>::slash(
			<Runtime as pallet_worker_staking::Config>::MaxDelegatorsPerWorker::get(),
		)
	}
}

parameter_types! {
	/// What the inference hook may spend on draws and deadlines: with the 75 % ordinary
	/// transactions get, and the bounded expiries, it stays inside the block.
	pub InferenceHookWeight: Weight = INFERENCE_HOOK_SHARE * RuntimeBlockWeights::get().max_block;
	pub const InferenceTreasuryShare: Perbill = Perbill::from_percent(5);
	pub const WrongOutputSlash: Perbill = Perbill::from_percent(10);
	pub const NoShowSlash: Perbill = Perbill::from_percent(1);
}

/// Committee randomness from BABE: the VRF outputs of the block being built and of its parent.
///
/// A VRF output is fixed by its author's key and the slot, so an author cannot re-seal its
/// block for another one, only publish or withhold it; and it is secret until the block is out.
/// Two blocks' outputs are mixed so that one author that knows its own slot's output in advance
/// cannot tell what a draw will be unless it also authors the block next to it.
pub struct BabeVrfRandomness;

impl pallet_inference::DrawRandomness for BabeVrfRandomness {
	/// A request included in block `n` is drawn in block `n + 2` at the earliest, from the
	/// outputs of blocks built after it, which the author of `n` cannot know.
	const DELAY: u32 = 2;

	fn block_randomness() -> Option<[u8; 32]> {
		// Set by the parent's `on_finalize` from its VRF output.
		let parent = pallet_babe::AuthorVrfRandomness::<Runtime>::get()?;
		// The pre-digest of this block, read by BABE's `on_initialize`, which runs first.
		let this = pallet_babe::Initialized::<Runtime>::get().flatten()?;
		let output = this.vrf_signature()?.pre_output.clone();
		let mixed = (b"opg/babe-vrf", parent, output);
		Some(<sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash_of(&mixed).0)
	}
}

impl pallet_inference::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ModelId = opg_primitives::ModelId;
	type WorkerKey = opg_primitives::worker::WorkerId;
	type Workers = StakedWorkers;
	type OnResult = ();
	type Treasury = TreasuryAccount;
	type ModelDeposit = ConstU128<{ 10 * OPG }>;
	/// The engines implement portable version 1 only.
	type LatestPortableVersion = ConstU16<1>;
	type VerificationFee = ConstU128<{ MILLI_OPG }>;
	type TreasuryShare = InferenceTreasuryShare;
	type DefaultSeats = ConstU32<3>;
	/// First rounds of up to 7 members; escalations of up to 15.
	type MaxSeats = ConstU32<15>;
	/// Two slots each: time to run a small model and get the transaction into a block.
	type CommitWindow = ConstU32<10>;
	type RevealWindow = ConstU32<10>;
	type WrongOutputSlash = WrongOutputSlash;
	type NoShowSlash = NoShowSlash;
	type MaxInputLen = ConstU32<{ 16 * 1024 }>;
	type MaxOutputLen = ConstU32<{ 16 * 1024 }>;
	type MaxArchitectureLen = ConstU32<64>;
	type MaxUris = ConstU32<4>;
	type MaxUriLen = ConstU32<256>;
	/// A burst of requests waits here; the hook draws up to a third of a deadline list's worth a
	/// block (85).
	type MaxPendingDraws = ConstU32<4096>;
	/// Five minutes: a burst of `MaxPendingDraws` is drawn within it (49 blocks at 85 a block).
	type MaxDrawWait = ConstU32<50>;
	type MaxDeadlinesPerBlock = ConstU32<256>;
	type MaxHookWeight = InferenceHookWeight;
	type ResultRetention = ConstU32<{ DAYS }>;
	/// A request and its answer take at most ~20 KiB of state for a day.
	type RequestDeposit = ConstU128<{ 10 * MILLI_OPG }>;
	/// A full queue's last request pays 49 × this; filling one costs ≈ 585 OPG every
	/// `MaxDrawWait`.
	type QueueFee = ConstU128<{ 10 * MILLI_OPG }>;
	type Randomness = BabeVrfRandomness;
	type WeightInfo = pallet_inference::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = InferenceBenchmarkHelper;
}

/// Staked workers and signatures for the inference benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct InferenceBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_inference::BenchmarkHelper<Runtime> for InferenceBenchmarkHelper {
	fn model_id(i: u32) -> opg_primitives::ModelId {
		benchmark_model_id(i)
	}
	fn worker(model: opg_primitives::ModelId, i: u32) -> (AccountId, opg_primitives::worker::WorkerId) {
		use frame_support::traits::fungible::Mutate;
		use sp_runtime::RuntimeAppPublic;
		let who: AccountId = frame_benchmarking::account("inference-worker", i, 0);
		let _ = Balances::set_balance(&who, 1_000_000 * OPG);
		let key = opg_primitives::worker::WorkerId::generate_pair(None);
		let proof = key
			.sign(&opg_primitives::worker::key_possession_payload(&who))
			.expect("the benchmark keystore holds the key");
		let models = alloc::vec![model].try_into().expect("one model fits");
		let _ = WorkerStaking::register_worker(
			RuntimeOrigin::signed(who.clone()),
			1_000 * OPG,
			key.clone(),
			models,
			Perbill::zero(),
			proof,
		);
		(who, key)
	}
	fn max_candidates() -> u32 {
		<Runtime as pallet_worker_staking::Config>::MaxWorkersPerModel::get()
	}
	fn sign(
		key: &opg_primitives::worker::WorkerId,
		msg: &[u8],
	) -> <opg_primitives::worker::WorkerId as sp_runtime::RuntimeAppPublic>::Signature {
		use sp_runtime::RuntimeAppPublic;
		key.sign(&msg).expect("the benchmark keystore holds the key")
	}
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}
