//! BERT-family sentence embeddings: WordPiece tokens → encoder → mean pooling → L2 normalisation,
//! as sentence-transformers computes them for models such as all-MiniLM-L6-v2.

use candle_core::{Device, Tensor};
use serde::Deserialize;
use std::path::Path;

use super::{read_json, text::TextTokenizer, Weights};
use crate::{
	error::{EngineError, Result},
	gemm,
	kernels::{self, Activation, Polynomials},
	ops::{host, Kernels, Linear, Norm, Ops},
	team,
};
use opg_primitives::inference::ExecutionProfile;

/// The fields of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
	pub vocab_size: usize,
	pub hidden_size: usize,
	pub num_hidden_layers: usize,
	pub num_attention_heads: usize,
	pub intermediate_size: usize,
	pub max_position_embeddings: usize,
	#[serde(default = "default_type_vocab")]
	pub type_vocab_size: usize,
	#[serde(default = "default_eps")]
	pub layer_norm_eps: f64,
	#[serde(default = "default_act")]
	pub hidden_act: String,
}

fn default_type_vocab() -> usize {
	2
}
fn default_eps() -> f64 {
	1e-12
}
fn default_act() -> String {
	"gelu".into()
}

struct Layer {
	query: Linear,
	key: Linear,
	value: Linear,
	/// Q, K and V as one layer, where their weights are dense panels (portable v2, fast).
	qkv: Option<Linear>,
	attn_out: Linear,
	attn_norm: Norm,
	intermediate: Linear,
	output: Linear,
	out_norm: Norm,
}

pub struct BertEmbedder {
	ops: Ops,
	config: BertConfig,
	tokenizer: TextTokenizer,
	normalize: bool,
	word: Tensor,
	position: Tensor,
	token_type: Tensor,
	embed_norm: Norm,
	layers: Vec<Layer>,
}

