//! `opg-engine`: manage a model store and run models from the command line; also the check
//! binary of the golden-hash test and the engine's benchmark driver.

use clap::{Parser, Subcommand, ValueEnum};
use codec::Encode;
use opg_engine::{
	hash::{from_hex, to_hex},
	output_hash, testmodels, ExecutionProfile, Model, ModelStore, Value,
};
use std::{
	path::{Path, PathBuf},
	process::ExitCode,
	time::Instant,
};

#[derive(Parser)]
#[command(name = "opg-engine", version, about = "OPG chain inference engine")]
struct Cli {
	/// Worker threads for the kernels (default: all cores, or RAYON_NUM_THREADS).
	#[arg(long, global = true)]
	threads: Option<usize>,
	#[command(subcommand)]
	command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
	None,
	Mean,
	Cls,
}

#[derive(Subcommand)]
enum Command {
	/// Write the seeded test models (ONNX MLP, tiny Llama in safetensors and GGUF) as bundles.
	MakeTestModels {
		out: PathBuf,
		/// Also the larger benchmark-only Llama (17 M parameters) in both formats.
		#[arg(long)]
		bench: bool,
	},
	/// Make a bundle of a sentence-transformers BERT directory (e.g. all-MiniLM-L6-v2).
	BundleSentenceBert { model_dir: PathBuf, out: PathBuf },
	/// Make a bundle of an `.onnx` file, a Hugging Face directory (BERT encoder or Llama), or a
	/// `.gguf` file; prints the model id.
	Bundle {
		source: PathBuf,
		out: PathBuf,
		/// Longest input of a sentence encoder, in tokens.
		#[arg(long, default_value_t = 256)]
		max_tokens: u32,
		/// Tokens a language model generates per request.
		#[arg(long, default_value_t = 32)]
		max_new_tokens: u32,
		/// How an ONNX text model (an `.onnx` with a `tokenizer.json`) pools its first output's
		/// token states: none (the graph's outputs), mean or cls.
		#[arg(long, value_enum, default_value = "none")]
		pooling: PoolingArg,
		/// Do not L2-normalise a pooled embedding.
		#[arg(long)]
		no_normalize: bool,
	},
	/// Import a bundle directory, tarball or http(s) URL into a store; prints the model id.
	Import {
		#[arg(long)]
		store: PathBuf,
		source: String,
		/// Refuse imports larger than this many bytes.
		#[arg(long, default_value_t = 8 << 30)]
		max_bytes: u64,
	},
	/// Re-hash every file of a stored model against its id.
	Verify {
		#[arg(long)]
		store: PathBuf,
		id: String,
	},
	/// Run a stored model on one input: `--text`, `--tokens 1,2,3`, `--input-json FILE` (named
	/// tensors: `{"input_ids": {"dtype": "i64", "shape": [1, 12], "data": [101, ...]}}`) or
	/// `--input-hex` (SCALE `Value`); prints the output hash and the output (with `--json`: the
	/// output as JSON named tensors on stdout, the hash on stderr).
	Run {
		#[arg(long)]
		store: PathBuf,
		id: String,
		/// `portable` (version 1), `portable-vN` or `fast`.
		#[arg(long, default_value = "portable")]
		profile: ExecutionProfile,
		#[arg(long, group = "input")]
		text: Option<String>,
		#[arg(long, group = "input", value_delimiter = ',')]
		tokens: Option<Vec<u32>>,
		#[arg(long, group = "input")]
		input_hex: Option<String>,
		#[arg(long, group = "input")]
		input_json: Option<PathBuf>,
		/// Print the output as JSON (named tensors; text as {"text": ...}, tokens as
		/// {"tokens": [...]}).
		#[arg(long)]
		json: bool,
	},
	/// Print the output hash of every test model on its fixed input (portable profile unless
	/// told otherwise).
	Golden {
		/// `portable` (version 1), `portable-vN` or `fast`.
		#[arg(long, default_value = "portable")]
		profile: ExecutionProfile,
		/// Directory written by `make-test-models`.
		models: PathBuf,
		/// A bundle made by `bundle-sentence-bert` of all-MiniLM-L6-v2.
		#[arg(long)]
		minilm: Option<PathBuf>,
	},
	/// Measure latency and throughput of the test models in both profiles (JSON lines).
	Bench {
		models: PathBuf,
		#[arg(long)]
		minilm: Option<PathBuf>,
		/// Timed runs per case (after one warm-up).
		#[arg(long, default_value_t = 20)]
		iters: usize,
		/// Only this profile (default: both).
		#[arg(long)]
		profile: Option<ExecutionProfile>,
		/// Also an ONNX bundle on a fixed input: `LABEL=BUNDLE_DIR,IO.json`, the input being the
		/// file's `inputs` (named tensors, as `engine/tests/scripts/*.py` write them).
		#[arg(long = "onnx", value_name = "LABEL=BUNDLE_DIR,IO.json")]
		onnx: Vec<String>,
		/// Only the `--onnx` cases, e.g. to profile one model.
		#[arg(long)]
		only_onnx: bool,
	},
}

