//! Llama-family causal LM (RMSNorm, rotary positions, grouped-query attention, SwiGLU), from
//! Hugging Face safetensors or from GGUF, with greedy decoding and teacher-forced verification.

use candle_core::{quantized::gguf_file, DType, Device, Tensor};
use serde::Deserialize;
use std::{fs::File, path::Path};

use super::{argmax, gguf::GgufTokenizer, read_json, Weights};
use crate::{
	error::{io_at, EngineError, InputError, Result},
	kernels::Activation,
	ops::{host, Kernels, Linear, Norm, Ops},
};
use opg_primitives::inference::ExecutionProfile;

/// The fields of a Hugging Face Llama `config.json` the model needs.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct LlamaConfig {
	pub vocab_size: usize,
	pub hidden_size: usize,
	pub intermediate_size: usize,
	pub num_hidden_layers: usize,
	pub num_attention_heads: usize,
	pub num_key_value_heads: Option<usize>,
	pub rms_norm_eps: f64,
	#[serde(default = "default_theta")]
	pub rope_theta: f64,
	pub max_position_embeddings: usize,
	#[serde(default)]
	pub tie_word_embeddings: bool,
}

fn default_theta() -> f64 {
	10_000.0
}

impl LlamaConfig {
	fn kv_heads(&self) -> usize {
		self.num_key_value_heads.unwrap_or(self.num_attention_heads)
	}
	fn head_dim(&self) -> usize {
		self.hidden_size / self.num_attention_heads.max(1)
	}
	fn check(&self) -> Result<()> {
		let (h, heads, kv) = (self.hidden_size, self.num_attention_heads, self.kv_heads());
		let ok = heads > 0
			&& kv > 0 && h % heads == 0
			&& heads % kv == 0
			&& self.head_dim() % 2 == 0
			&& self.vocab_size > 0
			&& self.num_hidden_layers <= 256
			&& h <= 65536
			&& self.max_position_embeddings > 0;
		if ok {
			Ok(())
		} else {
			Err(EngineError::Model(format!("inconsistent Llama configuration {self:?}")))
		}
	}
}

/// Which dimensions rotary embedding pairs: Hugging Face rotates halves, GGUF (llama.cpp, whose
/// converter permutes the q/k rows) rotates adjacent pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RopeStyle {
	Halves,
	Interleaved,
}

struct Block {
	attn_norm: Norm,
	q: Linear,
	k: Linear,
	v: Linear,
	o: Linear,
	ffn_norm: Norm,
	gate: Linear,
	up: Linear,
	down: Linear,
}

/// Keys and values of the positions seen so far, per layer: `[kv_heads, t, head_dim]`.
pub struct KvCache {
	layers: Vec<Option<(Tensor, Tensor)>>,
}

/// The outcome of teacher-forced verification.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
	/// Every claimed token was the greedy choice within the margin.
	pub accepted: bool,
	/// Index into the claimed tokens of the first one that was not.
	pub first_rejected: Option<usize>,
	/// The largest gap seen between the best logit and the claimed token's logit.
	pub max_gap: f32,
}

pub struct LlamaModel {
	ops: Ops,
	pub config: LlamaConfig,
	embed: Tensor,
	blocks: Vec<Block>,
	norm: Norm,
	lm_head: Linear,
	cos: Tensor,
	sin: Tensor,
	rope: RopeStyle,
	max_new_tokens: usize,
	/// The tokenizer a GGUF file carries: the model then also takes and returns text.
	tokenizer: Option<GgufTokenizer>,
}

