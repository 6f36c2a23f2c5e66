//! The content-addressed store: imports from a directory, a tarball and an http URL; every byte
//! checked against the id; nothing half-imported ever looks valid.

mod common;

use opg_engine::{hash::to_hex, EngineError, Manifest, ModelStore};
use std::{
	fs,
	io::{Read, Write},
	net::TcpListener,
	path::Path,
};

fn mlp_bundle(dir: &Path) -> Manifest {
	opg_engine::testmodels::write_onnx_mlp(dir, None).expect("bundle written")
}

fn tarball(bundle: &Path, out: &Path, gzip: bool) {
	let file = fs::File::create(out).unwrap();
	let writer: Box<dyn Write> =
		if gzip { Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast())) } else { Box::new(file) };
	let mut builder = tar::Builder::new(writer);
	builder.append_dir_all("bundle", bundle).unwrap();
	builder.into_inner().unwrap().flush().unwrap();
}

fn entries(store: &Path) -> Vec<String> {
	let mut names: Vec<String> =
		fs::read_dir(store).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
	names.sort();
	names
}

#[test]
fn directory_import_is_content_addressed_and_verified() {
	let src = tempfile::tempdir().unwrap();
	let manifest = mlp_bundle(src.path());
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	let id = store.import_dir(src.path(), u64::MAX).unwrap();
	assert_eq!(id, manifest.id());
	assert_eq!(store.list().unwrap(), vec![id]);
	assert_eq!(entries(root.path()), vec![to_hex(&id)]);
	// Same content, another order and formatting of the JSON: same id.
	let mut reordered = manifest.clone();
	reordered.files.reverse();
	let compact = serde_json::to_string(&reordered).unwrap();
	assert_eq!(Manifest::from_json(compact.as_bytes()).unwrap().id(), id);
	// Importing twice is idempotent.
	assert_eq!(store.import_dir(src.path(), u64::MAX).unwrap(), id);
	let bundle = store.open_model(&id).unwrap();
	assert_eq!(bundle.manifest, manifest);
	// The canonical encoding round-trips.
	assert_eq!(Manifest::from_canonical(&manifest.canonical_encoding()).unwrap().id(), id);
}

#[test]
fn a_corrupt_or_wrong_sized_file_is_refused_and_nothing_is_stored() {
	let src = tempfile::tempdir().unwrap();
	mlp_bundle(src.path());
	let graph = src.path().join("model.onnx");
	let mut bytes = fs::read(&graph).unwrap();
	let len = bytes.len();
	bytes[len / 2] ^= 1;
	fs::write(&graph, &bytes).unwrap();
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	let err = store.import_dir(src.path(), u64::MAX).unwrap_err();
	assert!(matches!(err, EngineError::HashMismatch { ref path, .. } if path == "model.onnx"), "{err}");
	assert!(entries(root.path()).is_empty(), "no trace of the failed import");

	bytes.push(0);
	fs::write(&graph, &bytes).unwrap();
	let err = store.import_dir(src.path(), u64::MAX).unwrap_err();
	assert!(matches!(err, EngineError::SizeMismatch { .. }), "{err}");
	assert!(entries(root.path()).is_empty());
}

#[test]
fn manifests_with_unsafe_paths_or_bad_fields_are_refused() {
	let src = tempfile::tempdir().unwrap();
	let manifest = mlp_bundle(src.path());
	let json = manifest.to_json();
	for (from, to) in [("\"model.onnx\"", "\"../model.onnx\""), ("\"model.onnx\"", "\"/etc/passwd\"")] {
		let bad = json.replacen(from, to, 2);
		assert!(matches!(Manifest::from_json(bad.as_bytes()), Err(EngineError::UnsafePath(_))), "{bad}");
	}
	let unknown_field = json.replacen("\"files\"", "\"extra\": 1, \"files\"", 1);
	assert!(matches!(Manifest::from_json(unknown_field.as_bytes()), Err(EngineError::Manifest(_))));
	let unlisted = json.replacen("\"graph\": \"model.onnx\"", "\"graph\": \"other.onnx\"", 1);
	assert!(
		matches!(Manifest::from_json(unlisted.as_bytes()), Err(EngineError::Manifest(m)) if m.contains("not listed"))
	);
	assert!(matches!(Manifest::from_json(b"{}"), Err(EngineError::Manifest(_))));
	assert!(matches!(Manifest::from_json(&[0xff; 10]), Err(EngineError::Manifest(_))));
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	fs::write(src.path().join("manifest.json"), json.replacen("\"model.onnx\"", "\"../model.onnx\"", 2)).unwrap();
	assert!(matches!(store.import_dir(src.path(), u64::MAX), Err(EngineError::UnsafePath(_))));
}