fn main() -> ExitCode {
	let cli = Cli::parse();
	if let Err(e) = opg_engine::configure_threads(cli.threads) {
		eprintln!("error: cannot start the worker threads: {e}");
		return ExitCode::FAILURE;
	}
	match run(cli.command) {
		Ok(()) => ExitCode::SUCCESS,
		Err(e) => {
			eprintln!("error: {e}");
			ExitCode::FAILURE
		},
	}
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn parse_id(id: &str) -> AnyResult<[u8; 32]> {
	from_hex(id).ok_or_else(|| format!("{id:?} is not a model id (64 hex digits)").into())
}

fn run(command: Command) -> AnyResult<()> {
	match command {
		Command::MakeTestModels { out, bench } => {
			testmodels::write_all(&out)?;
			if bench {
				testmodels::write_bench_models(&out)?;
			}
			for name in [
				testmodels::ONNX_MLP,
				testmodels::ONNX_UNSUPPORTED,
				testmodels::TINY_LLAMA,
				testmodels::TINY_LLAMA_GGUF,
			] {
				let manifest = opg_engine::Manifest::from_json(&std::fs::read(out.join(name).join("manifest.json"))?)?;
				println!("{name} {}", to_hex(&manifest.id()));
			}
		},
		Command::BundleSentenceBert { model_dir, out } => {
			let manifest = testmodels::write_sentence_bert_bundle(&model_dir, &out)?;
			println!("{}", to_hex(&manifest.id()));
		},
		Command::Bundle { source, out, max_tokens, max_new_tokens, pooling, no_normalize } => {
			let pooling = match pooling {
				PoolingArg::None => opg_engine::Pooling::None,
				PoolingArg::Mean => opg_engine::Pooling::Mean,
				PoolingArg::Cls => opg_engine::Pooling::Cls,
			};
			let options =
				opg_engine::bundle::BundleOptions { max_tokens, max_new_tokens, pooling, normalize: !no_normalize };
			let manifest = opg_engine::bundle::bundle(&source, &out, &options)?;
			println!("{}", to_hex(&manifest.id()));
		},
		Command::Import { store, source, max_bytes } => {
			let store = ModelStore::open(store)?;
			let mut last = 0u64;
			let id = store.import(&source, max_bytes, &mut |done, total| {
				if done >= last + (16 << 20) || Some(done) == total {
					last = done;
					eprintln!("downloaded {done} of {} bytes", total.map_or("?".into(), |t| t.to_string()));
				}
			})?;
			println!("{}", to_hex(&id));
		},
		Command::Verify { store, id } => {
			let store = ModelStore::open(store)?;
			let manifest = store.verify(&parse_id(&id)?)?;
			println!("ok: {} files verified", manifest.files.len());
		},
		Command::Run { store, id, profile, text, tokens, input_hex, input_json, json } => {
			let store = ModelStore::open(store)?;
			let bundle = store.open_model(&parse_id(&id)?)?;
			let model = Model::load(&bundle, profile)?;
			let input = match (text, tokens, input_hex, input_json) {
				(Some(t), _, _, _) => Value::Text(t.into_bytes()),
				(_, Some(t), _, _) => Value::Tokens(t),
				(_, _, Some(h), _) => opg_engine::decode_input(&decode_hex(&h)?)?,
				(_, _, _, Some(path)) => read_input_json(&path)?,
				_ => return Err("give --text, --tokens, --input-json or --input-hex".into()),
			};
			let output = model.run(&input)?;
			if json {
				let unnamed = model.output_names().into_iter().next().unwrap_or_else(|| "output".into());
				println!("{}", opg_engine::value_json::value_to_json(&output, &unnamed));
				eprintln!("output_hash {}", to_hex(&output_hash(&output)));
			} else {
				println!("output_hash {}", to_hex(&output_hash(&output)));
				println!("output_hex {}", to_hex(&output.encode()));
			}
		},
		Command::Golden { profile, models, minilm } => golden(profile, &models, minilm.as_deref())?,
		Command::Bench { models, minilm, iters, profile, onnx, only_onnx } => {
			let extra = onnx.iter().map(|spec| bench_case(spec)).collect::<AnyResult<Vec<_>>>()?;
			bench(&models, minilm.as_deref(), iters, profile, &extra, only_onnx)?
		},
	}
	Ok(())
}

/// A `--input-json` file: named tensors, `{"text": ...}` or `{"tokens": [...]}`.
fn read_input_json(path: &Path) -> AnyResult<Value> {
	let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
	let json: serde_json::Value =
		serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
	Ok(opg_engine::value_json::value_from_json(&json).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn decode_hex(text: &str) -> AnyResult<Vec<u8>> {
	let text = text.strip_prefix("0x").unwrap_or(text);
	if text.len() % 2 != 0 {
		return Err("odd number of hex digits".into());
	}
	(0..text.len() / 2).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.into())).collect()
}

/// Load a bundle directory straight from disk (verifying it) for the check and bench commands.
fn load(dir: &Path, profile: ExecutionProfile) -> AnyResult<Model> {
	let scratch = tempfile::tempdir()?;
	let store = ModelStore::open(scratch.path())?;
	let id = store.import_dir(dir, u64::MAX)?;
	let bundle = store.open_model(&id)?;
	Ok(Model::load(&bundle, profile)?)
}

fn golden(p: ExecutionProfile, models: &Path, minilm: Option<&Path>) -> AnyResult<()> {
	let mut cases: Vec<(String, PathBuf, Value)> = vec![
		("onnx-mlp".into(), models.join(testmodels::ONNX_MLP), testmodels::golden_mlp_input()),
		("tiny-llama".into(), models.join(testmodels::TINY_LLAMA), testmodels::golden_llama_prompt()),
		("tiny-llama-gguf".into(), models.join(testmodels::TINY_LLAMA_GGUF), testmodels::golden_llama_prompt()),
		("bert-onnx".into(), models.join(testmodels::BERT_ONNX), testmodels::golden_bert_input()),
		("resnet-onnx".into(), models.join(testmodels::RESNET_ONNX), testmodels::golden_image()),
		("mobilenet-onnx".into(), models.join(testmodels::MOBILENET_ONNX), testmodels::golden_image()),
	];
	for (name, _) in testmodels::TORCH_EXPORTS {
		let input = if name.starts_with("bert") { testmodels::golden_bert_input() } else { testmodels::golden_image() };
		cases.push((name.into(), models.join(name), input));
	}
	if let Some(dir) = minilm {
		for (i, text) in testmodels::golden_texts().iter().enumerate() {
			cases.push((format!("minilm-{i}"), dir.to_path_buf(), Value::Text(text.as_bytes().to_vec())));
		}
	}
	for (name, dir, input) in cases {
		let model = load(&dir, p)?;
		let output = model.run(&input)?;
		println!("{name} model={} output={}", to_hex(&model.id), to_hex(&output_hash(&output)));
	}
	Ok(())
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
	samples.sort_by(|a, b| a.total_cmp(b));
	samples[samples.len() / 2]
}

fn time_runs(iters: usize, mut f: impl FnMut() -> AnyResult<()>) -> AnyResult<f64> {
	f()?;
	let mut samples = Vec::with_capacity(iters);
	for _ in 0..iters.max(1) {
		let start = Instant::now();
		f()?;
		samples.push(start.elapsed().as_secs_f64() * 1e3);
	}
	Ok(median_ms(samples))
}

/// The matmul shapes the benchmark models multiply (rows × depth × columns), timed on both
/// portable kernels: version 1's interleaved dot products and version 2's k-order outer
/// products.
fn bench_matmuls(iters: usize) -> AnyResult<()> {
	use opg_engine::{gemm, kernels};
	let shapes: [(&str, usize, usize, usize); 11] = [
		("minilm-17-qkv", 17, 384, 1152),
		("minilm-17-ffn-up", 17, 384, 1536),
		("minilm-17-ffn-down", 17, 1536, 384),
		("minilm-1024-qkv", 1024, 384, 1152),
		("minilm-1024-attn-out", 1024, 384, 384),
		("minilm-1024-ffn-up", 1024, 384, 1536),
		("minilm-1024-ffn-down", 1024, 1536, 384),
		("mlp-32-hidden", 32, 1024, 1024),
		("square-512", 512, 512, 512),
		("resnet18-stem", 12544, 147, 64),
		("resnet18-stage1", 3136, 576, 64),
	];
	let threads = rayon::current_num_threads();
	for (label, m, k, n) in shapes {
		let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 2000) as f32 - 1000.0) * 1e-3).collect();
		let w: Vec<f32> = (0..n * k).map(|i| ((i * 104_729 % 2000) as f32 - 1000.0) * 1e-3).collect();
		let (v1, v2) = (kernels::PackedRows::new(w.clone(), n, k), gemm::PackedPanels::new(&w, n, k));
		let flops = 2.0 * (m * k * n) as f64;
		let v1_ms = time_runs(iters, || {
			std::hint::black_box(kernels::matmul_packed(&a, m, &v1));
			Ok(())
		})?;
		let v2_ms = time_runs(iters, || {
			std::hint::black_box(gemm::matmul(&a, m, &v2));
			Ok(())
		})?;
		println!(
			"{{\"matmul\":\"{label}\",\"m\":{m},\"k\":{k},\"n\":{n},\"v1_ms\":{v1_ms:.4},\"v1_gflops\":{:.1},\"v2_ms\":{v2_ms:.4},\"v2_gflops\":{:.1},\"threads\":{threads}}}",
			flops / v1_ms / 1e6,
			flops / v2_ms / 1e6
		);
	}
	Ok(())
}