impl LlamaModel {
	pub fn from_safetensors(
		profile: ExecutionProfile,
		weights: &Path,
		config: &Path,
		max_new_tokens: u32,
	) -> Result<Self> {
		let config: LlamaConfig = read_json(config)?;
		config.check()?;
		let w = Weights::new(candle_core::safetensors::load(weights, &Device::Cpu)?);
		let (h, i, d) = (config.hidden_size, config.intermediate_size, config.head_dim());
		let (heads, kv) = (config.num_attention_heads, config.kv_heads());
		let eps = config.rms_norm_eps as f32;
		let kernels = Kernels::for_profile(profile)?;
		let linear = |name: &str, out: usize, inp: usize| Linear::new(kernels, w.get(name, &[out, inp])?, None);
		let norm = |name: &str| Norm::new(w.get(name, &[h])?, None, eps);
		let mut blocks = Vec::with_capacity(config.num_hidden_layers);
		for l in 0..config.num_hidden_layers {
			let p = format!("model.layers.{l}");
			blocks.push(Block {
				attn_norm: norm(&format!("{p}.input_layernorm.weight"))?,
				q: linear(&format!("{p}.self_attn.q_proj.weight"), heads * d, h)?,
				k: linear(&format!("{p}.self_attn.k_proj.weight"), kv * d, h)?,
				v: linear(&format!("{p}.self_attn.v_proj.weight"), kv * d, h)?,
				o: linear(&format!("{p}.self_attn.o_proj.weight"), h, heads * d)?,
				ffn_norm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
				gate: linear(&format!("{p}.mlp.gate_proj.weight"), i, h)?,
				up: linear(&format!("{p}.mlp.up_proj.weight"), i, h)?,
				down: linear(&format!("{p}.mlp.down_proj.weight"), h, i)?,
			});
		}
		let embed = w.get("model.embed_tokens.weight", &[config.vocab_size, h])?;
		let lm_head = if config.tie_word_embeddings || !w.contains("lm_head.weight") {
			Linear::new(kernels, embed.clone(), None)?
		} else {
			linear("lm_head.weight", config.vocab_size, h)?
		};
		let norm = norm("model.norm.weight")?;
		Self::assemble(profile, config, embed, blocks, norm, lm_head, RopeStyle::Halves, max_new_tokens)
	}

	pub fn from_gguf(profile: ExecutionProfile, path: &Path, max_new_tokens: u32) -> Result<Self> {
		let kernels = Kernels::for_profile(profile)?;
		let mut file = File::open(path).map_err(io_at(path))?;
		let content = super::gguf::read_content(&mut file)?;
		let meta = |key: &str| -> Result<&gguf_file::Value> {
			content.metadata.get(key).ok_or_else(|| EngineError::Model(format!("GGUF metadata lacks {key}")))
		};
		let arch = meta("general.architecture")?.to_string().map_err(|e| EngineError::Model(e.to_string()))?;
		if arch != "llama" {
			return Err(EngineError::Model(format!("GGUF architecture {arch:?} is not llama")));
		}
		let int = |key: &str| -> Result<usize> {
			Ok(meta(&format!("llama.{key}"))?.to_u32().map_err(|e| EngineError::Model(format!("{key}: {e}")))? as usize)
		};
		let float = |key: &str| -> Result<f64> {
			Ok(meta(&format!("llama.{key}"))?.to_f32().map_err(|e| EngineError::Model(format!("{key}: {e}")))? as f64)
		};
		let mut tensor = |name: &str| -> Result<candle_core::quantized::QTensor> {
			super::gguf::read_tensor(&content, &mut file, name)
		};
		let embed_q = tensor("token_embd.weight")?;
		let (vocab, hidden) = embed_q.shape().dims2()?;
		let config = LlamaConfig {
			vocab_size: vocab,
			hidden_size: int("embedding_length")?,
			intermediate_size: int("feed_forward_length")?,
			num_hidden_layers: int("block_count")?,
			num_attention_heads: int("attention.head_count")?,
			num_key_value_heads: Some(int("attention.head_count_kv")?),
			rms_norm_eps: float("attention.layer_norm_rms_epsilon")?,
			rope_theta: float("rope.freq_base").unwrap_or(10_000.0),
			max_position_embeddings: int("context_length")?,
			tie_word_embeddings: false,
		};
		config.check()?;
		if hidden != config.hidden_size {
			return Err(EngineError::Model("token_embd does not match embedding_length".into()));
		}
		let (h, i, d) = (config.hidden_size, config.intermediate_size, config.head_dim());
		let (heads, kv) = (config.num_attention_heads, config.kv_heads());
		let eps = config.rms_norm_eps as f32;
		let mut linear = |name: &str, out: usize, inp: usize| -> Result<Linear> {
			let q = tensor(name)?;
			if q.shape().dims() != [out, inp] {
				return Err(EngineError::Model(format!(
					"GGUF tensor {name} has shape {:?}, expected [{out}, {inp}]",
					q.shape().dims()
				)));
			}
			Linear::quantized(kernels, q)
		};
		let mut blocks = Vec::with_capacity(config.num_hidden_layers);
		let mut norms = Vec::new();
		for l in 0..config.num_hidden_layers {
			let p = format!("blk.{l}");
			blocks.push((
				linear(&format!("{p}.attn_q.weight"), heads * d, h)?,
				linear(&format!("{p}.attn_k.weight"), kv * d, h)?,
				linear(&format!("{p}.attn_v.weight"), kv * d, h)?,
				linear(&format!("{p}.attn_output.weight"), h, heads * d)?,
				linear(&format!("{p}.ffn_gate.weight"), i, h)?,
				linear(&format!("{p}.ffn_up.weight"), i, h)?,
				linear(&format!("{p}.ffn_down.weight"), h, i)?,
			));
			norms.push((format!("{p}.attn_norm.weight"), format!("{p}.ffn_norm.weight")));
		}
		let lm_head = if content.tensor_infos.contains_key("output.weight") {
			linear("output.weight", vocab, h)?
		} else {
			Linear::quantized(kernels, tensor("token_embd.weight")?)?
		};
		let mut norm = |name: &str| -> Result<Norm> {
			let t = tensor(name)?.dequantize(&Device::Cpu)?;
			if t.dims() != [h] {
				return Err(EngineError::Model(format!("GGUF tensor {name} has shape {:?}, expected [{h}]", t.dims())));
			}
			Norm::new(t, None, eps)
		};
		let mut built = Vec::with_capacity(blocks.len());
		for ((q, k, v, o, gate, up, down), (an, fnn)) in blocks.into_iter().zip(norms) {
			built.push(Block { attn_norm: norm(&an)?, q, k, v, o, ffn_norm: norm(&fnn)?, gate, up, down });
		}
		let final_norm = norm("output_norm.weight")?;
		let embed = embed_q.dequantize(&Device::Cpu)?.to_dtype(DType::F32)?;
		let tokenizer = GgufTokenizer::from_gguf(&content.metadata, config.vocab_size)?;
		let mut model =
			Self::assemble(profile, config, embed, built, final_norm, lm_head, RopeStyle::Interleaved, max_new_tokens)?;
		model.tokenizer = tokenizer;
		Ok(model)
	}