impl BertEmbedder {
	pub fn load(
		profile: ExecutionProfile,
		weights: &Path,
		config: &Path,
		tokenizer: &Path,
		max_tokens: u32,
		normalize: bool,
	) -> Result<Self> {
		let config: BertConfig = read_json(config)?;
		if config.hidden_act != "gelu" {
			return Err(EngineError::Model(format!("unsupported activation {:?}", config.hidden_act)));
		}
		let (h, heads) = (config.hidden_size, config.num_attention_heads);
		if heads == 0 || h % heads != 0 || config.num_hidden_layers > 128 || h > 16384 {
			return Err(EngineError::Model("inconsistent BERT dimensions".into()));
		}
		let tokenizer = TextTokenizer::load(tokenizer, (max_tokens as usize).min(config.max_position_embeddings))?;

		let mut w = Weights::new(candle_core::safetensors::load(weights, &Device::Cpu)?);
		if !w.contains("embeddings.word_embeddings.weight") {
			w.set_prefix("bert.");
		}
		let eps = config.layer_norm_eps as f32;
		let kernels = Kernels::for_profile(profile)?;
		let linear = |name: &str, out: usize, inp: usize| -> Result<Linear> {
			Linear::new(
				kernels,
				w.get(&format!("{name}.weight"), &[out, inp])?,
				Some(w.get(&format!("{name}.bias"), &[out])?),
			)
		};
		let norm = |name: &str| -> Result<Norm> {
			Norm::new(w.get(&format!("{name}.weight"), &[h])?, Some(w.get(&format!("{name}.bias"), &[h])?), eps)
		};
		let mut layers = Vec::with_capacity(config.num_hidden_layers);
		for i in 0..config.num_hidden_layers {
			let p = format!("encoder.layer.{i}");
			let query = linear(&format!("{p}.attention.self.query"), h, h)?;
			let key = linear(&format!("{p}.attention.self.key"), h, h)?;
			let value = linear(&format!("{p}.attention.self.value"), h, h)?;
			layers.push(Layer {
				qkv: Linear::concat(&[&query, &key, &value])?,
				query,
				key,
				value,
				attn_out: linear(&format!("{p}.attention.output.dense"), h, h)?,
				attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
				intermediate: linear(&format!("{p}.intermediate.dense"), config.intermediate_size, h)?,
				output: linear(&format!("{p}.output.dense"), h, config.intermediate_size)?,
				out_norm: norm(&format!("{p}.output.LayerNorm"))?,
			});
		}
		Ok(Self {
			ops: Ops::new(profile)?,
			word: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
			position: w.get("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?,
			token_type: w.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?,
			embed_norm: norm("embeddings.LayerNorm")?,
			layers,
			config,
			tokenizer,
			normalize,
		})
	}

	/// WordPiece ids with `[CLS]`/`[SEP]`, refusing empty and over-long text.
	pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
		let ids = self.tokenizer.encode(text)?.ids;
		if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
			return Err(EngineError::Model(format!("tokenizer produced id {bad} outside the vocabulary")));
		}
		Ok(ids)
	}

	/// The sentence embedding of `text`: `[hidden]`.
	pub fn embed(&self, text: &str) -> Result<Tensor> {
		self.embed_ids(&self.tokenize(text)?)
	}

	/// The sentence embedding of token ids from [`Self::tokenize`]: `[hidden]`.
	pub fn embed_ids(&self, ids: &[u32]) -> Result<Tensor> {
		self.ops.mean_pool(&self.encode(ids)?, self.normalize)
	}

	/// The embeddings of sentences of one length, encoded as one batch: `[batch, hidden]`, each
	/// row the bits [`Self::embed_ids`] gives that sentence alone.
	pub fn embed_batch(&self, batch: &[&[u32]]) -> Result<Tensor> {
		let s = batch.first().map_or(0, |ids| ids.len());
		if s == 0 || batch.iter().any(|ids| ids.len() != s) {
			return Err(EngineError::Model("a batch holds non-empty sentences of one length".into()));
		}
		let hidden = self.encode_batch(batch)?;
		let pooled = (0..batch.len())
			.map(|i| self.ops.mean_pool(&hidden.narrow(0, i * s, s)?, self.normalize))
			.collect::<Result<Vec<_>>>()?;
		Ok(Tensor::stack(&pooled, 0)?)
	}

	/// Token states `[tokens, hidden]` of the last layer.
	pub fn encode(&self, ids: &[u32]) -> Result<Tensor> {
		self.encode_batch(&[ids])
	}

	/// Token states `[batch · tokens, hidden]` of the last layer, for sentences of one length.
	fn encode_batch(&self, batch: &[&[u32]]) -> Result<Tensor> {
		let s = batch.first().map_or(0, |ids| ids.len());
		if let Some(bad) = batch.iter().flat_map(|ids| ids.iter()).find(|&&id| id as usize >= self.config.vocab_size) {
			return Err(EngineError::Model(format!("token id {bad} outside the vocabulary")));
		}
		if s > self.config.max_position_embeddings {
			return Err(EngineError::Model(format!(
				"{s} tokens exceed the model's {} positions",
				self.config.max_position_embeddings
			)));
		}
		let Some(fused_qkv) = self.layers.iter().map(|l| l.qkv.as_ref()).collect::<Option<Vec<_>>>() else {
			let states = batch.iter().map(|ids| self.encode_separate(ids)).collect::<Result<Vec<_>>>()?;
			return Ok(Tensor::cat(&states, 0)?);
		};
		let ops = &self.ops;
		let (h, heads) = (self.config.hidden_size, self.config.num_attention_heads);
		let (d, rows) = (h / heads, batch.len() * s);
		// The activations stay plain rows from layer to layer: each step reads its input where
		// it is and hands its output on, with no tensor copies between them.
		let mut x = host(&self.embeddings(batch)?)?;
		let scale = (1.0 / (d as f64).sqrt()) as f32;
		for (layer, qkv) in self.layers.iter().zip(fused_qkv) {
			let qkv = ops.linear_rows(&x, rows, qkv, None, None)?;
			let context = attention(&qkv, batch.len(), s, heads, d, scale);
			let attended = ops.linear_rows(&context, rows, &layer.attn_out, None, Some(&x))?;
			let attended = ops.layer_norm_rows(attended, &layer.attn_norm)?;
			let inner = ops.linear_rows(&attended, rows, &layer.intermediate, Some(Activation::GeluErf), None)?;
			let out = ops.linear_rows(&inner, rows, &layer.output, None, Some(&attended))?;
			x = ops.layer_norm_rows(out, &layer.out_norm)?;
		}
		Ok(Tensor::from_vec(x, (rows, h), &Device::Cpu)?)
	}

	/// Word + position + token-type embeddings, layer-normalised: `[batch · tokens, hidden]` for
	/// sentences of one length.
	fn embeddings(&self, batch: &[&[u32]]) -> Result<Tensor> {
		let s = batch.first().map_or(0, |ids| ids.len());
		let all: Vec<u32> = batch.iter().flat_map(|ids| ids.iter().copied()).collect();
		let ids_t = Tensor::from_vec(all, batch.len() * s, &Device::Cpu)?;
		let positions = self.position.narrow(0, 0, s)?.repeat((batch.len(), 1))?;
		let types = self.token_type.narrow(0, 0, 1)?;
		let x = self.word.index_select(&ids_t, 0)?.add(&positions)?.broadcast_add(&types)?;
		self.ops.layer_norm(&x, &self.embed_norm)
	}

	/// Portable v1's encoder: Q, K and V apart, attention through [`Ops`] one head after another.
	fn encode_separate(&self, ids: &[u32]) -> Result<Tensor> {
		let ops = &self.ops;
		let s = ids.len();
		let (h, heads) = (self.config.hidden_size, self.config.num_attention_heads);
		let d = h / heads;
		let mut x = self.embeddings(&[ids])?;
		let scale = 1.0 / (d as f64).sqrt();
		let heads_first =
			|t: Tensor| -> Result<Tensor> { Ok(t.reshape((s, heads, d))?.transpose(0, 1)?.contiguous()?) };
		for layer in &self.layers {
			let q = heads_first(ops.linear(&x, &layer.query)?)?;
			let k = heads_first(ops.linear(&x, &layer.key)?)?;
			let v = heads_first(ops.linear(&x, &layer.value)?)?;
			let scores = ops.matmul_nt(&q, &k)?.affine(scale, 0.0)?;
			let probs = ops.softmax_last(&scores)?;
			let context = ops.matmul(&probs, &v)?.transpose(0, 1)?.contiguous()?.reshape((s, h))?;
			let attended = ops.linear(&context, &layer.attn_out)?.add(&x)?;
			let attended = ops.layer_norm(&attended, &layer.attn_norm)?;
			let inner = ops.activate(&ops.linear(&attended, &layer.intermediate)?, Activation::GeluErf)?;
			let out = ops.linear(&inner, &layer.output)?.add(&attended)?;
			x = ops.layer_norm(&out, &layer.out_norm)?;
		}
		Ok(x)
	}
}

