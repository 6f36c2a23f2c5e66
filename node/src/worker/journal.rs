//! What this node's workers committed to, on disk before the commit is submitted.
//!
//! A commitment cannot be opened without its answer and salt. Writing both down (and syncing
//! them) before the commit leaves the node means a worker restarted between commit and reveal
//! still reveals, and is not slashed for its own restart.

use codec::{Decode, Encode};
use opg_primitives::{inference::Answer, BlockNumber};
use std::{
	fs::{self, File},
	io::{self, Write},
	path::PathBuf,
};

/// What identifies the question a record answers.
pub fn question(model: &opg_primitives::ModelId, input: &[u8]) -> [u8; 32] {
	sp_io::hashing::blake2_256(&(model, input).encode())
}

/// One commitment and everything needed to reveal it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Committed {
	pub request: u64,
	pub round: u8,
	/// The worker key that committed.
	pub key: [u8; 32],
	/// `blake2_256(SCALE(model, input))` of the request answered: a record is only used for
	/// the same question (request ids start again on a new chain with the same base path).
	pub question: [u8; 32],
	pub answer: Answer,
	pub salt: [u8; 32],
	pub commitment: [u8; 32],
	/// The best block when it was recorded, for pruning.
	pub at: BlockNumber,
}

pub struct Journal {
	dir: PathBuf,
}

const SUFFIX: &str = ".commit";

impl Journal {
	/// Open (creating if needed) the journal directory, removing half-written records.
	pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
		let dir = dir.into();
		fs::create_dir_all(&dir)?;
		for entry in fs::read_dir(&dir)?.flatten() {
			if entry.file_name().to_string_lossy().ends_with(".tmp") {
				let _ = fs::remove_file(entry.path());
			}
		}
		Ok(Self { dir })
	}

	fn path(&self, request: u64, round: u8, key: &[u8; 32]) -> PathBuf {
		let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
		self.dir.join(format!("{request}-{round}-{key}{SUFFIX}"))
	}

	/// Write a record durably: to a temporary file, synced, renamed into place, and the
	/// directory synced, so after a crash it is either whole or absent.
	pub fn record(&self, entry: &Committed) -> io::Result<()> {
		let path = self.path(entry.request, entry.round, &entry.key);
		let tmp = path.with_extension("tmp");
		let mut file = File::create(&tmp)?;
		file.write_all(&entry.encode())?;
		file.sync_all()?;
		drop(file);
		fs::rename(&tmp, &path)?;
		File::open(&self.dir)?.sync_all()
	}

	/// The record of what `key` committed to in `round` of `request`, if any.
	pub fn get(&self, request: u64, round: u8, key: &[u8; 32]) -> io::Result<Option<Committed>> {
		let bytes = match fs::read(self.path(request, round, key)) {
			Ok(bytes) => bytes,
			Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
			Err(e) => return Err(e),
		};
		Committed::decode(&mut &bytes[..])
			.map(Some)
			.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("corrupt commitment record: {e}")))
	}

	/// Remove records made before block `before` (their requests have ended); how many.
	pub fn prune(&self, before: BlockNumber) -> io::Result<usize> {
		let mut removed = 0;
		for entry in fs::read_dir(&self.dir)?.flatten() {
			if !entry.file_name().to_string_lossy().ends_with(SUFFIX) {
				continue;
			}
			let old = fs::read(entry.path())
				.ok()
				.and_then(|b| Committed::decode(&mut &b[..]).ok())
				.is_none_or(|c| c.at < before);
			if old && fs::remove_file(entry.path()).is_ok() {
				removed += 1;
			}
		}
		Ok(removed)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use opg_primitives::inference::Rejection;

	fn entry(request: u64, at: BlockNumber) -> Committed {
		Committed {
			request,
			round: 1,
			key: [3; 32],
			question: [6; 32],
			answer: Answer::Output(vec![1, 2, 3]),
			salt: [9; 32],
			commitment: [4; 32],
			at,
		}
	}

	#[test]
	fn records_survive_reopening_and_are_pruned_by_age() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Journal::open(dir.path().join("j")).unwrap();
		let (a, mut b) = (entry(1, 10), entry(2, 50));
		b.answer = Answer::Rejected(Rejection::NotFinite);
		journal.record(&a).unwrap();
		journal.record(&b).unwrap();
		// A half-written record from a crash is dropped on open; whole ones stay.
		std::fs::write(dir.path().join("j/7-0-00.tmp"), b"partial").unwrap();
		let journal = Journal::open(dir.path().join("j")).unwrap();
		assert!(!dir.path().join("j/7-0-00.tmp").exists());
		assert_eq!(journal.get(1, 1, &[3; 32]).unwrap(), Some(a));
		assert_eq!(journal.get(2, 1, &[3; 32]).unwrap(), Some(b.clone()));
		assert_eq!(journal.get(1, 0, &[3; 32]).unwrap(), None);
		assert_eq!(journal.get(1, 1, &[4; 32]).unwrap(), None);
		assert_eq!(journal.prune(20).unwrap(), 1);
		assert_eq!(journal.get(1, 1, &[3; 32]).unwrap(), None);
		assert_eq!(journal.get(2, 1, &[3; 32]).unwrap(), Some(b));
	}

	#[test]
	fn a_corrupt_record_is_an_error_not_a_panic() {
		let dir = tempfile::tempdir().unwrap();
		let journal = Journal::open(dir.path()).unwrap();
		std::fs::write(journal.path(5, 0, &[1; 32]), b"\xff").unwrap();
		assert!(journal.get(5, 0, &[1; 32]).is_err());
	}
}