	#[allow(clippy::too_many_arguments)]
	fn assemble(
		profile: ExecutionProfile,
		config: LlamaConfig,
		embed: Tensor,
		blocks: Vec<Block>,
		norm: Norm,
		lm_head: Linear,
		rope: RopeStyle,
		max_new_tokens: u32,
	) -> Result<Self> {
		let (cos, sin) =
			rope_tables(config.head_dim(), config.max_position_embeddings.min(1 << 16), config.rope_theta)?;
		Ok(Self {
			ops: Ops::new(profile)?,
			embed,
			blocks,
			norm,
			lm_head,
			cos,
			sin,
			rope,
			max_new_tokens: max_new_tokens as usize,
			config,
			tokenizer: None,
		})
	}

	/// The model's own tokenizer, if its file carries one.
	pub fn tokenizer(&self) -> Option<&GgufTokenizer> {
		self.tokenizer.as_ref()
	}

	/// Text in, text out: the prompt's tokens (BOS first), greedy generation up to
	/// `max_new_tokens` or the end-of-sequence token, decoded.
	pub fn complete(&self, prompt: &str) -> Result<String> {
		let tokenizer = self.tokenizer.as_ref().ok_or(InputError::WrongType { expected: "token ids", got: "text" })?;
		if prompt.is_empty() {
			return Err(InputError::Empty.into());
		}
		let mut generated = self.generate(&tokenizer.encode(prompt)?, self.max_new_tokens)?;
		if let Some(end) = generated.iter().position(|&t| tokenizer.is_end(t)) {
			generated.truncate(end);
		}
		Ok(tokenizer.decode(&generated))
	}

	pub fn max_new_tokens(&self) -> usize {
		self.max_new_tokens
	}

	pub fn new_cache(&self) -> KvCache {
		KvCache { layers: (0..self.blocks.len()).map(|_| None).collect() }
	}

	/// Refuse prompts that are empty, out of vocabulary, or leave no room for generation.
	pub fn check_prompt(&self, prompt: &[u32], new_tokens: usize) -> Result<()> {
		if prompt.is_empty() {
			return Err(InputError::Empty.into());
		}
		if let Some(&token) = prompt.iter().find(|&&t| t as usize >= self.config.vocab_size) {
			return Err(InputError::TokenOutOfRange { token, vocab: self.config.vocab_size }.into());
		}
		let limit = self.config.max_position_embeddings.saturating_sub(new_tokens);
		if prompt.len() > limit {
			return Err(InputError::TextTooLong { tokens: prompt.len(), limit }.into());
		}
		Ok(())
	}