/// Scaled dot-product attention of every sentence and head, each head one task: `qkv` is
/// `[batch · s, 3h]` (Q, K and V side by side), the result `[batch · s, h]`. Scores are
/// `(q·kᵀ)·scale`, softmaxed with the polynomial `exp`, times V; on the k-order matmul, so the
/// bits do not depend on how the tasks are spread over threads.
fn attention(qkv: &[f32], batch: usize, s: usize, heads: usize, d: usize, scale: f32) -> Vec<f32> {
	let h = heads * d;
	let mut per_head: Vec<Vec<f32>> = vec![Vec::new(); batch * heads];
	team::for_each_piece(&mut per_head, 1, true, |task, slot| {
		let (sentence, head) = (task / heads, task % heads);
		// The head's columns of Q, K and V, read where they are in the sentence's rows.
		let rows = &qkv[sentence * s * 3 * h..(sentence + 1) * s * 3 * h];
		let part = |which: usize| &rows[which * h + head * d..];
		let keys = gemm::PackedPanels::from_rows(part(1), 3 * h, s, d);
		let mut scores = gemm::matmul_strided(part(0), 3 * h, s, &keys);
		kernels::scaled_softmax_rows_with::<Polynomials>(&mut scores, s, scale);
		slot[0] = gemm::matmul(&scores, s, &gemm::PackedPanels::from_columns_strided(part(2), 3 * h, s, d));
	});
	let mut context = vec![0f32; batch * s * h];
	for (task, values) in per_head.iter().enumerate() {
		let (sentence, head) = (task / heads, task % heads);
		for (i, row) in values.chunks_exact(d).enumerate() {
			let at = (sentence * s + i) * h + head * d;
			context[at..at + d].copy_from_slice(row);
		}
	}
	context
}
