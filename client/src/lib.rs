//! The OPG chain client: everything `opg` does, as a library.
//!
//! Calls, storage, events and runtime APIs are typed from the runtime's metadata
//! (`metadata/opg.scale`, which the runtime's tests check is its own) with `subxt`.

pub mod account;
pub mod amount;
pub mod chain;
pub mod config;
pub mod error;
pub mod inference;
pub mod models;
pub mod staking;
pub mod validators;
pub mod values;
pub mod verify;

pub use chain::{Chain, DEFAULT_URL};
pub use error::{Error, Result};

/// The runtime's calls, storage, events, constants and runtime APIs.
#[subxt::subxt(
	runtime_metadata_path = "metadata/opg.scale",
	derive_for_all_types = "::subxt::ext::codec::Encode, ::subxt::ext::codec::Decode"
)]
pub mod runtime {}

/// A type generated from the metadata as the project's own type with the same SCALE encoding
/// (e.g. `Rejection`, whose `describe` gives the sentence users read).
pub fn convert<From: codec::Encode, To: codec::Decode>(value: &From) -> Result<To> {
	let bytes = value.encode();
	To::decode(&mut &bytes[..])
		.map_err(|e| Error::Chain(format!("the chain's metadata does not match this client: {e}")))
}