	/// Final hidden states `[s, hidden]` for `tokens` placed at positions `start..`.
	pub fn forward(&self, tokens: &[u32], start: usize, cache: &mut KvCache) -> Result<Tensor> {
		let ops = &self.ops;
		let s = tokens.len();
		let c = &self.config;
		let (heads, kv, d) = (c.num_attention_heads, c.kv_heads(), c.head_dim());
		let total = start + s;
		if s == 0 || total > self.cos.dims()[0] {
			return Err(InputError::TextTooLong { tokens: total, limit: self.cos.dims()[0] }.into());
		}
		let ids = Tensor::from_vec(tokens.to_vec(), s, &Device::Cpu)?;
		let mut x = self.embed.index_select(&ids, 0)?;
		let cos = self.cos.narrow(0, start, s)?;
		let sin = self.sin.narrow(0, start, s)?;
		let mask = causal_mask(s, start)?;
		let scale = 1.0 / (d as f64).sqrt();
		for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
			let normed = ops.rms_norm(&x, &block.attn_norm)?;
			let split =
				|t: Tensor, n: usize| -> Result<Tensor> { Ok(t.reshape((s, n, d))?.transpose(0, 1)?.contiguous()?) };
			let q = self.apply_rope(&split(ops.linear(&normed, &block.q)?, heads)?, &cos, &sin)?;
			let k = self.apply_rope(&split(ops.linear(&normed, &block.k)?, kv)?, &cos, &sin)?;
			let v = split(ops.linear(&normed, &block.v)?, kv)?;
			let (k, v) = match slot.take() {
				Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 1)?, Tensor::cat(&[&pv, &v], 1)?),
				None => (k, v),
			};
			*slot = Some((k.clone(), v.clone()));
			let k = repeat_kv(&k, heads / kv)?;
			let v = repeat_kv(&v, heads / kv)?;
			let mut scores = ops.matmul_nt(&q, &k)?.affine(scale, 0.0)?;
			if let Some(mask) = &mask {
				scores = scores.broadcast_add(mask)?;
			}
			let probs = ops.softmax_last(&scores)?;
			let attended = ops.matmul(&probs, &v)?.transpose(0, 1)?.contiguous()?.reshape((s, heads * d))?;
			x = x.add(&ops.linear(&attended, &block.o)?)?;
			let normed = ops.rms_norm(&x, &block.ffn_norm)?;
			let gate = ops.activate(&ops.linear(&normed, &block.gate)?, Activation::Silu)?;
			let up = ops.linear(&normed, &block.up)?;
			x = x.add(&ops.linear(&gate.mul(&up)?, &block.down)?)?;
		}
		ops.rms_norm(&x, &self.norm)
	}

	/// Logits `[s, vocab]` of hidden states.
	pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
		self.ops.linear(hidden, &self.lm_head)
	}

	/// Greedy decoding: up to `max_new` tokens after `prompt`.
	pub fn generate(&self, prompt: &[u32], max_new: usize) -> Result<Vec<u32>> {
		self.check_prompt(prompt, max_new)?;
		let mut cache = self.new_cache();
		let mut out = Vec::with_capacity(max_new);
		let mut next_input = prompt.to_vec();
		let mut pos = 0;
		while out.len() < max_new {
			let hidden = self.forward(&next_input, pos, &mut cache)?;
			pos += next_input.len();
			let last = hidden.narrow(0, hidden.dims()[0] - 1, 1)?;
			let logits = host(&self.logits(&last)?)?;
			let token = argmax(&logits).ok_or_else(|| EngineError::Model("logits are all NaN".into()))? as u32;
			out.push(token);
			next_input = vec![token];
		}
		Ok(out)
	}

	/// Teacher forcing: one forward pass over `prompt ‖ claimed` checks that every claimed token
	/// was the greedy choice, allowing `margin` of logit for the drift between honest CPUs.
	pub fn verify(&self, prompt: &[u32], claimed: &[u32], margin: f32) -> Result<Verification> {
		self.check_prompt(prompt, claimed.len())?;
		if let Some(&token) = claimed.iter().find(|&&t| t as usize >= self.config.vocab_size) {
			return Err(InputError::TokenOutOfRange { token, vocab: self.config.vocab_size }.into());
		}
		if claimed.is_empty() {
			return Ok(Verification { accepted: true, first_rejected: None, max_gap: 0.0 });
		}
		let mut tokens = prompt.to_vec();
		tokens.extend_from_slice(&claimed[..claimed.len() - 1]);
		let hidden = self.forward(&tokens, 0, &mut self.new_cache())?;
		let rows = hidden.narrow(0, prompt.len() - 1, claimed.len())?;
		let logits = host(&self.logits(&rows)?)?;
		let vocab = self.config.vocab_size;
		let mut verdict = Verification { accepted: true, first_rejected: None, max_gap: 0.0 };
		for (i, (row, &token)) in logits.chunks_exact(vocab).zip(claimed).enumerate() {
			let best = row.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
			let gap = best - row[token as usize];
			let gap = if gap.is_nan() { f32::INFINITY } else { gap };
			verdict.max_gap = verdict.max_gap.max(gap);
			if gap > margin && verdict.first_rejected.is_none() {
				verdict.accepted = false;
				verdict.first_rejected = Some(i);
			}
		}
		Ok(verdict)
	}

	/// Rotate `x[heads, s, d]` by the positions' angles.
	fn apply_rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
		let (n, s, d) = x.dims3()?;
		let half = d / 2;
		let (cos, sin) = (cos.unsqueeze(0)?, sin.unsqueeze(0)?);
		let rotated = match self.rope {
			RopeStyle::Halves => {
				let x1 = x.narrow(2, 0, half)?;
				let x2 = x.narrow(2, half, half)?;
				let a = x1.broadcast_mul(&cos)?.sub(&x2.broadcast_mul(&sin)?)?;
				let b = x2.broadcast_mul(&cos)?.add(&x1.broadcast_mul(&sin)?)?;
				Tensor::cat(&[&a, &b], 2)?
			},
			RopeStyle::Interleaved => {
				let pairs = x.reshape((n, s, half, 2))?;
				let x1 = pairs.narrow(3, 0, 1)?.squeeze(3)?;
				let x2 = pairs.narrow(3, 1, 1)?.squeeze(3)?;
				let a = x1.broadcast_mul(&cos)?.sub(&x2.broadcast_mul(&sin)?)?;
				let b = x2.broadcast_mul(&cos)?.add(&x1.broadcast_mul(&sin)?)?;
				Tensor::stack(&[&a, &b], 3)?.reshape((n, s, d))?
			},
		};
		Ok(rotated.contiguous()?)
	}
}

