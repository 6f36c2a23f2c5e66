//! Models for the worker: fetched by the registry's URIs into the node's model store, verified
//! against their id, and kept loaded in memory up to a bound, least recently used first out.
//!
//! A model is fetched once however many jobs need it at the same time: the first job fetches,
//! the others are told it is busy and come back on a later block. A model that failed to fetch is not tried again for a while, so a
//! dead URI does not turn every block into a download attempt.

use super::metrics::MaybeMetrics;
use opg_engine::{hash::to_hex, ExecutionProfile, Model, ModelStore};
use opg_primitives::ModelId;
use std::{
	collections::{HashMap, HashSet},
	path::Path,
	sync::{Arc, Mutex, MutexGuard},
	time::{Duration, Instant},
};

/// How long a failed fetch is remembered before the model is tried again.
const RETRY_FETCH_AFTER: Duration = Duration::from_secs(30);

/// Why a model cannot be used right now.
#[derive(Debug)]
pub enum Unavailable {
	/// Another job is fetching or loading it.
	Busy,
	/// It could not be fetched, verified or loaded.
	Failed(String),
}

struct BusyGuard<'a> {
	cache: &'a ModelCache,
	id: ModelId,
}

impl Drop for BusyGuard<'_> {
	fn drop(&mut self) {
		self.cache.lock().busy.remove(&self.id);
	}
}

struct Loaded {
	id: ModelId,
	profile: ExecutionProfile,
	model: Arc<Model>,
	bytes: u64,
	last_used: u64,
}

#[derive(Default)]
struct State {
	loaded: Vec<Loaded>,
	/// Models being fetched or loaded right now, by one job; the others wait.
	busy: HashSet<ModelId>,
	failed: HashMap<ModelId, (Instant, String)>,
	clock: u64,
}

pub struct ModelCache {
	store: ModelStore,
	max_fetch_bytes: u64,
	memory_bytes: u64,
	state: Mutex<State>,
	metrics: MaybeMetrics,
}

impl ModelCache {
	pub fn open(store: &Path, max_fetch_bytes: u64, memory_bytes: u64, metrics: MaybeMetrics) -> Result<Self, String> {
		let store = ModelStore::open(store).map_err(|e| format!("cannot open the model store: {e}"))?;
		Ok(Self { store, max_fetch_bytes, memory_bytes, state: Default::default(), metrics })
	}

