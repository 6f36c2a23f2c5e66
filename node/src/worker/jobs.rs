//! The bounded job queue between the node and the engine.
//!
//! The node's async tasks only ever `try_push` a job: when the queue is full the duty waits for
//! a later block and nothing blocks. Runner threads, outside the node's async runtime, fetch
//! and load the model and run it; the answer comes back over a channel.

use super::{
	metrics::MaybeMetrics,
	models::{ModelCache, Unavailable},
	DutyId,
};
use futures::channel::mpsc::UnboundedSender;
use opg_engine::{hash::to_hex, Answer, ExecutionProfile};
use opg_primitives::{BlockNumber, ModelId};
use std::{
	panic::AssertUnwindSafe,
	sync::{
		atomic::{AtomicU32, Ordering},
		mpsc::{sync_channel, Receiver, SyncSender, TrySendError},
		Arc, Mutex,
	},
	time::{Duration, Instant},
};

/// One request to answer.
pub struct Job {
	pub duty: DutyId,
	pub model: ModelId,
	pub uris: Vec<Vec<u8>>,
	pub profile: ExecutionProfile,
	/// What identifies the question, for the journal.
	pub question: [u8; 32],
	pub input: Vec<u8>,
	/// The block that closes the commit phase.
	pub ends: BlockNumber,
}

/// Why a job has no answer.
#[derive(Debug)]
pub enum NoAnswer {
	/// Another job is fetching the model: try again on a later block.
	ModelBusy,
	/// The model could not be fetched, verified, loaded or run, or the deadline passed while
	/// the job waited.
	Failed(String),
}

/// A job's result.
pub struct Finished {
	pub duty: DutyId,
	pub model: ModelId,
	pub question: [u8; 32],
	pub ends: BlockNumber,
	pub answer: Result<Answer, NoAnswer>,
	pub elapsed: Duration,
}

pub struct JobQueue {
	jobs: SyncSender<Job>,
	metrics: MaybeMetrics,
}

impl JobQueue {
	/// Start `runners` threads taking jobs from a queue of `capacity`.
	pub fn start(
		capacity: usize,
		runners: usize,
		models: Arc<ModelCache>,
		best: Arc<AtomicU32>,
		done: UnboundedSender<Finished>,
		metrics: MaybeMetrics,
	) -> std::io::Result<Self> {
		let (jobs, queue) = sync_channel::<Job>(capacity);
		let queue = Arc::new(Mutex::new(queue));
		for i in 0..runners {
			let runner = Runner {
				queue: queue.clone(),
				models: models.clone(),
				best: best.clone(),
				done: done.clone(),
				metrics: metrics.clone(),
			};
			std::thread::Builder::new().name(format!("opg-worker-{i}")).spawn(move || runner.run())?;
		}
		Ok(Self { jobs, metrics })
	}

	/// Queue a job, or hand it back when the queue is full.
	pub fn try_push(&self, job: Job) -> Result<(), Job> {
		// Counted before it can be taken, so the gauge never goes below zero.
		self.metrics.with(|m| m.queued());
		match self.jobs.try_send(job) {
			Ok(()) => Ok(()),
			Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
				self.metrics.with(|m| m.dequeued());
				Err(job)
			},
		}
	}
}

struct Runner {
	queue: Arc<Mutex<Receiver<Job>>>,
	models: Arc<ModelCache>,
	best: Arc<AtomicU32>,
	done: UnboundedSender<Finished>,
	metrics: MaybeMetrics,
}

impl Runner {
	fn run(self) {
		loop {
			let job = {
				let queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
				match queue.recv() {
					Ok(job) => job,
					// The node is shutting down.
					Err(_) => return,
				}
			};
			self.metrics.with(|m| m.dequeued());
			let started = Instant::now();
			let answer = if !super::can_still_commit(self.best.load(Ordering::Relaxed), job.ends) {
				Err(NoAnswer::Failed(format!("its commit deadline, block {}, passed while it waited", job.ends)))
			} else {
				self.answer(&job)
			};
			let elapsed = started.elapsed();
			if answer.is_ok() {
				self.metrics.with(|m| m.latency(&to_hex(&job.model.0), elapsed.as_secs_f64()));
			}
			let finished =
				Finished { duty: job.duty, model: job.model, question: job.question, ends: job.ends, answer, elapsed };
			if self.done.unbounded_send(finished).is_err() {
				return;
			}
		}
	}

	/// Fetch, load and run. A panic inside the engine (loading or running) is caught and
	/// reported as a failure: no bundle and no input may take the worker down.
	fn answer(&self, job: &Job) -> Result<Answer, NoAnswer> {
		let run = || {
			let model = self.models.get(job.model, &job.uris, job.profile).map_err(|e| match e {
				Unavailable::Busy => NoAnswer::ModelBusy,
				Unavailable::Failed(why) => NoAnswer::Failed(why),
			})?;
			model.answer(&job.input).map_err(|e| NoAnswer::Failed(format!("the model cannot run: {e}")))
		};
		std::panic::catch_unwind(AssertUnwindSafe(run))
			.unwrap_or_else(|_| Err(NoAnswer::Failed("the engine panicked on this job".into())))
	}
}