#[test]
fn tarballs_plain_and_gzip_import_and_hostile_ones_are_refused() {
	let src = tempfile::tempdir().unwrap();
	let manifest = mlp_bundle(src.path());
	let work = tempfile::tempdir().unwrap();
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	for gzip in [false, true] {
		let tar_path = work.path().join(format!("bundle-{gzip}.tar"));
		tarball(src.path(), &tar_path, gzip);
		assert_eq!(store.import_tarball(&tar_path, u64::MAX).unwrap(), manifest.id());
	}
	// Size limit.
	let tar_path = work.path().join("bundle-false.tar");
	assert!(matches!(store.import_tarball(&tar_path, 1000), Err(EngineError::TooLarge { limit: 1000 })));
	// An entry escaping the bundle.
	let evil = work.path().join("evil.tar");
	{
		let mut builder = tar::Builder::new(fs::File::create(&evil).unwrap());
		let mut header = tar::Header::new_gnu();
		let data = b"owned";
		header.set_size(data.len() as u64);
		header.set_mode(0o644);
		header.set_entry_type(tar::EntryType::Regular);
		// Write the raw name so the tar crate does not refuse it on our behalf.
		header.as_old_mut().name[..9].copy_from_slice(b"../escape");
		header.set_cksum();
		builder.append(&header, &data[..]).unwrap();
		builder.finish().unwrap();
	}
	assert!(matches!(store.import_tarball(&evil, u64::MAX), Err(EngineError::UnsafePath(_))));
	assert!(!root.path().parent().unwrap().join("escape").exists());
	// Not a tarball at all.
	let junk = work.path().join("junk.tar");
	fs::write(&junk, vec![7u8; 4096]).unwrap();
	assert!(store.import_tarball(&junk, u64::MAX).is_err());
	assert_eq!(entries(root.path()), vec![to_hex(&manifest.id())]);
}

/// Serve `body` once per connection over plain HTTP on 127.0.0.1.
fn serve(body: Vec<u8>, connections: usize) -> String {
	let listener = TcpListener::bind("127.0.0.1:0").unwrap();
	let url = format!("http://{}/bundle.tar.gz", listener.local_addr().unwrap());
	std::thread::spawn(move || {
		for stream in listener.incoming().take(connections) {
			let mut stream = stream.unwrap();
			let mut request = [0u8; 4096];
			let _ = stream.read(&mut request);
			let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
			let _ = stream.write_all(head.as_bytes());
			let _ = stream.write_all(&body);
		}
	});
	url
}

#[test]
fn url_import_streams_reports_progress_and_enforces_the_limit() {
	let src = tempfile::tempdir().unwrap();
	let manifest = mlp_bundle(src.path());
	let work = tempfile::tempdir().unwrap();
	let tar_path = work.path().join("bundle.tar.gz");
	tarball(src.path(), &tar_path, true);
	let body = fs::read(&tar_path).unwrap();
	let size = body.len() as u64;
	let url = serve(body, 2);
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	let mut reports = Vec::new();
	let id = store.import_url(&url, u64::MAX, &mut |done, total| reports.push((done, total))).unwrap();
	assert_eq!(id, manifest.id());
	assert_eq!(reports.first(), Some(&(0, Some(size))));
	assert_eq!(reports.last(), Some(&(size, Some(size))));
	assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0));
	let err = store.import_url(&url, size - 1, &mut |_, _| {}).unwrap_err();
	assert!(matches!(err, EngineError::TooLarge { .. }), "{err}");
	// Nothing listens here any more.
	let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
	let err = store.import_url(&format!("http://{closed}/x"), u64::MAX, &mut |_, _| {}).unwrap_err();
	assert!(matches!(err, EngineError::Download { .. }), "{err}");
}

#[test]
fn tampering_after_import_is_caught_before_use_and_a_reimport_repairs_it() {
	let src = tempfile::tempdir().unwrap();
	let manifest = mlp_bundle(src.path());
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	let id = store.import_dir(src.path(), u64::MAX).unwrap();
	let stored = store.dir_of(&id).join("model.onnx");
	let mut bytes = fs::read(&stored).unwrap();
	bytes[100] ^= 0x80;
	fs::write(&stored, &bytes).unwrap();
	// A fresh process (or a forgotten cache) re-verifies before first use.
	let fresh = ModelStore::open(root.path()).unwrap();
	assert!(matches!(fresh.open_model(&id), Err(EngineError::Corrupt { .. })));
	assert_eq!(fresh.import_dir(src.path(), u64::MAX).unwrap(), manifest.id());
	fresh.forget_verified();
	assert!(fresh.open_model(&id).is_ok());
	assert!(matches!(fresh.open_model(&[9u8; 32]), Err(EngineError::UnknownModel(_))));
}

