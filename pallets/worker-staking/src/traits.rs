//! What this pallet needs from the rest of the runtime.

/// The models workers may serve. Implemented by the runtime (with the inference pallet's model
/// registry), so a worker cannot hold a place on the candidate list of a model that does not
/// exist yet, to capture its committees once it is registered.
pub trait ModelCatalog<ModelId> {
	/// Whether `model` is registered and may be served.
	fn is_registered(model: &ModelId) -> bool;
}

/// Who has session keys (BABE, GRANDPA, …) registered, for the next session boundary to queue.
/// Implemented by the runtime with the session pallet: a validator candidate without keys could
/// not author or vote.
pub trait SessionKeysRegistry<AccountId> {
	/// Whether `who` has set its session keys.
	fn has_keys(who: &AccountId) -> bool;

	/// Give `who` session keys (any), so a benchmark can offer it as a validator.
	#[cfg(feature = "runtime-benchmarks")]
	fn set_keys_for_benchmark(_who: &AccountId) {}
}

/// Nobody has session keys: a runtime without sessions has no validator candidates.
impl<AccountId> SessionKeysRegistry<AccountId> for () {
	fn has_keys(_: &AccountId) -> bool {
		false
	}
}
