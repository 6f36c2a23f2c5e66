//! BERT-family sentence embeddings: WordPiece tokens → encoder → mean pooling → L2 normalisation,
//! as sentence-transformers computes them for models such as all-MiniLM-L6-v2.

use candle_core::{Device, Tensor};
use serde::Deserialize;
use std::path::Path;

use super::{read_json, text::TextTokenizer, Weights};
use crate::{
	error::{EngineError, Result},
	kernels::Activation,
	ops::{Kernels, Linear, Norm, Ops},
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
			layers.push(Layer {
				query: linear(&format!("{p}.attention.self.query"), h, h)?,
				key: linear(&format!("{p}.attention.self.key"), h, h)?,
				value: linear(&format!("{p}.attention.self.value"), h, h)?,
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
		let ids = self.tokenize(text)?;
		let hidden = self.encode(&ids)?;
		self.ops.mean_pool(&hidden, self.normalize)
	}

	/// Token states `[tokens, hidden]` of the last layer.
	pub fn encode(&self, ids: &[u32]) -> Result<Tensor> {
		let ops = &self.ops;
		let s = ids.len();
		let (h, heads) = (self.config.hidden_size, self.config.num_attention_heads);
		let d = h / heads;
		let ids_t = Tensor::from_vec(ids.to_vec(), s, &Device::Cpu)?;
		let positions = self.position.narrow(0, 0, s)?;
		let types = self.token_type.narrow(0, 0, 1)?;
		let x = self.word.index_select(&ids_t, 0)?.add(&positions)?.broadcast_add(&types)?;
		let mut x = ops.layer_norm(&x, &self.embed_norm)?;
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