	fn lock(&self) -> MutexGuard<'_, State> {
		// A panic while holding the lock leaves only bookkeeping behind; keep serving.
		self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
	}

	/// The model loaded for `profile`, fetching and loading it first if needed. A job never
	/// waits for another job's fetch: it gets [`Unavailable::Busy`] and is queued again later,
	/// so one slow download holds one runner, not all of them.
	pub fn get(&self, id: ModelId, uris: &[Vec<u8>], profile: ExecutionProfile) -> Result<Arc<Model>, Unavailable> {
		{
			let mut state = self.lock();
			state.clock += 1;
			let clock = state.clock;
			if let Some(hit) = state.loaded.iter_mut().find(|l| l.id == id && l.profile == profile) {
				hit.last_used = clock;
				return Ok(hit.model.clone());
			}
			if let Some((when, why)) = state.failed.get(&id) {
				if when.elapsed() < RETRY_FETCH_AFTER {
					return Err(Unavailable::Failed(why.clone()));
				}
			}
			if !state.busy.insert(id) {
				return Err(Unavailable::Busy);
			}
		}
		// Whatever happens below, a panic included, the model is not left marked busy.
		let guard = BusyGuard { cache: self, id };
		let result = self.fetch_and_load(id, uris, profile);
		let mut state = self.lock();
		let result = match result {
			Ok((model, bytes)) => {
				state.failed.remove(&id);
				state.clock += 1;
				let last_used = state.clock;
				state.loaded.push(Loaded { id, profile, model: model.clone(), bytes, last_used });
				self.evict(&mut state);
				Ok(model)
			},
			Err(e) => {
				state.failed.insert(id, (Instant::now(), e.clone()));
				Err(Unavailable::Failed(e))
			},
		};
		drop(state);
		drop(guard);
		result
	}

	/// Unload the least recently used models until the rest fit the memory bound (the model
	/// just loaded always stays).
	fn evict(&self, state: &mut State) {
		let mut total: u64 = state.loaded.iter().map(|l| l.bytes).sum();
		while total > self.memory_bytes && state.loaded.len() > 1 {
			let Some((oldest, _)) = state.loaded.iter().enumerate().min_by_key(|(_, l)| l.last_used) else { break };
			let gone = state.loaded.remove(oldest);
			total = total.saturating_sub(gone.bytes);
			log::info!(target: "opg-worker", "unloaded model {} ({} MiB) to stay under the memory bound", to_hex(&gone.id.0), gone.bytes >> 20);
		}
		self.metrics.with(|m| m.loaded_bytes(total));
	}

	fn fetch_and_load(
		&self,
		id: ModelId,
		uris: &[Vec<u8>],
		profile: ExecutionProfile,
	) -> Result<(Arc<Model>, u64), String> {
		if !self.store.contains(&id.0) {
			self.fetch(id, uris)?;
		}
		let bundle =
			self.store.open_model(&id.0).map_err(|e| format!("model {} failed verification: {e}", to_hex(&id.0)))?;
		let bytes = bundle.manifest.files.iter().map(|f| f.size).sum();
		let started = Instant::now();
		let model = Model::load(&bundle, profile).map_err(|e| format!("cannot load model {}: {e}", to_hex(&id.0)))?;
		log::info!(
			target: "opg-worker",
			"loaded model {} ({:?}, {} MiB) in {} ms",
			to_hex(&id.0),
			profile,
			bytes >> 20,
			started.elapsed().as_millis()
		);
		Ok((Arc::new(model), bytes))
	}

	/// Fetch the bundle from the first URI that serves exactly this model.
	fn fetch(&self, id: ModelId, uris: &[Vec<u8>]) -> Result<(), String> {
		let mut reasons = Vec::new();
		let stored_before: HashSet<[u8; 32]> = self.store.list().unwrap_or_default().into_iter().collect();
		for uri in uris {
			let uri = String::from_utf8_lossy(uri).into_owned();
			let started = Instant::now();
			let mut fetched = 0u64;
			let imported = self.import(&uri, &mut fetched);
			self.metrics.with(|m| m.fetched(fetched));
			match imported {
				Ok(got) if got == id.0 => {
					log::info!(
						target: "opg-worker",
						"fetched model {} from {uri} ({} KiB in {} ms)",
						to_hex(&id.0),
						fetched >> 10,
						started.elapsed().as_millis()
					);
					return Ok(());
				},
				Ok(got) => {
					// Someone else's bundle, or this one altered: never run it under this id, and
					// do not keep what was not in the store before.
					if !stored_before.contains(&got) {
						let _ = std::fs::remove_dir_all(self.store.dir_of(&got));
					}
					reasons.push(format!("{uri} serves model {}, not {}", to_hex(&got), to_hex(&id.0)));
				},
				Err(e) => reasons.push(format!("{uri}: {e}")),
			}
			self.metrics.with(|m| m.fetch_failed());
		}
		let reason = format!("cannot fetch model {}: {}", to_hex(&id.0), reasons.join("; "));
		log::warn!(target: "opg-worker", "{reason}");
		Err(reason)
	}

	/// Only http(s): a URI is chosen by the model's owner, and must never make a validator read
	/// its own files.
	fn import(&self, uri: &str, fetched: &mut u64) -> Result<[u8; 32], String> {
		if !(uri.starts_with("http://") || uri.starts_with("https://")) {
			return Err("unsupported URI scheme (models are fetched over http:// or https://)".into());
		}
		self.store.import_url(uri, self.max_fetch_bytes, &mut |done, _| *fetched = done).map_err(|e| e.to_string())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use opg_engine::testmodels;
	use sp_core::H256;

	impl ModelCache {
		fn loaded(&self) -> Vec<ModelId> {
			let mut loaded: Vec<_> = self.lock().loaded.iter().map(|l| (l.last_used, l.id)).collect();
			loaded.sort();
			loaded.into_iter().map(|(_, id)| id).collect()
		}
	}

	#[test]
	fn models_load_once_and_the_least_recently_used_leave_first() {
		let dir = tempfile::tempdir().unwrap();
		let store = dir.path().join("store");
		let mlp = testmodels::write_onnx_mlp(&dir.path().join("mlp"), None).unwrap();
		let llama = testmodels::write_tiny_llama_safetensors(&dir.path().join("llama")).unwrap();
		let size = |m: &opg_engine::Manifest| m.files.iter().map(|f| f.size).sum::<u64>();
		let (mlp_bytes, llama_bytes) = (size(&mlp), size(&llama));
		let (mlp, llama) = (mlp.id(), llama.id());
		{
			let s = ModelStore::open(&store).unwrap();
			s.import_dir(&dir.path().join("mlp"), u64::MAX).unwrap();
			s.import_dir(&dir.path().join("llama"), u64::MAX).unwrap();
		}
		let (mlp, llama) = (H256(mlp), H256(llama));
		// Room for one of them at a time.
		let cache = ModelCache::open(&store, u64::MAX, 1, MaybeMetrics::default()).unwrap();
		let first = cache.get(mlp, &[], ExecutionProfile::Portable).unwrap();
		let again = cache.get(mlp, &[], ExecutionProfile::Portable).unwrap();
		assert!(Arc::ptr_eq(&first, &again), "a loaded model is not loaded again");
		cache.get(llama, &[], ExecutionProfile::Portable).unwrap();
		assert_eq!(cache.loaded(), vec![llama], "the MLP was unloaded to make room");

		// Room for two MLPs (the tiny Llama is smaller): the model used longest ago goes when a
		// third arrives.
		assert!(llama_bytes < mlp_bytes);
		let cache = ModelCache::open(&store, u64::MAX, 2 * mlp_bytes, MaybeMetrics::default()).unwrap();
		cache.get(mlp, &[], ExecutionProfile::Portable).unwrap();
		cache.get(llama, &[], ExecutionProfile::Portable).unwrap();
		cache.get(mlp, &[], ExecutionProfile::Portable).unwrap();
		assert_eq!(cache.loaded(), vec![llama, mlp]);
		cache.get(mlp, &[], ExecutionProfile::Fast).unwrap();
		assert_eq!(cache.loaded(), vec![mlp, mlp], "the Llama, used longest ago, was unloaded");
	}

	#[test]
	fn a_model_nobody_serves_fails_and_is_not_retried_at_once() {
		let dir = tempfile::tempdir().unwrap();
		let cache = ModelCache::open(dir.path(), u64::MAX, u64::MAX, MaybeMetrics::default()).unwrap();
		let id = H256([7; 32]);
		let uris = vec![b"file:///etc/passwd".to_vec(), b"ftp://example/model".to_vec()];
		let Err(Unavailable::Failed(why)) = cache.get(id, &uris, ExecutionProfile::Portable) else {
			panic!("only http(s) URIs are fetched")
		};
		assert!(why.contains("unsupported URI scheme"), "{why}");
		// Remembered: the second attempt fails at once, without trying the URIs.
		let Err(Unavailable::Failed(again)) = cache.get(id, &[], ExecutionProfile::Portable) else { panic!() };
		assert_eq!(again, why);
		assert!(cache.loaded().is_empty());
	}
}
