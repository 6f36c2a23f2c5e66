//! blake2b-256, the hash the chain uses for model ids and commitments.

use blake2::{digest::consts::U32, Blake2b, Digest as _};
use std::{
	io::{self, Read, Write},
	path::Path,
};

use crate::error::{io_at, Result};

pub type Digest = [u8; 32];

pub fn blake2_256(data: &[u8]) -> Digest {
	Blake2b::<U32>::digest(data).into()
}

/// Streaming hasher for files and downloads.
#[derive(Default)]
pub struct Hasher(Blake2b<U32>);

impl Hasher {
	pub fn update(&mut self, data: &[u8]) {
		self.0.update(data)
	}
	pub fn finish(self) -> Digest {
		self.0.finalize().into()
	}
}

/// Stream `input` into `output` in 1 MiB chunks; returns the bytes copied and their hash.
pub fn copy_hashing(mut input: impl Read, mut output: impl Write) -> io::Result<(u64, Digest)> {
	let mut hasher = Hasher::default();
	let mut buf = vec![0u8; 1 << 20];
	let mut size = 0u64;
	loop {
		let n = input.read(&mut buf)?;
		if n == 0 {
			break;
		}
		size += n as u64;
		hasher.update(&buf[..n]);
		output.write_all(&buf[..n])?;
	}
	Ok((size, hasher.finish()))
}

/// Size and hash of a file.
pub fn blake2_file(path: &Path) -> Result<(u64, Digest)> {
	let file = std::fs::File::open(path).map_err(io_at(path))?;
	copy_hashing(file, io::sink()).map_err(io_at(path))
}

pub fn to_hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits, with or without `0x`.
pub fn from_hex(text: &str) -> Option<Digest> {
	let text = text.strip_prefix("0x").unwrap_or(text);
	if text.len() != 64 || !text.is_ascii() {
		return None;
	}
	let mut out = [0u8; 32];
	for (i, byte) in out.iter_mut().enumerate() {
		*byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
	}
	Some(out)
}