/// An extra benchmark model: its label, bundle directory and input.
struct BenchCase {
	label: String,
	bundle: PathBuf,
	input: Value,
	batch: usize,
}

/// `LABEL=BUNDLE_DIR,IO.json` of `bench --onnx`.
fn bench_case(spec: &str) -> AnyResult<BenchCase> {
	let bad = || format!("--onnx {spec}: expected LABEL=BUNDLE_DIR,IO.json");
	let (label, rest) = spec.split_once('=').ok_or_else(bad)?;
	let (bundle, io) = rest.split_once(',').ok_or_else(bad)?;
	let text = std::fs::read_to_string(io).map_err(|e| format!("cannot read {io}: {e}"))?;
	let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{io} is not JSON: {e}"))?;
	let inputs = json.get("inputs").ok_or_else(|| format!("{io} has no inputs"))?;
	let batch =
		inputs.as_object().and_then(|o| o.values().next()).and_then(|t| t.get("shape")?.get(0)?.as_u64()).unwrap_or(1)
			as usize;
	let input = opg_engine::value_json::value_from_json(inputs).map_err(|e| format!("{io}: {e}"))?;
	Ok(BenchCase { label: label.into(), bundle: bundle.into(), input, batch })
}

/// `[CLS]`, fixed pseudo-random WordPiece ids, `[SEP]` per sentence: the ids
/// `engine/reference/onnx_reference.py` feeds onnxruntime for the batched MiniLM row.
fn minilm_batch_ids(batch: usize, tokens: usize) -> Vec<Vec<u32>> {
	(0..batch)
		.map(|b| {
			let words = (0..tokens - 2).map(|i| 1000 + ((i * 7919 + b * 104_729) % 20_000) as u32);
			std::iter::once(101).chain(words).chain([102]).collect()
		})
		.collect()
}

