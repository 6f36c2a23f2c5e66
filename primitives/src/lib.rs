//! Types shared by every part of OPG chain: the runtime, the node, the inference engine and
//! clients. Nothing here depends on FRAME, so the engine and client tools can use it without
//! pulling in a runtime.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod bounded_value;
pub mod committee;
pub mod demo;
pub mod inference;
pub mod token;
#[cfg(feature = "json")]
pub mod value_json;
pub mod worker;

use sp_runtime::{
	generic,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};

/// A transaction signature: sr25519, ed25519 or ecdsa.
pub type Signature = MultiSignature;

/// An account on chain: the public key of the account's signing key (or its hash for ecdsa).
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// How an extrinsic names an account.
pub type Address = MultiAddress<AccountId, ()>;

/// An amount of $OPG in its smallest unit (18 decimals; see [`token`]).
pub type Balance = u128;

/// The height of a block.
pub type BlockNumber = u32;

/// How many transactions an account has sent.
pub type Nonce = u32;

/// Block and state hashes.
pub type Hash = sp_core::H256;

/// The hashing algorithm used for blocks, state and extrinsics.
pub type Hashing = BlakeTwo256;

/// Block header.
pub type Header = generic::Header<BlockNumber, Hashing>;

/// A block whose extrinsics are kept opaque: what the node needs without knowing the runtime.
pub type OpaqueBlock = generic::Block<Header, sp_runtime::OpaqueExtrinsic>;

/// Milliseconds since the unix epoch, as pallet-timestamp counts them.
pub type Moment = u64;

/// Block production cadence.
pub mod time {
	use super::BlockNumber;

	/// Target time between blocks. BABE's slot is this long; it cannot change once a chain runs.
	pub const MILLISECS_PER_BLOCK: u64 = 6_000;
	/// BABE slot length in milliseconds.
	pub const SLOT_DURATION: u64 = MILLISECS_PER_BLOCK;

	/// Blocks per minute, hour and day at the target cadence.
	pub const MINUTES: BlockNumber = 60_000 / (MILLISECS_PER_BLOCK as BlockNumber);
	pub const HOURS: BlockNumber = MINUTES * 60;
	pub const DAYS: BlockNumber = HOURS * 24;

	/// Slots in a BABE epoch: the randomness that assigns slots is fixed one epoch ahead. Like
	/// the slot length, it cannot change once a chain runs.
	pub const EPOCH_DURATION_IN_SLOTS: u64 = 10 * MINUTES as u64;
}

/// A model's content id: blake2-256 of its canonical manifest.
pub type ModelId = sp_core::H256;

/// Why a worker is slashed.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	codec::Encode,
	codec::Decode,
	codec::DecodeWithMemTracking,
	codec::MaxEncodedLen,
	scale_info::TypeInfo,
	Debug,
)]
pub enum Misconduct {
	/// Revealed an output outside the agreeing quorum.
	WrongOutput,
	/// Committed but never revealed, or revealed something that does not match the commitment.
	BadOrMissingReveal,
	/// Was assigned and never committed.
	NoShow,
	/// As a validator: signed two blocks for one BABE slot or two GRANDPA votes in one round, or
	/// was offline for a whole session (an offence reported through `pallet-offences`, whose
	/// `Offence` event names its kind).
	ValidatorOffence,
}
