//! The worker key: the sr25519 key a worker node signs its inference duties with.
//!
//! It is a key of its own (key type `opgw`), kept in the node's keystore and distinct from the
//! worker's stash account, so the account that holds the bond never has to be online.

use sp_core::crypto::KeyTypeId;

/// Keystore key type of worker keys.
pub const WORKER_KEY_TYPE: KeyTypeId = KeyTypeId(*b"opgw");

mod app {
	use sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, super::WORKER_KEY_TYPE);
}

/// A worker's public key, as registered on chain.
pub type WorkerId = app::Public;
/// A worker key's signature.
pub type WorkerSignature = app::Signature;
/// A worker key pair (node side only).
#[cfg(feature = "std")]
pub type WorkerPair = app::Pair;

/// What a worker key signs to prove, at registration, that the stash registering it holds it:
/// nobody can register someone else's published key (front-running its registration) without
/// its secret.
pub fn key_possession_payload<AccountId: codec::Encode>(stash: &AccountId) -> alloc::vec::Vec<u8> {
	codec::Encode::encode(&(b"opg/worker-key-of", stash))
}
