//! The OPG chain runtime.
//!
//! `$OPG` lives in pallet-balances; blocks are authored by BABE and finalized by GRANDPA. The
//! inference and staking pallets plug in here as they land (see `docs/ARCHITECTURE.md`).

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` expands to a deeply recursive type.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

use alloc::vec::Vec;

pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod configs;
pub mod fees;
pub mod genesis_config_presets;
#[cfg(test)]
mod tests;

use sp_runtime::{generic, impl_opaque_keys};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use opg_primitives::{
	time::*,
	token::{EXISTENTIAL_DEPOSIT, MICRO_OPG, MILLI_OPG, OPG},
	AccountId, Address, Balance, BlockNumber, Hash, Nonce, Signature,
};
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Types the node uses without knowing the runtime's extrinsic format.
pub mod opaque {
	use super::*;

	pub use opg_primitives::{Header, OpaqueBlock as Block};
	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	impl_opaque_keys! {
		/// The keys a validator registers: BABE for authoring, GRANDPA for finality, im-online
		/// for the heartbeat that shows it is up in a session it authored no block in.
		pub struct SessionKeys {
			pub babe: super::Babe,
			pub grandpa: super::Grandpa,
			pub im_online: super::ImOnline,
		}
	}
}
pub use opaque::SessionKeys;

/// BABE's epoch settings at genesis: a primary slot for an authority with probability about
/// 1 − (1 − 1/4)^(its share), and every slot without a primary winner goes to a secondary
/// author chosen by the epoch's randomness. Secondary slots carry a VRF output too (rather than
/// a plain signature), so every block has randomness its author can withhold but not choose:
/// committee draws rely on that (`pallet_inference::DrawRandomness`).
pub const BABE_GENESIS_EPOCH_CONFIG: sp_consensus_babe::BabeEpochConfiguration =
	sp_consensus_babe::BabeEpochConfiguration {
		c: PRIMARY_PROBABILITY,
		allowed_slots: sp_consensus_babe::AllowedSlots::PrimaryAndSecondaryVRFSlots,
	};

/// BABE's `c`: the chance that a slot has at least one primary author.
pub const PRIMARY_PROBABILITY: (u64, u64) = (1, 4);

#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("opg"),
	impl_name: alloc::borrow::Cow::Borrowed("opg-node"),
	authoring_version: 1,
	// Bump on every change to runtime logic; the node refuses nothing, the chain upgrades by it.
	spec_version: 113,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	// Bump when the encoding of calls or transaction extensions changes.
	transaction_version: 5,
	system_version: 1,
};

/// Block header as the runtime sees it.
pub type Header = opg_primitives::Header;
/// Block type as the runtime sees it.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;
/// A block with its justifications.
pub type SignedBlock = generic::SignedBlock<Block>;

/// Checks every signed transaction goes through, in order.
pub type TxExtension = (
	// Lets committee members submit commits and reveals authorized by their worker key, fee-free.
	frame_system::AuthorizeCall<Runtime>,
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_metadata_hash_extension::CheckMetadataHash<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// An extrinsic as it is submitted.
pub type UncheckedExtrinsic = generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// What a signer signs.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// The extensions a transaction carries: immortal, no tip, no metadata hash. `nonce` only
/// matters for a signed transaction.
pub fn transaction_extensions(nonce: Nonce) -> TxExtension {
	(
		frame_system::AuthorizeCall::new(),
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(sp_runtime::generic::Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(0),
		frame_metadata_hash_extension::CheckMetadataHash::new(false),
		frame_system::WeightReclaim::new(),
	)
}

/// A general transaction: a call that authorizes itself, such as a committee member's commit or
/// reveal signed by its worker key. It has no signer, pays no fee and needs no nonce.
pub fn general_transaction(call: RuntimeCall) -> UncheckedExtrinsic {
	UncheckedExtrinsic::new_transaction(call, transaction_extensions(0))
}

/// Storage migrations run on the next runtime upgrade, beyond the pallets' own.
type Migrations = (
	pallet_inference::migrations::MigrateV0ToV1<Runtime>,
	pallet_inference::migrations::MigrateV1ToV2<Runtime>,
	pallet_inference::migrations::MigrateV2ToV3<Runtime>,
	pallet_inference::migrations::MigrateV3ToV4<Runtime>,
);

/// Dispatches extrinsics to the pallets and runs the block hooks.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(2)]
	pub type Babe = pallet_babe;

	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;

	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;

	// After BABE: a session ends in the block BABE starts a new epoch in.
	#[runtime::pallet_index(7)]
	pub type Session = pallet_session;

	#[runtime::pallet_index(8)]
	pub type Historical = pallet_session::historical;

	// After `Session`, whose hook rotates the validators at a session's first block, so that
	// the author's index is read in the new session's set, the one its slot claim is made in.
	#[runtime::pallet_index(9)]
	pub type Authorship = pallet_authorship;

	#[runtime::pallet_index(10)]
	pub type WorkerStaking = pallet_worker_staking;

	#[runtime::pallet_index(11)]
	pub type Inference = pallet_inference;

	#[runtime::pallet_index(12)]
	pub type Offences = pallet_offences;

	#[runtime::pallet_index(13)]
	pub type ImOnline = pallet_im_online;
}

/// The account slashed stake and the inference fees' treasury share are paid to.
pub const TREASURY_PALLET_ID: frame_support::PalletId = frame_support::PalletId(*b"opg/trsy");

/// The treasury's account.
pub fn treasury_account() -> AccountId {
	use sp_runtime::traits::AccountIdConversion;
	TREASURY_PALLET_ID.into_account_truncating()
}
