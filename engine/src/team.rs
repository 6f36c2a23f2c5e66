//! One persistent team of threads for the engine's parallel work: matmul tasks, attention
//! heads, pooling planes and row kernels.
//!
//! A model runs many matmuls back to back, each split into a few tasks that last tens of
//! microseconds. A thread pool whose idle workers sleep in the kernel pays a wake-up (a futex
//! call and a reschedule, tens of microseconds on a virtual machine) on every one of them, which
//! is as long as the work. The team's workers instead spin for a short while after each job,
//! then sleep; the caller publishes a job by bumping an epoch, works on it itself, and the tasks
//! are claimed from a shared counter, so a late worker only finds nothing left to do.
//!
//! The team never changes a result: it runs the tasks it is given, each once, in any order.
//! A job submitted while another is running (a second model on another thread) runs on its
//! caller alone.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps: longer than the gap between two matmuls of a
/// model, short enough that an idle engine does not keep a core busy.
const SPIN: Duration = Duration::from_micros(300);

/// Team size set by [`set_size`] before first use; 0 = decide at first use.
static SIZE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
	/// Whether this thread is running a team task (a worker, or a caller inside its job).
	static IN_JOB: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is running a team task: work it starts cannot be shared out
/// again (the team is busy), so it should not be split.
pub fn in_job() -> bool {
	IN_JOB.with(|j| j.get())
}

/// `f(i, piece)` for every `piece`-long piece `i` of `data` (a shorter last piece included),
/// shared out over the global team in contiguous runs; on the calling thread alone when the
/// team is busy or `parallel` is false.
pub fn for_each_piece<T: Send>(data: &mut [T], piece: usize, parallel: bool, f: impl Fn(usize, &mut [T]) + Sync) {
	let piece = piece.max(1);
	let pieces = data.len().div_ceil(piece);
	let team = global();
	if !parallel || pieces < 2 || team.size() < 2 || in_job() {
		data.chunks_mut(piece).enumerate().for_each(|(i, p)| f(i, p));
		return;
	}
	// A few runs per thread, so uneven pieces even out.
	let per = pieces.div_ceil(team.size() * 4);
	let (base, len) = (Pointer(data.as_mut_ptr()), data.len());
	team.run(pieces.div_ceil(per), &|run| {
		for i in run * per..((run + 1) * per).min(pieces) {
			let start = i * piece;
			// SAFETY: pieces are disjoint ranges of `data`, each handed to exactly one task,
			// and `data` stays borrowed until `run` returns.
			let p = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), piece.min(len - start)) };
			f(i, p);
		}
	});
}

/// A pointer the tasks of one job share (each touching its own part of what it points to).
#[derive(Clone, Copy)]
struct Pointer<T>(*mut T);

impl<T> Pointer<T> {
	fn get(&self) -> *mut T {
		self.0
	}
}

// SAFETY: see `for_each_piece`: the parts are disjoint and the data outlives the job.
unsafe impl<T: Send> Send for Pointer<T> {}
unsafe impl<T: Send> Sync for Pointer<T> {}

/// Set the number of threads (the caller included) the team will have. Only takes effect
/// before the team's first job.
pub fn set_size(threads: usize) {
	SIZE.store(threads.max(1), Relaxed);
}

/// The process's team.
pub fn global() -> &'static Team {
	static TEAM: OnceLock<Team> = OnceLock::new();
	TEAM.get_or_init(|| {
		let size = match SIZE.load(Relaxed) {
			0 => crate::default_threads(),
			n => n,
		};
		Team::new(size)
	})
}

/// One job: `tasks` calls of `run`, claimed one at a time.
struct Job<'a> {
	run: &'a (dyn Fn(usize) + Sync),
	tasks: usize,
	next: AtomicUsize,
	done: AtomicUsize,
	panicked: AtomicBool,
}

impl Job<'_> {
	/// Claim and run tasks until none is left.
	fn work(&self) {
		let outer = IN_JOB.with(|j| j.replace(true));
		self.claim();
		IN_JOB.with(|j| j.set(outer));
	}

	fn claim(&self) {
		loop {
			let i = self.next.fetch_add(1, Relaxed);
			if i >= self.tasks {
				return;
			}
			if catch_unwind(AssertUnwindSafe(|| (self.run)(i))).is_err() {
				self.panicked.store(true, Relaxed);
			}
			self.done.fetch_add(1, Release);
		}
	}
}

struct Shared {
	/// The running job, on its caller's stack; null between jobs.
	job: AtomicPtr<Job<'static>>,
	/// Bumped for every job.
	epoch: AtomicU64,
	/// Workers that may be reading `job`: the caller waits for none before its job goes away.
	inside: AtomicUsize,
	/// Workers asleep, and where they sleep.
	sleeping: AtomicUsize,
	lock: Mutex<()>,
	wake: Condvar,
}

/// Threads that run a job's tasks together with the thread that submits it.
pub struct Team {
	shared: Arc<Shared>,
	/// Held while a job runs: one job at a time.
	submit: Mutex<()>,
	size: usize,
}

impl Team {
	/// A team of `size` threads: the caller and `size − 1` workers.
	pub fn new(size: usize) -> Self {
		let shared = Arc::new(Shared {
			job: AtomicPtr::new(std::ptr::null_mut()),
			epoch: AtomicU64::new(0),
			inside: AtomicUsize::new(0),
			sleeping: AtomicUsize::new(0),
			lock: Mutex::new(()),
			wake: Condvar::new(),
		});
		let mut size = size.max(1);
		for i in 1..size {
			let shared = shared.clone();
			let spawned = std::thread::Builder::new().name(format!("opg-team-{i}")).spawn(move || worker(&shared));
			if spawned.is_err() {
				// Fewer threads only means less parallelism, never another result.
				size = i;
				break;
			}
		}
		Self { shared, submit: Mutex::new(()), size }
	}