fn bench(
	models: &Path,
	minilm: Option<&Path>,
	iters: usize,
	only: Option<ExecutionProfile>,
	extra: &[BenchCase],
	only_onnx: bool,
) -> AnyResult<()> {
	let threads = rayon::current_num_threads();
	println!(
		"{{\"kernel\":\"{}\",\"gemm_kernel\":\"{}\",\"threads\":{threads}}}",
		opg_engine::kernels::kernel_variant(),
		opg_engine::gemm::kernel_variant()
	);
	if !only_onnx {
		bench_matmuls(iters)?;
	}
	for profile in [ExecutionProfile::Portable, ExecutionProfile::portable(2), ExecutionProfile::Fast]
		.into_iter()
		.filter(|p| only.is_none_or(|o| o == *p))
	{
		let name = profile.to_string();
		if !only_onnx {
			bench_built_in(models, minilm, iters, profile)?;
		}
		for case in extra {
			let model = load(&case.bundle, profile)?;
			let ms = time_runs(iters.div_ceil(2).max(3), || model.run(&case.input).map(|_| ()).map_err(Into::into))?;
			println!(
				"{{\"model\":\"{}\",\"profile\":\"{name}\",\"batch\":{},\"median_ms\":{ms:.3},\"items_per_s\":{:.1},\"threads\":{threads}}}",
				case.label,
				case.batch,
				case.batch as f64 * 1e3 / ms
			);
		}
	}
	Ok(())
}

