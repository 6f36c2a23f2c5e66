//! What this pallet needs from the rest of the runtime.

/// The models workers may serve. Implemented by the runtime (with the inference pallet's model
/// registry), so a worker cannot hold a place on the candidate list of a model that does not
/// exist yet, to capture its committees once it is registered.
pub trait ModelCatalog<ModelId> {
	/// Whether `model` is registered and may be served.
	fn is_registered(model: &ModelId) -> bool;
}
