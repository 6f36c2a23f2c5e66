//! The inference worker: the node-side service that answers this node's committee duties.
//!
//! On every new best block it asks the runtime (`InferenceApi::assignments`) what each worker
//! key in the keystore (`opgw`) must do, and does each duty once:
//!
//! - **commit**: the job goes to a bounded queue; runner threads fetch the model by the
//!   registry's URIs (verified against its id), run it with `opg-engine` in the model's profile,
//!   and hand the answer back — the output, or the model's typed refusal of the input. The
//!   answer and a fresh random salt are written to the journal (synced) and only then is
//!   `commit(blake2_256(answer ‖ member ‖ salt))` submitted.
//! - **reveal**: the answer and salt come from the journal, so a restarted node still reveals.
//!   A sealed first round (a request that may escalate) reveals the answer's digest and the
//!   salt instead, and **publishes** the answer when the chain asks for it: in the round's
//!   publish phase, or once the escalated committee has committed.
//!
//! Commitments bind the answer by its digest on runtimes with `InferenceApi` version 3 and
//! later, and the answer itself before (`legacy_commitment`), so a worker upgraded before the
//! runtime keeps committing in the form the chain checks.
//!
//! Commits and reveals are general transactions signed with the worker key; they pay no fee.
//! Nothing here runs on the import or authoring path: the service reacts to import
//! notifications on its own task and inference runs on its own threads.

mod jobs;
mod journal;
mod metrics;
mod models;

use crate::{cli::WorkerFault, service::FullClient};
use codec::{Decode, Encode};
use futures::{channel::mpsc, FutureExt, StreamExt};
use jobs::{Finished, Job, JobQueue, NoAnswer};
use journal::{Committed, Journal};
use metrics::{MaybeMetrics, Metrics};
use models::ModelCache;
use opg_primitives::{
	inference::{answer_digest, commitment, legacy_commitment, Answer, Assignment, Duty, InferenceApi},
	worker::{WorkerId, WorkerSignature, WORKER_KEY_TYPE},
	BlockNumber, ModelId,
};
use opg_runtime::{opaque::Block, Runtime, RuntimeCall};
use sc_client_api::{BlockchainEvents, StorageProvider};
use sc_transaction_pool_api::{TransactionPool, TransactionSource, TxHash};
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_consensus::SyncOracle;
use sp_core::{crypto::ByteArray, storage::StorageKey, H256};
use sp_keystore::KeystorePtr;
use sp_runtime::traits::Header as _;
use std::{
	collections::{HashMap, HashSet},
	path::PathBuf,
	sync::{
		atomic::{AtomicU32, Ordering},
		Arc,
	},
};

const LOG: &str = "opg-worker";

/// Blocks after a submission before a duty the chain still lists is submitted again (the
/// transaction may have been dropped).
const RESUBMIT_AFTER: BlockNumber = 3;
/// Blocks a journal record is kept: far beyond any request's commit and reveal windows.
const JOURNAL_KEEP: BlockNumber = 2_000;
/// Runner threads: one can wait on a fetch while another runs a model already loaded.
const RUNNERS: usize = 2;

/// How the worker runs (from the command line).
#[derive(Clone, Debug)]
pub struct WorkerConfig {
	pub model_store: PathBuf,
	pub journal: PathBuf,
	pub memory_bytes: u64,
	pub queue: usize,
	pub threads: Option<usize>,
	pub max_model_bytes: u64,
	pub fault: Option<WorkerFault>,
}

/// One duty of one worker key: what is done at most once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DutyId {
	pub request: u64,
	pub round: u8,
	pub duty: Duty,
	pub key: [u8; 32],
}

impl DutyId {
	fn new(a: &Assignment<ModelId, BlockNumber>, key: &[u8; 32]) -> Self {
		Self { request: a.request, round: a.round, duty: a.duty, key: *key }
	}

	fn phase(&self) -> &'static str {
		match self.duty {
			Duty::Commit => "commit",
			Duty::Reveal => "reveal",
			Duty::RevealDigest => "reveal_digest",
			Duty::Publish => "publish",
		}
	}
}

/// When a duty was last acted on, and from which block it may be tried again if the chain
/// still lists it (`None`: never).
#[derive(Clone, Copy)]
struct Acted {
	at: BlockNumber,
	retry_from: Option<BlockNumber>,
}