	/// Threads that work on a job, the caller included.
	pub fn size(&self) -> usize {
		self.size
	}

	/// Run `run(0)`, …, `run(tasks − 1)`, each exactly once, on the caller and the team's
	/// workers; returns when all are done. A panic in a task is raised again here.
	pub fn run(&self, tasks: usize, run: &(dyn Fn(usize) + Sync)) {
		let job =
			Job { run, tasks, next: AtomicUsize::new(0), done: AtomicUsize::new(0), panicked: AtomicBool::new(false) };
		let guard = match self.submit.try_lock() {
			Ok(guard) if self.size > 1 && tasks > 1 => guard,
			_ => {
				// Busy with another caller's job, or nothing to share: run here.
				job.work();
				return finish(&job);
			},
		};
		let shared = &self.shared;
		// SAFETY of the lifetime erasure: the pointer is cleared, and no worker is left inside
		// the job, before this function returns.
		shared.job.store(&job as *const Job as *mut Job<'static>, SeqCst);
		shared.epoch.fetch_add(1, SeqCst);
		if shared.sleeping.load(SeqCst) > 0 {
			let _lock = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
			shared.wake.notify_all();
		}
		job.work();
		while job.done.load(Acquire) < tasks {
			std::hint::spin_loop();
		}
		shared.job.store(std::ptr::null_mut(), SeqCst);
		while shared.inside.load(SeqCst) > 0 {
			std::hint::spin_loop();
		}
		drop(guard);
		finish(&job)
	}
}

fn finish(job: &Job) {
	if job.panicked.load(Relaxed) {
		resume_unwind(Box::new("a team task panicked"));
	}
}

/// A worker: waits for a new epoch (spinning, then asleep), then works on its job.
fn worker(shared: &Shared) {
	let mut seen = shared.epoch.load(SeqCst);
	loop {
		let started = Instant::now();
		let mut spins = 0u32;
		while shared.epoch.load(Acquire) == seen {
			std::hint::spin_loop();
			spins = spins.wrapping_add(1);
			if spins % 256 == 0 && started.elapsed() > SPIN {
				let mut lock = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
				shared.sleeping.fetch_add(1, SeqCst);
				while shared.epoch.load(SeqCst) == seen {
					lock = shared.wake.wait(lock).unwrap_or_else(|e| e.into_inner());
				}
				shared.sleeping.fetch_sub(1, SeqCst);
				break;
			}
		}
		seen = shared.epoch.load(SeqCst);
		shared.inside.fetch_add(1, SeqCst);
		let job = shared.job.load(SeqCst);
		// SAFETY: a non-null job stays alive until its caller sees `inside` at zero, and this
		// worker is counted in `inside` until it is done with it.
		if let Some(job) = unsafe { job.as_ref() } {
			job.work();
		}
		shared.inside.fetch_sub(1, SeqCst);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn every_task_runs_once() {
		for size in [1, 2, 3] {
			let team = Team::new(size);
			for tasks in [0, 1, 2, 7, 64] {
				let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
				team.run(tasks, &|i| {
					counts[i].fetch_add(1, Relaxed);
				});
				assert!(counts.iter().all(|c| c.load(Relaxed) == 1), "size {size}, {tasks} tasks");
			}
		}
	}

	#[test]
	fn concurrent_callers_and_sleeping_workers_finish() {
		let team = Arc::new(Team::new(2));
		let total = Arc::new(AtomicUsize::new(0));
		let callers: Vec<_> = (0..3)
			.map(|_| {
				let (team, total) = (team.clone(), total.clone());
				std::thread::spawn(move || {
					for round in 0..200 {
						if round % 50 == 0 {
							// Long enough for the worker to fall asleep.
							std::thread::sleep(SPIN * 3);
						}
						team.run(5, &|_| {
							total.fetch_add(1, Relaxed);
						});
					}
				})
			})
			.collect();
		callers.into_iter().for_each(|c| c.join().unwrap());
		assert_eq!(total.load(Relaxed), 3 * 200 * 5);
	}

	#[test]
	fn pieces_cover_the_data_once_and_nested_work_stays_on_its_thread() {
		let mut data: Vec<usize> = vec![0; 1003];
		for parallel in [false, true] {
			data.fill(0);
			for_each_piece(&mut data, 10, parallel, |i, piece| {
				assert!(piece.len() == 10 || (i == 100 && piece.len() == 3));
				assert_eq!(in_job(), parallel && global().size() > 1);
				let mut inner = [0usize; 4];
				for_each_piece(&mut inner, 1, true, |j, p| p[0] = j);
				assert_eq!(inner, [0, 1, 2, 3]);
				piece.iter_mut().enumerate().for_each(|(j, v)| *v += i * 10 + j + 1);
			});
			assert!(data.iter().enumerate().all(|(i, v)| *v == i + 1));
		}
		assert!(!in_job());
	}

	#[test]
	fn a_panicking_task_panics_the_caller_and_the_team_goes_on() {
		let team = Team::new(2);
		let result = catch_unwind(AssertUnwindSafe(|| team.run(4, &|i| assert_ne!(i, 2))));
		assert!(result.is_err());
		let ran = AtomicUsize::new(0);
		team.run(4, &|_| {
			ran.fetch_add(1, Relaxed);
		});
		assert_eq!(ran.load(Relaxed), 4);
	}
}