#[test]
fn an_interrupted_import_leaves_only_staging_that_the_next_open_removes() {
	let root = tempfile::tempdir().unwrap();
	// What a crash mid-import leaves: a staging directory with partial content.
	let staging = root.path().join(".staging-crashed");
	fs::create_dir_all(&staging).unwrap();
	fs::write(staging.join("model.onnx"), b"partial").unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	assert!(!staging.exists());
	assert!(store.list().unwrap().is_empty());
}

#[test]
fn onnx_outside_the_allowlist_is_refused_at_import_naming_the_operators() {
	let src = tempfile::tempdir().unwrap();
	opg_engine::testmodels::write_onnx_mlp(src.path(), Some("LSTM")).unwrap();
	let root = tempfile::tempdir().unwrap();
	let store = ModelStore::open(root.path()).unwrap();
	let err = store.import_dir(src.path(), u64::MAX).unwrap_err();
	assert!(matches!(&err, EngineError::UnsupportedOperators(ops) if ops == &vec!["LSTM".to_string()]), "{err}");
	assert!(err.to_string().contains("LSTM"));
	assert!(entries(root.path()).is_empty());
}

/// `bundle` makes the same bundle as the model's own writer from what an exporter leaves: an
/// `.onnx` file, a `.gguf` file, a Hugging Face Llama directory; and says what is wrong with
/// anything else.
#[test]
fn bundles_are_made_from_exported_files() {
	use opg_engine::{
		bundle::{bundle, BundleOptions},
		testmodels, Architecture,
	};
	let dir = tempfile::tempdir().unwrap();
	let options = BundleOptions { max_new_tokens: testmodels::TINY_LLAMA_NEW_TOKENS, ..Default::default() };

	let mlp = mlp_bundle(&dir.path().join("mlp"));
	let from_onnx = bundle(&dir.path().join("mlp/model.onnx"), &dir.path().join("out-onnx"), &options).unwrap();
	assert_eq!(to_hex(&from_onnx.id()), to_hex(&mlp.id()));

	let gguf = testmodels::write_tiny_llama_gguf(&dir.path().join("gguf")).unwrap();
	let from_gguf = bundle(&dir.path().join("gguf/model.gguf"), &dir.path().join("out-gguf"), &options).unwrap();
	assert_eq!(to_hex(&from_gguf.id()), to_hex(&gguf.id()));

	// A Hugging Face directory says its architecture in config.json's model_type.
	let hf = dir.path().join("hf-llama");
	let llama = testmodels::write_tiny_llama_safetensors(&hf).unwrap();
	let error = bundle(&hf, &dir.path().join("out-untyped"), &options).unwrap_err().to_string();
	assert!(error.contains("model_type \"missing\""), "{error}");
	let mut config: serde_json::Value = serde_json::from_slice(&fs::read(hf.join("config.json")).unwrap()).unwrap();
	config["model_type"] = "llama".into();
	fs::write(hf.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
	let from_hf = bundle(&hf, &dir.path().join("out-hf"), &options).unwrap();
	assert!(matches!(from_hf.architecture, Architecture::LlamaCausalLm { config: Some(_), max_new_tokens: 24, .. }));
	assert_eq!(
		from_hf.file("model.safetensors").map(|f| f.blake2_256),
		llama.file("model.safetensors").map(|f| f.blake2_256)
	);

	config["model_type"] = "gpt2".into();
	fs::write(hf.join("config.json"), serde_json::to_vec(&config).unwrap()).unwrap();
	let error = bundle(&hf, &dir.path().join("out-gpt2"), &options).unwrap_err().to_string();
	assert!(error.contains("model_type \"gpt2\" is not one the engine runs"), "{error}");
	fs::write(dir.path().join("weights.bin"), b"?").unwrap();
	let error = bundle(&dir.path().join("weights.bin"), &dir.path().join("out-bin"), &options).unwrap_err().to_string();
	assert!(error.contains("is not an .onnx or .gguf file"), "{error}");
	// An ONNX graph with an operator outside the allowlist is refused when bundled.
	fs::write(dir.path().join("lstm.onnx"), testmodels::onnx_mlp_bytes(Some("LSTM"))).unwrap();
	let error = bundle(&dir.path().join("lstm.onnx"), &dir.path().join("out-lstm"), &options).unwrap_err().to_string();
	assert!(error.contains("LSTM"), "{error}");
}