/// How long a new best block waits for the transaction pool to catch up with it.
const POOL_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Start the worker on the node's task manager.
pub fn start<P>(
	config: WorkerConfig,
	client: Arc<FullClient>,
	pool: Arc<P>,
	keystore: KeystorePtr,
	sync: Arc<dyn SyncOracle + Send + Sync>,
	registry: Option<&substrate_prometheus_endpoint::Registry>,
	spawner: &sc_service::SpawnTaskHandle,
) -> Result<(), String>
where
	P: TransactionPool<Block = Block> + 'static,
{
	let metrics = MaybeMetrics(
		registry
			.map(Metrics::register)
			.transpose()
			.map_err(|e| format!("cannot register the worker's metrics: {e}"))?,
	);
	match opg_engine::configure_threads(config.threads) {
		Ok(n) => log::info!(target: LOG, "engine computes on {n} threads"),
		// Someone sized the global pool first; the engine uses it as it is.
		Err(e) => log::warn!(target: LOG, "engine thread pool already configured: {e}"),
	}
	let models =
		Arc::new(ModelCache::open(&config.model_store, config.max_model_bytes, config.memory_bytes, metrics.clone())?);
	let journal = Journal::open(&config.journal)
		.map_err(|e| format!("cannot open the worker journal at {}: {e}", config.journal.display()))?;
	let best = Arc::new(AtomicU32::new(client.info().best_number));
	let (done, finished) = mpsc::unbounded();
	let jobs = JobQueue::start(config.queue, RUNNERS, models, best.clone(), done, metrics.clone())
		.map_err(|e| format!("cannot start the worker threads: {e}"))?;
	if let Some(fault) = config.fault {
		log::warn!(target: LOG, "UNSAFE: this worker misbehaves on purpose ({fault:?}) and will be slashed");
	}
	log::info!(
		target: LOG,
		"inference worker started: model store {}, journal {}, queue {}, memory {} MiB",
		config.model_store.display(),
		config.journal.display(),
		config.queue,
		config.memory_bytes >> 20
	);
	let worker = Worker {
		client,
		pool,
		keystore,
		sync,
		syncing: false,
		journal,
		jobs,
		best,
		fault: config.fault,
		metrics,
		in_flight: HashSet::new(),
		acted: HashMap::new(),
		submitted: HashMap::new(),
		announced: HashSet::new(),
	};
	spawner.spawn("opg-inference-worker", Some("opg-worker"), worker.run(finished).boxed());
	Ok(())
}

struct Worker<P: TransactionPool> {
	client: Arc<FullClient>,
	pool: Arc<P>,
	keystore: KeystorePtr,
	/// While the node catches up with the network its best blocks are history: duties read
	/// from them are long over, so the worker waits until it is in sync.
	sync: Arc<dyn SyncOracle + Send + Sync>,
	/// Whether the last best block was seen while syncing (to log the change once).
	syncing: bool,
	journal: Journal,
	jobs: JobQueue,
	best: Arc<AtomicU32>,
	fault: Option<WorkerFault>,
	metrics: MaybeMetrics,
	/// Commit duties queued or running.
	in_flight: HashSet<DutyId>,
	acted: HashMap<DutyId, Acted>,
	/// The pool hash of each duty's last submission. A resubmission first removes that copy:
	/// peers that refused it (say, before they imported the block that opened the phase) are
	/// never sent the same hash again, and a fresh copy beside it would be refused by this
	/// node's pool for claiming the same tag at the same priority, so the duty could only be
	/// included in a block this node authors.
	submitted: HashMap<DutyId, TxHash<P>>,
	/// Worker keys whose registration was already reported in the log.
	announced: HashSet<[u8; 32]>,
}

