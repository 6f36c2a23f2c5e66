//! Prometheus metrics of the inference worker (`opg_worker_*`).

use substrate_prometheus_endpoint::{
	exponential_buckets, register, Counter, CounterVec, Gauge, HistogramOpts, HistogramVec, Opts, PrometheusError,
	Registry, U64,
};

#[derive(Clone)]
pub struct Metrics {
	/// Duties by phase (`commit`, `reveal`, `reveal_digest`, `publish`) and outcome (`submitted`, `rejected_input`,
	/// `failed`, `dropped_deadline`, `refused_by_pool`, `skipped_fault`, `no_record`).
	duties: CounterVec<U64>,
	/// Seconds from taking a job off the queue to its answer, by model id.
	latency: HistogramVec,
	queue_depth: Gauge<U64>,
	fetched_bytes: Counter<U64>,
	fetch_failures: Counter<U64>,
	loaded_bytes: Gauge<U64>,
}

impl Metrics {
	pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
		Ok(Self {
			duties: register(
				CounterVec::new(
					Opts::new("opg_worker_duties_total", "Committee duties handled, by phase and outcome"),
					&["phase", "outcome"],
				)?,
				registry,
			)?,
			latency: register(
				HistogramVec::new(
					HistogramOpts::new("opg_worker_inference_seconds", "Time to answer one request, by model")
						.buckets(exponential_buckets(0.001, 2.0, 18)?),
					&["model"],
				)?,
				registry,
			)?,
			queue_depth: register(Gauge::new("opg_worker_queue_depth", "Jobs waiting for the engine")?, registry)?,
			fetched_bytes: register(
				Counter::new("opg_worker_model_bytes_fetched_total", "Bytes of model bundles fetched")?,
				registry,
			)?,
			fetch_failures: register(
				Counter::new("opg_worker_fetch_failures_total", "Model fetches that failed or did not match the id")?,
				registry,
			)?,
			loaded_bytes: register(
				Gauge::new("opg_worker_loaded_model_bytes", "Bytes of models held in memory")?,
				registry,
			)?,
		})
	}

	pub fn duty(&self, phase: &str, outcome: &str) {
		self.duties.with_label_values(&[phase, outcome]).inc();
	}

	pub fn latency(&self, model: &str, seconds: f64) {
		self.latency.with_label_values(&[model]).observe(seconds);
	}

	pub fn queued(&self) {
		self.queue_depth.inc();
	}

	pub fn dequeued(&self) {
		self.queue_depth.dec();
	}

	pub fn fetched(&self, bytes: u64) {
		self.fetched_bytes.inc_by(bytes);
	}

	pub fn fetch_failed(&self) {
		self.fetch_failures.inc();
	}

	pub fn loaded_bytes(&self, bytes: u64) {
		self.loaded_bytes.set(bytes);
	}
}

/// Metrics when a registry is configured; every call is a no-op otherwise.
#[derive(Clone, Default)]
pub struct MaybeMetrics(pub Option<Metrics>);

impl MaybeMetrics {
	pub fn with(&self, f: impl FnOnce(&Metrics)) {
		if let Some(m) = &self.0 {
			f(m)
		}
	}
}
