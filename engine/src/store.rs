//! The content-addressed model store: `<root>/<hex id>/{manifest.json, files…}`.
//!
//! Imports are staged in `<root>/.staging-*` and moved into place with one `rename`, so a crash
//! leaves at most a staging directory (removed on the next open), never a half-written model
//! under its id. Every byte is checked against the manifest while it is copied, and again, once
//! per process, before a model is first used.

use std::{
	collections::HashSet,
	fs::{self, File},
	io::{self, Read, Write},
	path::{Path, PathBuf},
	sync::Mutex,
};

use crate::{
	error::{io_at, EngineError, Result},
	hash::{blake2_file, copy_hashing, to_hex, Digest},
	manifest::{check_path, Manifest, MANIFEST_FILE, MAX_FILES, MAX_MANIFEST_BYTES},
};

const STAGING_PREFIX: &str = ".staging-";

/// Progress of a download: bytes so far and, when the server says, the total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// A model whose every file was checked against its id.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
	pub id: Digest,
	pub dir: PathBuf,
	pub manifest: Manifest,
}

impl VerifiedBundle {
	pub fn path(&self, file: &str) -> PathBuf {
		self.dir.join(file)
	}
}

pub struct ModelStore {
	root: PathBuf,
	verified: Mutex<HashSet<Digest>>,
}