impl<P> Worker<P>
where
	P: TransactionPool<Block = Block> + 'static,
{
	async fn run(mut self, mut finished: mpsc::UnboundedReceiver<Finished>) {
		let mut blocks =
			self.client.import_notification_stream().filter(|n| futures::future::ready(n.is_new_best)).fuse();
		let info = self.client.info();
		self.on_best_block(info.best_hash, info.best_number).await;
		loop {
			futures::select! {
				block = blocks.next() => match block {
					Some(block) => self.on_best_block(block.hash, *block.header.number()).await,
					None => return,
				},
				done = finished.next() => match done {
					Some(done) => self.on_finished(done).await,
					None => return,
				},
			}
		}
	}

	fn worker_keys(&self) -> Vec<WorkerId> {
		self.keystore.sr25519_public_keys(WORKER_KEY_TYPE).into_iter().map(WorkerId::from).collect()
	}

	async fn on_best_block(&mut self, hash: H256, number: BlockNumber) {
		self.best.store(number, Ordering::Relaxed);
		let syncing = self.sync.is_major_syncing();
		if syncing != self.syncing {
			self.syncing = syncing;
			if syncing {
				log::info!(target: LOG, "catching up with the network at #{number}: duties wait until it is in sync");
			} else {
				log::info!(target: LOG, "in sync at #{number}: working on duties");
			}
		}
		if syncing {
			return;
		}
		// A submission is checked against the pool's view of the chain: wait until the pool has
		// caught up with this block, or a reveal whose phase opened in it is refused as early.
		let _ = self.pool.ready_at_with_timeout(hash, POOL_CATCH_UP).await;
		self.acted.retain(|_, a| a.at.saturating_add(JOURNAL_KEEP) >= number);
		let acted = &self.acted;
		self.submitted.retain(|id, _| acted.contains_key(id));
		if number % 100 == 0 {
			if let Err(e) = self.journal.prune(number.saturating_sub(JOURNAL_KEEP)) {
				log::warn!(target: LOG, "cannot prune the journal: {e}");
			}
		}
		for key in self.worker_keys() {
			let raw = raw_key(&key);
			let api = self.client.runtime_api();
			if self.announced.insert(raw) {
				match api.worker_of_key(hash, key.clone()) {
					Ok(Some(stash)) => {
						log::info!(target: LOG, "worker key {key} serves as worker {stash}")
					},
					Ok(None) => {
						self.announced.remove(&raw);
					},
					Err(e) => log::warn!(target: LOG, "cannot look up worker key {key}: {e}"),
				}
			}
			let duties = match api.assignments(hash, key.clone()) {
				Ok(duties) => duties,
				Err(e) => {
					log::warn!(target: LOG, "cannot read the duties of worker key {key} at #{number}: {e}");
					continue;
				},
			};
			for duty in duties {
				let id = DutyId::new(&duty, &raw);
				if self.in_flight.contains(&id) {
					continue;
				}
				if let Some(acted) = self.acted.get(&id) {
					if acted.retry_from.is_none_or(|from| number < from) {
						continue;
					}
				}
				match duty.duty {
					Duty::Commit => self.on_commit_duty(hash, number, &key, id, duty).await,
					Duty::Reveal | Duty::RevealDigest | Duty::Publish => {
						self.on_reveal_duty(hash, number, &key, id, duty).await
					},
				}
			}
		}
	}

	/// Record an action on a duty; with `retry`, the duty is taken up again if the chain still
	/// lists it `RESUBMIT_AFTER` blocks later.
	fn acted(&mut self, id: DutyId, at: BlockNumber, retry: bool) {
		let retry_from = retry.then(|| at.saturating_add(RESUBMIT_AFTER));
		self.acted.insert(id, Acted { at, retry_from });
	}

	async fn on_commit_duty(
		&mut self,
		hash: H256,
		number: BlockNumber,
		key: &WorkerId,
		id: DutyId,
		duty: Assignment<ModelId, BlockNumber>,
	) {
		if !can_still_commit(number, duty.ends) {
			log::warn!(target: LOG, "dropped request {} round {}: too late to commit by #{}", id.request, id.round, duty.ends);
			self.metrics.with(|m| m.duty("commit", "dropped_deadline"));
			self.acted(id, number, false);
			return;
		}
		// Computed and recorded before (the node restarted, or the transaction was dropped):
		// submit the recorded commitment, never a new one.
		let question = journal::question(&duty.model, &duty.input);
		match self.journal.get(id.request, id.round, &id.key) {
			Ok(Some(record)) if record.question == question => {
				self.submit_commit(hash, number, key, id, record.commitment).await;
				return;
			},
			Ok(_) => {},
			Err(e) => {
				log::error!(target: LOG, "cannot read the journal for request {}: {e}", id.request)
			},
		}
		match self.fault {
			Some(WorkerFault::NoShow) => {
				log::warn!(target: LOG, "UNSAFE no-show: not answering request {} round {}", id.request, id.round);
				self.metrics.with(|m| m.duty("commit", "skipped_fault"));
				self.acted(id, number, false);
				return;
			},
			Some(WorkerFault::CopyCommitment) => {
				// Wait until another member has committed, then submit its commitment.
				let copied = self.request(hash, id.request).and_then(|req| {
					req.committee.iter().filter(|m| raw_key(&m.key) != id.key).find_map(|m| m.commitment)
				});
				if let Some(copied) = copied {
					log::warn!(target: LOG, "UNSAFE copy-commitment: submitting another member's commitment to request {}", id.request);
					self.submit_commit(hash, number, key, id, copied).await;
				}
				return;
			},
			_ => {},
		}
		let model = match self.client.runtime_api().model(hash, duty.model) {
			Ok(Some(model)) => model,
			Ok(None) => {
				log::warn!(target: LOG, "request {} is for model {:?}, which is not registered", id.request, duty.model);
				self.acted(id, number, false);
				return;
			},
			Err(e) => {
				log::warn!(target: LOG, "cannot read model {:?}: {e}", duty.model);
				return;
			},
		};
		let job = Job {
			duty: id,
			model: duty.model,
			uris: model.uris,
			profile: model.profile,
			question,
			input: duty.input,
			ends: duty.ends,
		};
		match self.jobs.try_push(job) {
			Ok(()) => {
				self.in_flight.insert(id);
			},
			Err(_) => {
				log::debug!(target: LOG, "job queue full: request {} waits for the next block", id.request)
			},
		}
	}

	async fn on_finished(&mut self, done: Finished) {
		let id = done.duty;
		self.in_flight.remove(&id);
		let number = self.best.load(Ordering::Relaxed);
		let mut answer = match done.answer {
			Ok(answer) => answer,
			// Seen again on the next block, by when the fetch may be done.
			Err(NoAnswer::ModelBusy) => return,
			Err(NoAnswer::Failed(reason)) => {
				log::warn!(target: LOG, "cannot answer request {} round {}: {reason}", id.request, id.round);
				self.metrics.with(|m| m.duty("commit", "failed"));
				self.acted(id, number, true);
				return;
			},
		};
		if !can_still_commit(number, done.ends) {
			log::warn!(
				target: LOG,
				"dropped request {} round {}: answered in {} ms, after its commit deadline #{} (best #{number})",
				id.request,
				id.round,
				done.elapsed.as_millis(),
				done.ends
			);
			self.metrics.with(|m| m.duty("commit", "dropped_deadline"));
			self.acted(id, number, false);
			return;
		}
		if let Answer::Rejected(reason) = &answer {
			log::info!(target: LOG, "request {}: the model refuses the input ({})", id.request, reason.describe());
			self.metrics.with(|m| m.duty("commit", "rejected_input"));
		}
		if self.fault == Some(WorkerFault::WrongOutput) {
			log::warn!(target: LOG, "UNSAFE wrong-output: committing to a wrong answer for request {}", id.request);
			answer = wrong_answer(answer);
		}
		let info = self.client.info();
		let Some(key) = WorkerId::from_slice(&id.key).ok() else {
			return;
		};
		let member = match self.client.runtime_api().worker_of_key(info.best_hash, key.clone()) {
			Ok(Some(member)) => member,
			other => {
				log::warn!(target: LOG, "worker key {key} is not registered any more ({other:?}); not committing");
				self.acted(id, number, false);
				return;
			},
		};
		let salt: [u8; 32] = rand::random();
		let committed = if self.digest_commitments(info.best_hash) {
			commitment(&answer, &member, &salt)
		} else {
			legacy_commitment(&answer, &member, &salt)
		};
		let record = Committed {
			request: id.request,
			round: id.round,
			key: id.key,
			question: done.question,
			answer,
			salt,
			commitment: committed,
			at: number,
		};
		if let Err(e) = self.journal.record(&record) {
			log::error!(target: LOG, "cannot record the answer to request {} ({e}); not committing to what could not be revealed", id.request);
			self.acted(id, number, true);
			return;
		}
		log::info!(
			target: LOG,
			"answered request {} round {} with model {:?} in {} ms",
			id.request,
			id.round,
			done.model,
			done.elapsed.as_millis()
		);
		self.submit_commit(info.best_hash, number, &key, id, committed).await;
	}

	async fn submit_commit(
		&mut self,
		hash: H256,
		number: BlockNumber,
		key: &WorkerId,
		id: DutyId,
		committed: [u8; 32],
	) {
		let payload = pallet_inference::commit_payload(id.request, id.round, &committed);
		let (request, round, key_) = (id.request, id.round, key.clone());
		self.sign_and_submit(hash, number, key, id, &payload, move |signature| pallet_inference::Call::commit {
			request,
			round,
			key: key_,
			commitment: committed,
			signature,
		})
		.await;
	}

	/// Sign `payload` with the worker key and submit the call `make` builds around the signature.
	async fn sign_and_submit(
		&mut self,
		hash: H256,
		number: BlockNumber,
		key: &WorkerId,
		id: DutyId,
		payload: &[u8],
		make: impl FnOnce(WorkerSignature) -> pallet_inference::Call<Runtime>,
	) {
		let Some(signature) = self.sign(key, payload) else {
			self.acted(id, number, true);
			return;
		};
		self.submit(hash, number, id, RuntimeCall::Inference(make(signature))).await;
	}

	async fn on_reveal_duty(
		&mut self,
		hash: H256,
		number: BlockNumber,
		key: &WorkerId,
		id: DutyId,
		duty: Assignment<ModelId, BlockNumber>,
	) {
		let question = journal::question(&duty.model, &duty.input);
		if self.fault == Some(WorkerFault::NoReveal) {
			log::warn!(target: LOG, "UNSAFE no-reveal: not revealing request {} round {}", id.request, id.round);
			self.metrics.with(|m| m.duty(id.phase(), "skipped_fault"));
			self.acted(id, number, false);
			return;
		}
		let record = self.journal.get(id.request, id.round, &id.key).map(|r| r.filter(|r| r.question == question));
		let (answer, salt) = match record {
			Ok(Some(record)) => (record.answer, record.salt),
			Ok(None) if self.fault == Some(WorkerFault::CopyCommitment) => {
				// The copier never ran the model: it tries the answer another member revealed.
				match self.revealed_answer(hash, id) {
					Some(answer) => (answer, [0u8; 32]),
					None => return,
				}
			},
			Ok(None) => {
				log::error!(
					target: LOG,
					"no record of what worker key {key} committed to request {} round {}: it cannot reveal",
					id.request,
					id.round
				);
				self.metrics.with(|m| m.duty(id.phase(), "no_record"));
				self.acted(id, number, false);
				return;
			},
			Err(e) => {
				log::error!(target: LOG, "cannot read the journal for request {}: {e}", id.request);
				self.acted(id, number, true);
				return;
			},
		};
		let (request, round, key_) = (id.request, id.round, key.clone());
		match id.duty {
			Duty::RevealDigest => {
				let digest = answer_digest(&answer);
				let payload = pallet_inference::reveal_digest_payload(request, round, &digest, &salt);
				self.sign_and_submit(hash, number, key, id, &payload, move |signature| {
					pallet_inference::Call::reveal_digest { request, round, key: key_, digest, salt, signature }
				})
				.await
			},
			Duty::Publish => {
				let payload = pallet_inference::publish_payload(request, &answer);
				self.sign_and_submit(hash, number, key, id, &payload, move |signature| {
					pallet_inference::Call::publish { request, key: key_, answer, signature }
				})
				.await
			},
			_ => {
				let payload = pallet_inference::reveal_payload(request, round, &answer, &salt);
				self.sign_and_submit(hash, number, key, id, &payload, move |signature| pallet_inference::Call::reveal {
					request,
					round,
					key: key_,
					answer,
					salt,
					signature,
				})
				.await
			},
		}
	}

	/// Whether the runtime at `at` takes commitments that bind the answer by its digest
	/// (`InferenceApi` version 3 and later).
	fn digest_commitments(&self, at: H256) -> bool {
		use sp_api::ApiExt;
		type Api = dyn InferenceApi<Block, opg_runtime::AccountId, opg_runtime::Balance, BlockNumber, WorkerId>;
		match self.client.runtime_api().api_version::<Api>(at) {
			Ok(Some(version)) => version >= 3,
			Ok(None) | Err(_) => true,
		}
	}

	fn sign(&self, key: &WorkerId, payload: &[u8]) -> Option<WorkerSignature> {
		let public = sp_core::sr25519::Public::from_raw(raw_key(key));
		match self.keystore.sr25519_sign(WORKER_KEY_TYPE, &public, payload) {
			Ok(Some(signature)) => Some(WorkerSignature::from(signature)),
			Ok(None) => {
				log::error!(target: LOG, "worker key {key} left the keystore");
				None
			},
			Err(e) => {
				log::error!(target: LOG, "cannot sign with worker key {key}: {e}");
				None
			},
		}
	}

	/// Submit a commit or reveal to the pool, which gossips it to the block authors.
	async fn submit(&mut self, hash: H256, number: BlockNumber, id: DutyId, call: RuntimeCall) {
		let phase = id.phase();
		let encoded = opg_runtime::general_transaction(call).encode();
		let xt = match sp_runtime::OpaqueExtrinsic::decode(&mut &encoded[..]) {
			Ok(xt) => xt,
			Err(e) => {
				log::error!(target: LOG, "cannot encode the {phase} of request {}: {e}", id.request);
				return;
			},
		};
		if let Some(previous) = self.submitted.remove(&id) {
			// The chain still lists the duty, so the previous copy was not included.
			let removed = self.pool.report_invalid(Some(hash), [(previous, None)].into_iter().collect()).await;
			log::debug!(target: LOG, "resubmitting the {phase} of request {}: {} stale copy removed", id.request, removed.len());
		}
		match self.pool.submit_one(hash, TransactionSource::Local, xt).await {
			Ok(tx) => {
				self.submitted.insert(id, tx);
				log::info!(target: LOG, "submitted the {phase} of request {} round {}", id.request, id.round);
				self.metrics.with(|m| m.duty(phase, "submitted"));
				self.acted(id, number, true);
			},
			Err(e) => {
				use sc_transaction_pool_api::error::IntoPoolError;
				let e = e.into_pool_error().map(|e| format!("{e:?}")).unwrap_or_else(|e| format!("{e:?}"));
				log::warn!(target: LOG, "the pool refused the {phase} of request {} round {}: {e}", id.request, id.round);
				self.metrics.with(|m| m.duty(phase, "refused_by_pool"));
				// Tried again on the next block, while the chain still lists the duty.
				self.acted.insert(id, Acted { at: number, retry_from: Some(number.saturating_add(1)) });
			},
		}
	}

	/// An open request as stored on chain.
	fn request(&self, at: H256, id: u64) -> Option<pallet_inference::RequestOf<Runtime>> {
		let key = StorageKey(pallet_inference::Requests::<Runtime>::hashed_key_for(id));
		let data = self.client.storage(at, &key).ok()??;
		Decode::decode(&mut &data.0[..]).ok()
	}

	/// An answer another member of the committee revealed (for the copy-commitment fault).
	fn revealed_answer(&self, at: H256, id: DutyId) -> Option<Answer> {
		let req = self.request(at, id.request)?;
		req.committee.iter().enumerate().filter(|(_, m)| raw_key(&m.key) != id.key).find_map(|(seat, _)| {
			let key = StorageKey(pallet_inference::Outputs::<Runtime>::hashed_key_for(id.request, seat as u32));
			let data = self.client.storage(at, &key).ok()??;
			match pallet_inference::AnswerOf::<Runtime>::decode(&mut &data.0[..]).ok()? {
				pallet_inference::StoredAnswer::Output(o) => Some(Answer::Output(o.into_bytes())),
				pallet_inference::StoredAnswer::Rejected(r) => Some(Answer::Rejected(r)),
			}
		})
	}
}

/// Whether a commit submitted at best block `best` can still be included: the next block is
/// the earliest, and `ends` the last that takes it.
pub(crate) fn can_still_commit(best: BlockNumber, ends: BlockNumber) -> bool {
	best.saturating_add(1) <= ends
}

fn raw_key(key: &WorkerId) -> [u8; 32] {
	let mut raw = [0u8; 32];
	raw.copy_from_slice(key.as_slice());
	raw
}

/// A different answer of the same kind, for the wrong-output fault.
fn wrong_answer(answer: Answer) -> Answer {
	match answer {
		Answer::Output(mut bytes) => {
			if let Some(last) = bytes.last_mut() {
				*last ^= 0x40;
			}
			Answer::Output(bytes)
		},
		Answer::Rejected(_) => Answer::Output(opg_primitives::inference::Value::Text(b"wrong".to_vec()).encode()),
	}
}