/// The seeded test models and MiniLM in `profile`.
fn bench_built_in(models: &Path, minilm: Option<&Path>, iters: usize, profile: ExecutionProfile) -> AnyResult<()> {
	let (threads, name) = (rayon::current_num_threads(), profile.to_string());
	// ONNX MLP, batch 32.
	let model = load(&models.join(testmodels::ONNX_MLP), profile)?;
	let batch = 32usize;
	let input = Value::F32 {
		shape: vec![batch as u32, testmodels::MLP_INPUT as u32],
		bits: (0..batch * testmodels::MLP_INPUT).map(|i| ((i % 97) as f32 / 97.0 - 0.5).to_bits()).collect(),
	};
	// Ten times the iterations: a run takes under a millisecond, where a few slow ones would
	// move the median (onnxruntime's side does the same).
	let ms = time_runs(iters * 10, || model.run(&input).map(|_| ()).map_err(Into::into))?;
	println!(
		"{{\"model\":\"onnx-mlp\",\"profile\":\"{name}\",\"batch\":{batch},\"median_ms\":{ms:.3},\"items_per_s\":{:.1},\"threads\":{threads}}}",
		batch as f64 * 1e3 / ms
	);
	// MiniLM: one sentence (17 tokens), and 8 sentences of 128 tokens as one batch; from
	// token ids, as onnxruntime is fed (tokenizing is not timed).
	if let Some(dir) = minilm {
		let model = load(dir, profile)?;
		let bert = model.as_bert().expect("a BERT bundle");
		let ids = bert.tokenize(testmodels::golden_texts()[0])?;
		let ms = time_runs(iters, || bert.embed_ids(&ids).map(|_| ()).map_err(Into::into))?;
		println!(
			"{{\"model\":\"minilm\",\"profile\":\"{name}\",\"batch\":1,\"tokens\":{},\"median_ms\":{ms:.3},\"items_per_s\":{:.1},\"threads\":{threads}}}",
			ids.len(),
			1e3 / ms
		);
		let batch = minilm_batch_ids(8, 128);
		let rows: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
		let ms = time_runs(iters.div_ceil(4).max(3), || bert.embed_batch(&rows).map(|_| ()).map_err(Into::into))?;
		println!(
			"{{\"model\":\"minilm-8x128\",\"profile\":\"{name}\",\"batch\":8,\"tokens\":128,\"median_ms\":{ms:.3},\"items_per_s\":{:.1},\"threads\":{threads}}}",
			8e3 / ms
		);
	}
	// Llama: generation vs teacher-forced verification of the same tokens, from a short
	// prompt (4 tokens) and from the 34-token golden prompt.
	let Value::Tokens(long_prompt) = testmodels::golden_llama_prompt() else { unreachable!() };
	let mut llamas = vec![
		("tiny-llama", testmodels::TINY_LLAMA, long_prompt.clone()),
		("tiny-llama", testmodels::TINY_LLAMA, long_prompt[..4].to_vec()),
		("tiny-llama-gguf", testmodels::TINY_LLAMA_GGUF, long_prompt[..4].to_vec()),
	];
	if models.join(testmodels::SMALL_LLAMA).is_dir() {
		llamas.push(("small-llama", testmodels::SMALL_LLAMA, long_prompt[..4].to_vec()));
		llamas.push(("small-llama-gguf", testmodels::SMALL_LLAMA_GGUF, long_prompt[..4].to_vec()));
	}
	for (label, dir, prompt) in llamas {
		let model = load(&models.join(dir), profile)?;
		let llama = model.as_llama().expect("a Llama bundle");
		let n = llama.max_new_tokens();
		let generated = llama.generate(&prompt, n)?;
		let gen_ms = time_runs(iters, || llama.generate(&prompt, n).map(|_| ()).map_err(Into::into))?;
		let ver_ms = time_runs(iters, || llama.verify(&prompt, &generated, 0.0).map(|_| ()).map_err(Into::into))?;
		println!(
			"{{\"model\":\"{label}\",\"profile\":\"{name}\",\"prompt_tokens\":{},\"new_tokens\":{n},\"generate_ms\":{gen_ms:.3},\"verify_ms\":{ver_ms:.3},\"verify_over_generate\":{:.3},\"tokens_per_s\":{:.1},\"threads\":{threads}}}",
			prompt.len(),
			ver_ms / gen_ms,
			n as f64 * 1e3 / gen_ms
		);
	}
	Ok(())
}
