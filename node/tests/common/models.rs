//! The demo models as bundles and tarballs, served over HTTP on 127.0.0.1 the way a model owner
//! publishes them, and their answers computed by the engine on its own.

use opg_engine::{testmodels, Answer, ExecutionProfile, Model, ModelStore};
use opg_primitives::ModelId;
use std::{
	io::{BufRead, BufReader, Write},
	net::{TcpListener, TcpStream},
	path::{Path, PathBuf},
};

/// A bundle directory, the tarball made of it, and its id.
pub struct Bundle {
	pub dir: PathBuf,
	pub tarball: PathBuf,
	pub id: ModelId,
}

fn tar_dir(dir: &Path, out: &Path) {
	let mut builder = tar::Builder::new(std::fs::File::create(out).expect("tarball file"));
	builder.append_dir_all(".", dir).expect("bundle archived");
	builder.finish().expect("tarball written");
}

fn bundle(root: &Path, name: &str, write: impl FnOnce(&Path) -> opg_engine::Manifest) -> Bundle {
	let dir = root.join(name);
	let manifest = write(&dir);
	let tarball = root.join(format!("{name}.tar"));
	tar_dir(&dir, &tarball);
	Bundle { dir, tarball, id: sp_core::H256(manifest.id()) }
}

/// The published all-MiniLM-L6-v2 files (see `testmodels::minilm_source`).
pub fn minilm_source() -> PathBuf {
	testmodels::minilm_source().unwrap_or_else(|e| panic!("{e}"))
}

pub fn onnx_mlp(root: &Path) -> Bundle {
	bundle(root, testmodels::ONNX_MLP, |d| testmodels::write_onnx_mlp(d, None).expect("MLP written"))
}

pub fn tiny_llama(root: &Path) -> Bundle {
	bundle(root, testmodels::TINY_LLAMA, |d| testmodels::write_tiny_llama_safetensors(d).expect("Llama written"))
}

pub fn tiny_llama_gguf(root: &Path) -> Bundle {
	bundle(root, testmodels::TINY_LLAMA_GGUF, |d| testmodels::write_tiny_llama_gguf(d).expect("GGUF written"))
}

/// A tarball of `bundle` with one byte of its largest file changed and its manifest kept: what a
/// compromised or broken mirror serves under the model's URI.
pub fn corrupted_tarball(bundle: &Bundle, out: &Path) {
	let copy = out.with_extension("dir");
	std::fs::create_dir_all(&copy).expect("dir");
	let mut largest: Option<(u64, PathBuf)> = None;
	for entry in std::fs::read_dir(&bundle.dir).expect("bundle dir").flatten() {
		let to = copy.join(entry.file_name());
		std::fs::copy(entry.path(), &to).expect("copy");
		let size = entry.metadata().expect("metadata").len();
		if largest.as_ref().is_none_or(|(s, _)| size > *s) {
			largest = Some((size, to));
		}
	}
	let (size, victim) = largest.expect("a bundle has files");
	let mut bytes = std::fs::read(&victim).expect("read");
	bytes[(size / 2) as usize] ^= 0x01;
	std::fs::write(&victim, bytes).expect("write");
	tar_dir(&copy, out);
}

pub fn minilm(root: &Path) -> Bundle {
	bundle(root, testmodels::MINILM, |d| {
		testmodels::write_sentence_bert_bundle(&minilm_source(), d).expect("MiniLM bundled")
	})
}

/// What the engine answers on its own for `input`, outside any node.
pub fn engine_answer(bundle: &Bundle, profile: ExecutionProfile, input: &[u8]) -> Answer {
	let store_dir = tempfile::tempdir().expect("temp dir");
	let store = ModelStore::open(store_dir.path()).expect("store opens");
	let id = store.import_dir(&bundle.dir, u64::MAX).expect("bundle imports");
	let model = Model::load(&store.open_model(&id).expect("verified"), profile).expect("model loads");
	model.answer(input).expect("the model runs")
}

/// A static file server on 127.0.0.1: `GET /<name>` serves `<root>/<name>` as it is on disk at
/// that moment (so a test can swap a file for a corrupted copy).
pub struct FileServer {
	pub port: u16,
}

impl FileServer {
	pub fn start(root: &Path) -> FileServer {
		let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
		let port = listener.local_addr().expect("address").port();
		let root = root.to_path_buf();
		std::thread::spawn(move || {
			for stream in listener.incoming().flatten() {
				let root = root.clone();
				std::thread::spawn(move || serve(stream, &root));
			}
		});
		FileServer { port }
	}

	pub fn url(&self, name: &str) -> String {
		format!("http://127.0.0.1:{}/{name}", self.port)
	}
}

fn serve(mut stream: TcpStream, root: &Path) {
	let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
	let mut request_line = String::new();
	if reader.read_line(&mut request_line).is_err() {
		return;
	}
	loop {
		let mut header = String::new();
		match reader.read_line(&mut header) {
			Ok(0) | Err(_) => break,
			Ok(_) if header == "\r\n" || header == "\n" => break,
			Ok(_) => {},
		}
	}
	let name = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
	let body = (!name.contains("..")).then(|| std::fs::read(root.join(&name)).ok()).flatten();
	let _ = match body {
		Some(body) => stream
			.write_all(
				format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes(),
			)
			.and_then(|_| stream.write_all(&body)),
		None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
	};
}