/// cos/sin `[positions, head_dim / 2]`, computed in f64 with the pure-Rust `libm` so every
/// machine gets the same table.
fn rope_tables(head_dim: usize, positions: usize, theta: f64) -> Result<(Tensor, Tensor)> {
	let half = head_dim / 2;
	let mut cos = Vec::with_capacity(positions * half);
	let mut sin = Vec::with_capacity(positions * half);
	for p in 0..positions {
		for i in 0..half {
			let freq = libm::pow(theta, -(2.0 * i as f64) / head_dim as f64);
			let angle = p as f64 * freq;
			cos.push(libm::cos(angle) as f32);
			sin.push(libm::sin(angle) as f32);
		}
	}
	Ok((
		Tensor::from_vec(cos, (positions, half), &Device::Cpu)?,
		Tensor::from_vec(sin, (positions, half), &Device::Cpu)?,
	))
}

/// `-inf` above the diagonal for a block of `s` new positions after `start` cached ones.
fn causal_mask(s: usize, start: usize) -> Result<Option<Tensor>> {
	if s == 1 {
		return Ok(None);
	}
	let t = start + s;
	let mask: Vec<f32> =
		(0..s).flat_map(|i| (0..t).map(move |j| if j > start + i { f32::NEG_INFINITY } else { 0.0 })).collect();
	Ok(Some(Tensor::from_vec(mask, (s, t), &Device::Cpu)?))
}

/// `[kv, t, d] → [kv·n, t, d]`, head `h` reading kv head `h / n`.
fn repeat_kv(x: &Tensor, n: usize) -> Result<Tensor> {
	if n == 1 {
		return Ok(x.clone());
	}
	let (kv, t, d) = x.dims3()?;
	Ok(Tensor::cat(&vec![x; n], 1)?.reshape((kv * n, t, d))?)
}