impl ModelStore {
	/// Open (creating if needed) a store, removing staging left by an interrupted import.
	pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
		let root = root.into();
		fs::create_dir_all(&root).map_err(io_at(&root))?;
		for entry in fs::read_dir(&root).map_err(io_at(&root))?.flatten() {
			if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
				let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
			}
		}
		Ok(Self { root, verified: Mutex::new(HashSet::new()) })
	}

	pub fn dir_of(&self, id: &Digest) -> PathBuf {
		self.root.join(to_hex(id))
	}

	pub fn contains(&self, id: &Digest) -> bool {
		self.dir_of(id).join(MANIFEST_FILE).is_file()
	}

	/// Ids of every model in the store (not verified).
	pub fn list(&self) -> Result<Vec<Digest>> {
		let mut ids = Vec::new();
		for entry in fs::read_dir(&self.root).map_err(io_at(&self.root))?.flatten() {
			if let Some(id) = crate::hash::from_hex(&entry.file_name().to_string_lossy()) {
				ids.push(id);
			}
		}
		ids.sort();
		Ok(ids)
	}

	/// Import a bundle directory (its `manifest.json` and the files it lists), copying at most
	/// `max_bytes` bytes of files.
	pub fn import_dir(&self, src: &Path, max_bytes: u64) -> Result<Digest> {
		let manifest = read_manifest(src)?;
		let id = manifest.id();
		if self.contains(&id) && self.verify(&id).is_ok() {
			self.verified.lock().expect("not poisoned").insert(id);
			return Ok(id);
		}
		let staging = self.staging_dir()?;
		let mut total = 0u64;
		for entry in &manifest.files {
			let from = src.join(&entry.path);
			let to = staging.path().join(&entry.path);
			if let Some(parent) = to.parent() {
				fs::create_dir_all(parent).map_err(io_at(parent))?;
			}
			let meta = fs::symlink_metadata(&from).map_err(io_at(&from))?;
			if !meta.is_file() {
				return Err(EngineError::Manifest(format!("{:?} is not a regular file", entry.path)));
			}
			total = total.saturating_add(meta.len());
			if total > max_bytes {
				return Err(EngineError::TooLarge { limit: max_bytes });
			}
			let input = File::open(&from).map_err(io_at(&from))?;
			let (size, hash) = copy_synced(input, &to, entry.size)?;
			check_entry(entry, size, hash)?;
		}
		// Format checks (e.g. the ONNX allowlist) run before the model becomes visible.
		crate::check_bundle(staging.path(), &manifest)?;
		let manifest_path = staging.path().join(MANIFEST_FILE);
		write_synced(&manifest_path, manifest.to_json().as_bytes())?;
		self.commit(staging, &id)?;
		self.verified.lock().expect("not poisoned").insert(id);
		Ok(id)
	}

	/// Import a tar archive (optionally gzip-compressed) holding a bundle at its root or in its
	/// single top-level directory.
	pub fn import_tarball(&self, path: &Path, max_bytes: u64) -> Result<Digest> {
		let file = File::open(path).map_err(io_at(path))?;
		let unpacked = self.staging_dir()?;
		unpack_tar(file, unpacked.path(), max_bytes).map_err(|e| match e {
			EngineError::Io { source, .. } if source.kind() == io::ErrorKind::InvalidData => {
				EngineError::Manifest(format!("{}: not a valid tar archive: {source}", path.display()))
			},
			other => other,
		})?;
		let bundle_root = find_bundle_root(unpacked.path())?;
		self.import_dir(&bundle_root, max_bytes)
	}

	/// Import from wherever `source` points: an http(s) URL, a bundle directory, or a tarball.
	pub fn import(&self, source: &str, max_bytes: u64, progress: Progress<'_>) -> Result<Digest> {
		if source.starts_with("http://") || source.starts_with("https://") {
			self.import_url(source, max_bytes, progress)
		} else if Path::new(source).is_dir() {
			self.import_dir(Path::new(source), max_bytes)
		} else {
			self.import_tarball(Path::new(source), max_bytes)
		}
	}

	/// Download a bundle tarball over http(s), streaming it to disk; stops as soon as it exceeds
	/// `max_bytes`.
	pub fn import_url(&self, url: &str, max_bytes: u64, progress: Progress<'_>) -> Result<Digest> {
		let fail = |reason: String| EngineError::Download { url: url.to_string(), reason };
		let agent: ureq::Agent = ureq::Agent::config_builder()
			.timeout_global(Some(std::time::Duration::from_secs(3600)))
			.timeout_connect(Some(std::time::Duration::from_secs(30)))
			.build()
			.into();
		let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
		let total = response.body().content_length();
		if total.is_some_and(|t| t > max_bytes) {
			return Err(EngineError::TooLarge { limit: max_bytes });
		}
		let download = self.staging_dir()?;
		let archive = download.path().join("bundle.tar");
		let mut out = File::create(&archive).map_err(io_at(&archive))?;
		let mut reader = response.into_body().into_reader();
		let mut buf = vec![0u8; 256 * 1024];
		let mut done = 0u64;
		progress(0, total);
		loop {
			let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
			if n == 0 {
				break;
			}
			done += n as u64;
			if done > max_bytes {
				return Err(EngineError::TooLarge { limit: max_bytes });
			}
			out.write_all(&buf[..n]).map_err(io_at(&archive))?;
			progress(done, total);
		}
		out.sync_all().map_err(io_at(&archive))?;
		drop(out);
		self.import_tarball(&archive, max_bytes)
	}

	/// Re-hash every file of a stored model against its id.
	pub fn verify(&self, id: &Digest) -> Result<Manifest> {
		let dir = self.dir_of(id);
		if !dir.join(MANIFEST_FILE).is_file() {
			return Err(EngineError::UnknownModel(to_hex(id)));
		}
		let corrupt = |reason: String| EngineError::Corrupt { id: to_hex(id), reason };
		let manifest = read_manifest(&dir).map_err(|e| corrupt(e.to_string()))?;
		if manifest.id() != *id {
			return Err(corrupt("the manifest does not hash to the id".into()));
		}
		for entry in &manifest.files {
			let (size, hash) = blake2_file(&dir.join(&entry.path)).map_err(|e| corrupt(e.to_string()))?;
			check_entry(entry, size, hash).map_err(|e| corrupt(e.to_string()))?;
		}
		Ok(manifest)
	}

	/// A model ready to load: verified in full the first time it is opened by this process.
	pub fn open_model(&self, id: &Digest) -> Result<VerifiedBundle> {
		let already = self.verified.lock().expect("not poisoned").contains(id);
		let manifest = if already { read_manifest(&self.dir_of(id))? } else { self.verify(id)? };
		self.verified.lock().expect("not poisoned").insert(*id);
		Ok(VerifiedBundle { id: *id, dir: self.dir_of(id), manifest })
	}

	/// Forget that models were verified, so the next `open_model` re-hashes them.
	pub fn forget_verified(&self) {
		self.verified.lock().expect("not poisoned").clear();
	}

	fn staging_dir(&self) -> Result<tempfile::TempDir> {
		tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(&self.root).map_err(io_at(&self.root))
	}

	/// Move a fully written and synced staging directory into place under its id.
	fn commit(&self, staging: tempfile::TempDir, id: &Digest) -> Result<()> {
		let target = self.dir_of(id);
		if target.exists() {
			// Present but failed verification: replace it.
			let trash = self.staging_dir()?;
			fs::rename(&target, trash.path().join("old")).map_err(io_at(&target))?;
		}
		let staged = staging.keep();
		if let Err(e) = fs::rename(&staged, &target) {
			let _ = fs::remove_dir_all(&staged);
			return Err(EngineError::Io { path: target, source: e });
		}
		if let Ok(dir) = File::open(&self.root) {
			let _ = dir.sync_all();
		}
		Ok(())
	}
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
	let path = dir.join(MANIFEST_FILE);
	let meta = fs::metadata(&path).map_err(io_at(&path))?;
	if meta.len() > MAX_MANIFEST_BYTES {
		return Err(EngineError::Manifest(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
	}
	Manifest::from_json(&fs::read(&path).map_err(io_at(&path))?)
}

fn check_entry(entry: &crate::manifest::FileEntry, size: u64, hash: Digest) -> Result<()> {
	if size != entry.size {
		return Err(EngineError::SizeMismatch { path: entry.path.clone(), expected: entry.size, actual: size });
	}
	if hash != entry.blake2_256 {
		return Err(EngineError::HashMismatch {
			path: entry.path.clone(),
			expected: to_hex(&entry.blake2_256),
			actual: to_hex(&hash),
		});
	}
	Ok(())
}

/// Copy `input` to `to` (synced), hashing; stops one byte past `expected` so an oversize file
/// cannot fill the disk.
fn copy_synced(input: impl Read, to: &Path, expected: u64) -> Result<(u64, Digest)> {
	let mut out = File::create(to).map_err(io_at(to))?;
	let copied = copy_hashing(input.take(expected.saturating_add(1)), &mut out).map_err(io_at(to))?;
	out.sync_all().map_err(io_at(to))?;
	Ok(copied)
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
	let mut file = File::create(path).map_err(io_at(path))?;
	file.write_all(data).map_err(io_at(path))?;
	file.sync_all().map_err(io_at(path))
}

/// Unpack regular files and directories only, refusing unsafe paths and anything past the limit.
fn unpack_tar(file: File, into: &Path, max_bytes: u64) -> Result<()> {
	let mut head = [0u8; 2];
	let mut peek = io::BufReader::new(file);
	let gz = {
		use io::BufRead;
		let buf = peek.fill_buf().map_err(io_at(into))?;
		head[..buf.len().min(2)].copy_from_slice(&buf[..buf.len().min(2)]);
		head == [0x1f, 0x8b]
	};
	let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(peek)) } else { Box::new(peek) };
	let mut archive = tar::Archive::new(reader);
	let mut total = 0u64;
	let mut count = 0usize;
	for entry in archive.entries().map_err(io_at(into))? {
		let mut entry = entry.map_err(io_at(into))?;
		let raw = entry.path().map_err(io_at(into))?.to_string_lossy().into_owned();
		let rel = raw.trim_start_matches("./").trim_end_matches('/');
		if rel.is_empty() {
			continue;
		}
		check_path(rel).or_else(|e| {
			if rel == MANIFEST_FILE || rel.ends_with("/manifest.json") {
				Ok(())
			} else {
				Err(e)
			}
		})?;
		let dest = into.join(rel);
		match entry.header().entry_type() {
			tar::EntryType::Directory => fs::create_dir_all(&dest).map_err(io_at(&dest))?,
			tar::EntryType::Regular => {
				count += 1;
				if count > MAX_FILES + 1 {
					return Err(EngineError::Manifest(format!("archive holds more than {MAX_FILES} files")));
				}
				let size = entry.header().size().map_err(io_at(&dest))?;
				total = total.saturating_add(size);
				if total > max_bytes {
					return Err(EngineError::TooLarge { limit: max_bytes });
				}
				if let Some(parent) = dest.parent() {
					fs::create_dir_all(parent).map_err(io_at(parent))?;
				}
				let mut out = File::create(&dest).map_err(io_at(&dest))?;
				io::copy(&mut (&mut entry).take(size), &mut out).map_err(io_at(&dest))?;
			},
			other => return Err(EngineError::UnsafePath(format!("{rel} (tar entry type {other:?})"))),
		}
	}
	Ok(())
}

/// The bundle is at the archive root, or inside its only top-level directory.
fn find_bundle_root(dir: &Path) -> Result<PathBuf> {
	if dir.join(MANIFEST_FILE).is_file() {
		return Ok(dir.to_path_buf());
	}
	let entries: Vec<_> = fs::read_dir(dir).map_err(io_at(dir))?.flatten().collect();
	if let [only] = entries.as_slice() {
		if only.path().join(MANIFEST_FILE).is_file() {
			return Ok(only.path());
		}
	}
	Err(EngineError::Manifest(format!("the archive has no {MANIFEST_FILE} at its root")))
}
