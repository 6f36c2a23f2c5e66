//! What a request and its answer look like on chain, and how two answers are compared.
//!
//! Comparison runs inside the runtime, so it uses integers only: an `f32` is compared through its
//! bit pattern, never as a float.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

pub use crate::bounded_value::{BoundedValue, ValueError};

/// How a model's bundle is laid out and executed.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum ModelFormat {
	/// An ONNX graph (operator allowlist enforced by the engine).
	Onnx,
	/// A BERT-family sentence embedding model with its tokenizer.
	BertEmbedding,
	/// A Llama-family causal LM, greedy decoding.
	LlamaCausalLm,
}

/// How workers must execute a model, which decides how their outputs are compared.
///
/// The portable profile is versioned: its bits are fixed by the order in which its kernels sum, so
/// a faster kernel that sums in another order is a new version, never a change of an old one. A
/// model registered under a version always runs under that version.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum ExecutionProfile {
	/// Version 1 of the portable profile: bit-identical on every CPU, outputs compared exactly.
	Portable,
	/// Native speed: outputs compared with a tolerance.
	Fast,
	/// A later version (2 and up) of the portable profile. Version 1 is only ever spelled
	/// [`ExecutionProfile::Portable`], so every profile has one encoding.
	PortableVersion(u16),
}

impl ExecutionProfile {
	/// The portable profile at `version` (1 and up), in its one canonical spelling.
	pub const fn portable(version: u16) -> Self {
		if version <= 1 {
			Self::Portable
		} else {
			Self::PortableVersion(version)
		}
	}

	/// The portable profile's version, `None` for the fast profile.
	pub const fn portable_version(self) -> Option<u16> {
		match self {
			Self::Portable => Some(1),
			Self::PortableVersion(v) => Some(v),
			Self::Fast => None,
		}
	}

	/// Whether a chain whose workers implement portable versions `1..=latest_portable` can serve
	/// this profile: the fast profile, or a portable version in that range in its canonical
	/// spelling.
	pub const fn is_served_up_to(self, latest_portable: u16) -> bool {
		match self {
			Self::Portable | Self::Fast => true,
			Self::PortableVersion(v) => 2 <= v && v <= latest_portable,
		}
	}
}

/// `portable` (version 1), `portable-v2`, …, `fast`: the names command lines take.
impl core::fmt::Display for ExecutionProfile {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		match self {
			Self::Portable => f.write_str("portable"),
			Self::PortableVersion(v) => write!(f, "portable-v{v}"),
			Self::Fast => f.write_str("fast"),
		}
	}
}

impl core::str::FromStr for ExecutionProfile {
	type Err = &'static str;

	/// The names [`Display`](core::fmt::Display) writes, and `portable-v1` for `portable`.
	fn from_str(s: &str) -> Result<Self, Self::Err> {
		const EXPECTED: &str = "expected `portable`, `portable-vN` (N ≥ 1) or `fast`";
		match s {
			"portable" => Ok(Self::Portable),
			"fast" => Ok(Self::Fast),
			_ => match s.strip_prefix("portable-v").map(str::parse::<u16>) {
				Some(Ok(v)) if v >= 1 => Ok(Self::portable(v)),
				_ => Err(EXPECTED),
			},
		}
	}
}

/// When two revealed outputs count as the same answer.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum ComparisonRule {
	/// The encoded outputs are byte-for-byte equal.
	Exact,
	/// Both outputs are `f32` tensors of the same shape whose elements are each within
	/// `max_ulps` units in the last place (a relative tolerance), or differ by at most
	/// `abs_tol_bits` (an `f32` bit pattern, e.g. `1e-5f32.to_bits()`; an absolute tolerance for
	/// elements near zero, applied below 2^25 in magnitude). NaN or infinity never agrees. Any
	/// other pair of outputs is compared exactly.
	F32Ulps { max_ulps: u32, abs_tol_bits: u32 },
}

/// The loosest relative tolerance a model may register: 4,096 ULPs, a relative difference of
/// about 2⁻¹¹ (0.05 %). The engine's fast profile needs 256.
pub const MAX_RULE_ULPS: u32 = 4096;

/// The loosest absolute tolerance a model may register: the bit pattern of `1e-3f32`. For
/// non-negative finite `f32`s the bit patterns order like the values, so one integer comparison
/// also refuses negative, infinite and NaN tolerances.
pub const MAX_RULE_ABS_TOL_BITS: u32 = 0x3A83_126F;

impl ComparisonRule {
	/// Whether the rule is no looser than [`MAX_RULE_ULPS`] and [`MAX_RULE_ABS_TOL_BITS`]: a
	/// model's answers are then judged tightly enough that a wrong answer cannot pass, whoever
	/// registered the model.
	pub fn is_bounded(&self) -> bool {
		match *self {
			ComparisonRule::Exact => true,
			ComparisonRule::F32Ulps { max_ulps, abs_tol_bits } => {
				max_ulps <= MAX_RULE_ULPS && abs_tol_bits <= MAX_RULE_ABS_TOL_BITS
			},
		}
	}
}

/// A typed model input or output, with one canonical SCALE encoding.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum Value {
	/// `f32` tensor, row-major, elements as IEEE-754 bit patterns.
	F32 { shape: Vec<u32>, bits: Vec<u32> },
	/// `i64` tensor, row-major.
	I64 { shape: Vec<u32>, data: Vec<i64> },
	/// UTF-8 text.
	Text(Vec<u8>),
	/// Token ids.
	Tokens(Vec<u32>),
	/// Named tensors, for graphs with several inputs or outputs (or a `bool`/`i32` one), e.g. a
	/// BERT's `input_ids`, `attention_mask` and `token_type_ids`. Canonical only with the names
	/// in strictly ascending byte order ([`Value::is_canonical`]), so one set of tensors has one
	/// encoding.
	Tensors(Vec<NamedTensor>),
}

/// One tensor of [`Value::Tensors`].
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct NamedTensor {
	/// The graph's name for it, UTF-8.
	pub name: Vec<u8>,
	pub tensor: TensorValue,
}

/// A row-major tensor of one of the element types graphs exchange.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum TensorValue {
	/// Elements as IEEE-754 bit patterns.
	F32 {
		shape: Vec<u32>,
		bits: Vec<u32>,
	},
	I64 {
		shape: Vec<u32>,
		data: Vec<i64>,
	},
	I32 {
		shape: Vec<u32>,
		data: Vec<i32>,
	},
	Bool {
		shape: Vec<u32>,
		data: Vec<bool>,
	},
	/// UTF-8 strings (class labels, for one).
	Str {
		shape: Vec<u32>,
		data: Vec<Vec<u8>>,
	},
}

impl TensorValue {
	pub fn shape(&self) -> &[u32] {
		match self {
			TensorValue::F32 { shape, .. }
			| TensorValue::I64 { shape, .. }
			| TensorValue::I32 { shape, .. }
			| TensorValue::Bool { shape, .. }
			| TensorValue::Str { shape, .. } => shape,
		}
	}

	/// How many elements it holds.
	pub fn len(&self) -> usize {
		match self {
			TensorValue::F32 { bits, .. } => bits.len(),
			TensorValue::I64 { data, .. } => data.len(),
			TensorValue::I32 { data, .. } => data.len(),
			TensorValue::Bool { data, .. } => data.len(),
			TensorValue::Str { data, .. } => data.len(),
		}
	}

	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	/// The element type's name: `f32`, `i64`, `i32`, `bool` or `string`.
	pub fn dtype(&self) -> &'static str {
		match self {
			TensorValue::F32 { .. } => "f32",
			TensorValue::I64 { .. } => "i64",
			TensorValue::I32 { .. } => "i32",
			TensorValue::Bool { .. } => "bool",
			TensorValue::Str { .. } => "string",
		}
	}
}

impl Value {
	/// No text, no tokens, or a tensor without elements: nothing for a model to run on.
	pub fn is_empty(&self) -> bool {
		match self {
			Value::F32 { bits, .. } => bits.is_empty(),
			Value::I64 { data, .. } => data.is_empty(),
			Value::Text(text) => text.is_empty(),
			Value::Tokens(tokens) => tokens.is_empty(),
			Value::Tensors(tensors) => tensors.is_empty() || tensors.iter().any(|t| t.tensor.is_empty()),
		}
	}

	/// Whether this is the one encoding of what it holds: named tensors carry non-empty UTF-8
	/// names in strictly ascending byte order (no name twice). Every other value is canonical
	/// as decoded.
	pub fn is_canonical(&self) -> bool {
		match self {
			Value::Tensors(tensors) => {
				let utf8 = |bytes: &[u8]| core::str::from_utf8(bytes).is_ok();
				tensors.iter().all(|t| {
					!t.name.is_empty()
						&& utf8(&t.name) && match &t.tensor {
						TensorValue::Str { data, .. } => data.iter().all(|s| utf8(s)),
						_ => true,
					}
				}) && tensors.windows(2).all(|w| w[0].name < w[1].name)
			},
			_ => true,
		}
	}
}

/// Why a model refused an input. Refusals are deterministic: every honest worker running the
/// same model on the same input reaches the same one, so a refusal is an answer the committee
/// can agree on like any output.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum Rejection {
	/// The input bytes are not exactly one canonically encoded [`Value`].
	Undecodable,
	/// The input holds nothing.
	Empty,
	/// The model takes another kind of value (text, token ids, a tensor type).
	WrongType,
	/// The tensor's shape is not one the model takes.
	WrongShape,
	/// The tensor's shape does not match its number of elements.
	InconsistentShape,
	/// The input is larger than the engine or the model accepts.
	TooLarge,
	/// The text is longer than the model's token limit.
	TextTooLong,
	/// The text is not valid UTF-8.
	NotUtf8,
	/// A token id is outside the model's vocabulary.
	TokenOutOfRange,
	/// A NaN or an infinity where the model takes numbers.
	NotFinite,
	/// An integer division by zero (or an overflowing one) inside the model.
	DivisionByZero,
	/// The model's graph failed on this input (e.g. shapes that do not fit inside it), the same
	/// way for everyone: the model's fault, not the workers'.
	ModelFailed,
}

impl Rejection {
	/// A short, stable description for logs and clients.
	pub fn describe(&self) -> &'static str {
		match self {
			Rejection::Undecodable => "the input does not decode as one value",
			Rejection::Empty => "the input is empty",
			Rejection::WrongType => "the model takes another type of input",
			Rejection::WrongShape => "the tensor has a shape the model does not take",
			Rejection::InconsistentShape => "the tensor's shape does not match its elements",
			Rejection::TooLarge => "the input is too large for the model",
			Rejection::TextTooLong => "the text is over the model's token limit",
			Rejection::NotUtf8 => "the text is not valid UTF-8",
			Rejection::TokenOutOfRange => "a token id is outside the vocabulary",
			Rejection::NotFinite => "the input holds a NaN or an infinity",
			Rejection::DivisionByZero => "the model divided an integer by zero",
			Rejection::ModelFailed => "the model failed on this input",
		}
	}
}

/// What a committee member commits to and reveals: the model's output (a SCALE-encoded
/// [`Value`]) or the model's refusal of the input.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum Answer {
	Output(Vec<u8>),
	Rejected(Rejection),
}

/// What a committee member commits to: `blake2_256(answer_digest(answer) ‖ SCALE(member) ‖ salt)`.
///
/// The member's account is part of the hash, so copying another member's commitment is useless:
/// nobody else can reveal it. The salt is a fresh secret 32 bytes revealed with the answer, so
/// a member cannot recover another member's answer from its commitment by hashing guesses, even
/// when the model's answers are few (a label, a short reply). The answer enters by its digest,
/// so a sealed first round can open its commitments with digests alone ([`sealed_commitment`])
/// and publish the answers later.
pub fn commitment<AccountId: Encode>(answer: &Answer, member: &AccountId, salt: &[u8; 32]) -> [u8; 32] {
	sealed_commitment(&answer_digest(answer), member, salt)
}

/// The commitment to the answer whose digest is `digest`: what a sealed reveal is checked
/// against.
pub fn sealed_commitment<AccountId: Encode>(digest: &[u8; 32], member: &AccountId, salt: &[u8; 32]) -> [u8; 32] {
	let mut preimage = digest.to_vec();
	member.encode_to(&mut preimage);
	preimage.extend_from_slice(salt);
	sp_crypto_hashing::blake2_256(&preimage)
}

/// `blake2_256(SCALE(answer))`: what a sealed reveal discloses of an answer. Members with the
/// same bits have the same digest; the answer itself stays hidden until it is published.
pub fn answer_digest(answer: &Answer) -> [u8; 32] {
	sp_crypto_hashing::blake2_256(&answer.encode())
}

/// The commitment of runtimes before `InferenceApi` version 3, `blake2_256(SCALE(answer) ‖
/// SCALE(member) ‖ salt)`: a worker commits this way while the chain it serves is older, and
/// the runtime still takes it in an unsealed reveal, so commitments made across an upgrade
/// can be revealed.
pub fn legacy_commitment<AccountId: Encode>(answer: &Answer, member: &AccountId, salt: &[u8; 32]) -> [u8; 32] {
	let mut preimage = answer.encode();
	member.encode_to(&mut preimage);
	preimage.extend_from_slice(salt);
	sp_crypto_hashing::blake2_256(&preimage)
}

const EXPONENT_MASK: u32 = 0x7f80_0000;
const MAGNITUDE_MASK: u32 = 0x7fff_ffff;

fn is_finite(bits: u32) -> bool {
	bits & EXPONENT_MASK != EXPONENT_MASK
}

/// Position of an `f32` on the number line as an integer: adjacent floats differ by one, and
/// +0 and -0 coincide.
fn ordinal(bits: u32) -> i64 {
	let magnitude = (bits & MAGNITUDE_MASK) as i64;
	if bits & !MAGNITUDE_MASK != 0 {
		-magnitude
	} else {
		magnitude
	}
}

/// A finite `f32` as an integer count of 2^-100 (exact from 2^-77 up, truncated toward zero
/// below: the absolute test resolves differences of 2^-100 ≈ 8e-31, far under any useful
/// tolerance); `None` from 2^25 in magnitude, where the absolute test is not applied.
fn fixed_point(bits: u32) -> Option<i128> {
	let exponent = (bits & EXPONENT_MASK) >> 23;
	if exponent > 152 {
		return None;
	}
	let fraction = (bits & 0x007f_ffff) as i128;
	// value = mantissa · 2^(e − 150), with subnormals at e = 1 without the implicit bit.
	let (mantissa, e) = if exponent == 0 { (fraction, 1) } else { (fraction | 0x0080_0000, exponent as i32) };
	let magnitude = if e >= 50 { mantissa << (e - 50) } else { mantissa >> (50 - e) };
	Some(if bits & !MAGNITUDE_MASK != 0 { -magnitude } else { magnitude })
}

/// Whether two `f32` values (as bits) agree: within `max_ulps`, or at most `abs_tol_bits` apart
/// (a zero tolerance disables the absolute test).
pub fn f32_agree(a: u32, b: u32, max_ulps: u32, abs_tol_bits: u32) -> bool {
	if !is_finite(a) || !is_finite(b) {
		return false;
	}
	if ordinal(a).abs_diff(ordinal(b)) <= max_ulps as u64 {
		return true;
	}
	if abs_tol_bits & MAGNITUDE_MASK == 0 {
		return false;
	}
	match (fixed_point(a), fixed_point(b), fixed_point(abs_tol_bits & MAGNITUDE_MASK)) {
		(Some(x), Some(y), Some(tol)) => (x - y).abs() <= tol,
		_ => false,
	}
}

/// Whether two encoded outputs are the same answer under `rule`.
pub fn outputs_agree(rule: ComparisonRule, a: &[u8], b: &[u8]) -> bool {
	match rule {
		ComparisonRule::Exact => a == b,
		ComparisonRule::F32Ulps { max_ulps, abs_tol_bits } => {
			let decoded = (Value::decode(&mut &a[..]), Value::decode(&mut &b[..]));
			let tensors_agree = |sa: &[u32], ba: &[u32], sb: &[u32], bb: &[u32]| {
				sa == sb
					&& ba.len() == bb.len()
					&& ba.iter().zip(bb.iter()).all(|(x, y)| f32_agree(*x, *y, max_ulps, abs_tol_bits))
			};
			match decoded {
				(Ok(Value::F32 { shape: sa, bits: ba }), Ok(Value::F32 { shape: sb, bits: bb })) => {
					tensors_agree(&sa, &ba, &sb, &bb)
				},
				// Named tensors agree when they carry the same names in the same order and each
				// pair agrees: `f32` ones within the rule, the others exactly.
				(Ok(Value::Tensors(ta)), Ok(Value::Tensors(tb))) => {
					ta.len() == tb.len()
						&& ta.iter().zip(tb.iter()).all(|(x, y)| {
							x.name == y.name
								&& match (&x.tensor, &y.tensor) {
									(
										TensorValue::F32 { shape: sa, bits: ba },
										TensorValue::F32 { shape: sb, bits: bb },
									) => tensors_agree(sa, ba, sb, bb),
									(x, y) => x == y,
								}
						})
				},
				_ => a == b,
			}
		},
	}
}

/// Whether two answers are the same: two outputs under `rule`, two refusals when they give the
/// same reason; an output never agrees with a refusal.
pub fn answers_agree(rule: ComparisonRule, a: &Answer, b: &Answer) -> bool {
	match (a, b) {
		(Answer::Output(x), Answer::Output(y)) => outputs_agree(rule, x, y),
		(Answer::Rejected(x), Answer::Rejected(y)) => x == y,
		_ => false,
	}
}

/// The largest set of items that agree with one of them (the first such item wins ties).
///
/// Returns the index of that representative and the indices that agree with it (itself
/// included). With exact equality this is the largest group of identical items; with a
/// tolerance the group is everyone within tolerance of the representative, which keeps the
/// verdict deterministic even though tolerance is not transitive. `None` for no items.
pub fn largest_agreeing_group<T>(items: &[T], agree: impl Fn(&T, &T) -> bool) -> Option<(usize, Vec<usize>)> {
	let mut best: Option<(usize, Vec<usize>)> = None;
	for (i, candidate) in items.iter().enumerate() {
		let group: Vec<usize> =
			items.iter().enumerate().filter(|(_, other)| agree(candidate, other)).map(|(j, _)| j).collect();
		if best.as_ref().is_none_or(|(_, g)| group.len() > g.len()) {
			best = Some((i, group));
		}
	}
	best
}

/// What a request pays for its place when `waiting` requests already wait in a draw queue of
/// `capacity`: nothing up to an eighth of it, then `base × (8 × beyond / capacity)²`, computed
/// in integers (rounded down, saturating).
pub fn queue_fee<Balance>(base: Balance, waiting: u64, capacity: u32) -> Balance
where
	Balance: sp_runtime::traits::AtLeast32BitUnsigned + Copy,
{
	let capacity = u128::from(capacity.max(1));
	let free = capacity / 8;
	let beyond = u128::from(waiting).saturating_sub(free);
	// base × (8·beyond)² / capacity², in u128 with the square's scale kept exact.
	let numerator = beyond.saturating_mul(8).saturating_pow(2);
	let denominator = capacity.saturating_mul(capacity);
	let base: u128 = base.unique_saturated_into();
	let fee = sp_runtime::helpers_128bit::multiply_by_rational_with_rounding(
		base,
		numerator,
		denominator,
		sp_runtime::Rounding::Down,
	)
	.unwrap_or(u128::MAX);
	Balance::unique_saturated_from(fee)
}

/// The smallest number of agreeing members that settles a committee of `size`: ⌈2·size/3⌉.
pub fn quorum(size: u32) -> u32 {
	(2 * size).div_ceil(3)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn tensor(values: &[f32]) -> Vec<u8> {
		Value::F32 { shape: vec![values.len() as u32], bits: values.iter().map(|v| v.to_bits()).collect() }.encode()
	}

	const RULE: ComparisonRule = ComparisonRule::F32Ulps { max_ulps: 4, abs_tol_bits: 0x3586_37bd /* 1e-6 */ };

	#[test]
	fn portable_versions_have_one_encoding_and_v1_keeps_its_bytes() {
		// Models registered before versions existed decode as version 1.
		assert_eq!(ExecutionProfile::Portable.encode(), vec![0]);
		assert_eq!(ExecutionProfile::Fast.encode(), vec![1]);
		assert_eq!(ExecutionProfile::portable(1), ExecutionProfile::Portable);
		assert_eq!(ExecutionProfile::portable(0), ExecutionProfile::Portable);
		assert_eq!(ExecutionProfile::portable(2), ExecutionProfile::PortableVersion(2));
		assert_eq!(ExecutionProfile::portable(7).encode(), vec![2, 7, 0]);
		for v in 1..=5 {
			assert_eq!(ExecutionProfile::portable(v).portable_version(), Some(v));
		}
		assert_eq!(ExecutionProfile::Fast.portable_version(), None);

		// A chain serving versions 1..=2: v1 spelled twice is refused, so is an unserved v3.
		assert!(ExecutionProfile::Portable.is_served_up_to(1));
		assert!(ExecutionProfile::Fast.is_served_up_to(1));
		assert!(ExecutionProfile::PortableVersion(2).is_served_up_to(2));
		assert!(!ExecutionProfile::PortableVersion(2).is_served_up_to(1));
		assert!(!ExecutionProfile::PortableVersion(3).is_served_up_to(2));
		assert!(!ExecutionProfile::PortableVersion(1).is_served_up_to(2));
		assert!(!ExecutionProfile::PortableVersion(0).is_served_up_to(2));

		// Command-line names round-trip in the canonical spelling.
		for p in [ExecutionProfile::Portable, ExecutionProfile::Fast, ExecutionProfile::PortableVersion(3)] {
			assert_eq!(p.to_string().parse::<ExecutionProfile>(), Ok(p));
		}
		assert_eq!("portable-v1".parse::<ExecutionProfile>(), Ok(ExecutionProfile::Portable));
		for bad in ["portable-v0", "portable-v", "portable-v65536", "Portable", "fast-v2", ""] {
			assert!(bad.parse::<ExecutionProfile>().is_err(), "{bad}");
		}
	}

	#[test]
	fn ulp_distance_is_integer_and_symmetric() {
		let one = 1.0f32.to_bits();
		assert!(f32_agree(one, one + 4, 4, 0));
		assert!(!f32_agree(one, one + 5, 4, 0));
		assert!(f32_agree(one + 4, one, 4, 0));
		// Across zero: -0 and +0 coincide, and the smallest subnormals of both signs are 2 apart.
		assert!(f32_agree(0.0f32.to_bits(), (-0.0f32).to_bits(), 0, 0));
		assert!(f32_agree(1, 0x8000_0001, 2, 0));
		assert!(!f32_agree(1, 0x8000_0001, 1, 0));
	}

	#[test]
	fn honest_drift_is_accepted() {
		let a = tensor(&[0.1, -2.5, 3.25e-3, 0.0]);
		// One-ulp noise everywhere, and a sum taken in another order.
		let noisy: Vec<f32> = [0.1f32, -2.5, 3.25e-3, 0.0].iter().map(|v| f32::from_bits(v.to_bits() + 1)).collect();
		assert!(outputs_agree(RULE, &a, &tensor(&noisy)));
		let (x, y, z) = (0.1f32, 0.2f32, 0.3f32);
		assert!(outputs_agree(RULE, &tensor(&[(x + y) + z]), &tensor(&[x + (y + z)])));
		// Values near zero within the absolute tolerance agree whatever their ulps.
		assert!(outputs_agree(RULE, &tensor(&[1e-9]), &tensor(&[-5e-7])));
		assert!(outputs_agree(RULE, &tensor(&[2.0e-5]), &tensor(&[2.09e-5])));
		assert!(!outputs_agree(RULE, &tensor(&[2.0e-5]), &tensor(&[2.2e-5])));
	}

	#[test]
	fn absolute_tolerance_is_exact_integer_arithmetic() {
		let tol = 0.25f32.to_bits();
		assert!(f32_agree(1.0f32.to_bits(), 1.25f32.to_bits(), 0, tol));
		assert!(!f32_agree(1.0f32.to_bits(), f32::from_bits(1.25f32.to_bits() + 1).to_bits(), 0, tol));
		assert!(f32_agree((-0.125f32).to_bits(), 0.125f32.to_bits(), 0, tol));
		assert!(!f32_agree((-0.125f32).to_bits(), f32::from_bits(0.125f32.to_bits() + 1).to_bits(), 0, tol));
		// Subnormals, and magnitudes past 2^25 where only ulps count.
		assert!(f32_agree(1, 0x8000_0005, 0, 1e-30f32.to_bits()));
		assert!(!f32_agree(3.0e7f32.to_bits(), 3.0e7f32.to_bits() + 1, 0, 1e9f32.to_bits()));
		assert!(f32_agree(3.0e7f32.to_bits(), 3.0e7f32.to_bits() + 1, 1, 0));
		// Agreement against a float reference over a grid of values.
		for i in -300i32..300 {
			for j in [-7i32, -1, 0, 1, 3, 1000] {
				let (a, b) = (i as f32 * 1.37e-6, (i + j) as f32 * 1.37e-6 + 1e-9);
				let expected = ((a as f64) - (b as f64)).abs() <= 1e-5f32 as f64;
				assert_eq!(f32_agree(a.to_bits(), b.to_bits(), 0, 1e-5f32.to_bits()), expected, "{a} {b}");
			}
		}
	}

	#[test]
	fn perturbation_nan_and_shape_are_rejected() {
		let a = tensor(&[0.5, 0.25]);
		assert!(!outputs_agree(RULE, &a, &tensor(&[0.5, 0.2501])));
		assert!(!outputs_agree(RULE, &a, &tensor(&[0.5, f32::NAN])));
		assert!(!outputs_agree(RULE, &tensor(&[f32::INFINITY]), &tensor(&[f32::INFINITY])));
		assert!(!outputs_agree(RULE, &a, &tensor(&[0.5, 0.25, 0.0])));
		// Non-tensor outputs fall back to exact comparison.
		let t1 = Value::Text(b"yes".to_vec()).encode();
		assert!(outputs_agree(RULE, &t1, &t1));
		assert!(!outputs_agree(RULE, &t1, &Value::Text(b"no".to_vec()).encode()));
		assert!(!outputs_agree(RULE, &[0xff, 0x00], &[0xff, 0x01]));
	}

	fn named(tensors: Vec<(&str, TensorValue)>) -> Value {
		Value::Tensors(
			tensors.into_iter().map(|(n, tensor)| NamedTensor { name: n.as_bytes().to_vec(), tensor }).collect(),
		)
	}

	fn f32_tensor(values: &[f32]) -> TensorValue {
		TensorValue::F32 { shape: vec![values.len() as u32], bits: values.iter().map(|v| v.to_bits()).collect() }
	}

	#[test]
	fn named_tensors_agree_tensor_by_tensor() {
		let mask = TensorValue::Bool { shape: vec![2], data: vec![true, false] };
		let a = named(vec![("logits", f32_tensor(&[0.5, 0.25])), ("mask", mask.clone())]);
		let near =
			named(vec![("logits", f32_tensor(&[0.5, f32::from_bits(0.25f32.to_bits() + 1)])), ("mask", mask.clone())]);
		assert!(outputs_agree(RULE, &a.encode(), &near.encode()));
		assert!(!outputs_agree(ComparisonRule::Exact, &a.encode(), &near.encode()));
		// Non-f32 tensors compare exactly; names and order must match.
		let other_mask = named(vec![
			("logits", f32_tensor(&[0.5, 0.25])),
			("mask", TensorValue::Bool { shape: vec![2], data: vec![true, true] }),
		]);
		assert!(!outputs_agree(RULE, &a.encode(), &other_mask.encode()));
		let renamed = named(vec![("logit", f32_tensor(&[0.5, 0.25])), ("mask", mask.clone())]);
		assert!(!outputs_agree(RULE, &a.encode(), &renamed.encode()));
		assert!(!outputs_agree(RULE, &a.encode(), &named(vec![("logits", f32_tensor(&[0.5, 0.25]))]).encode()));
		// A lone f32 tensor is not the same answer as the same tensor named.
		assert!(!outputs_agree(RULE, &tensor(&[0.5, 0.25]), &named(vec![("x", f32_tensor(&[0.5, 0.25]))]).encode()));
	}

	#[test]
	fn named_tensors_are_canonical_in_ascending_name_order() {
		let t = || TensorValue::I32 { shape: vec![1], data: vec![7] };
		assert!(named(vec![("a", t()), ("b", t())]).is_canonical());
		assert!(!named(vec![("b", t()), ("a", t())]).is_canonical());
		assert!(!named(vec![("a", t()), ("a", t())]).is_canonical());
		assert!(!named(vec![("", t())]).is_canonical());
		assert!(!Value::Tensors(vec![NamedTensor { name: vec![0xff], tensor: t() }]).is_canonical());
		assert!(
			named(vec![]).is_empty()
				&& named(vec![("a", TensorValue::I32 { shape: vec![0], data: vec![] })]).is_empty()
		);
		assert!(!named(vec![("a", t())]).is_empty());
		// A bool is one byte, 0 or 1; anything else does not decode.
		let flags = named(vec![("m", TensorValue::Bool { shape: vec![1], data: vec![true] })]).encode();
		let mut bad = flags.clone();
		*bad.last_mut().unwrap() = 2;
		assert!(Value::decode(&mut &flags[..]).is_ok() && Value::decode(&mut &bad[..]).is_err());
		// Strings are UTF-8, compared exactly.
		let labels = |l: &[&[u8]]| {
			named(vec![(
				"label",
				TensorValue::Str { shape: vec![l.len() as u32], data: l.iter().map(|s| s.to_vec()).collect() },
			)])
		};
		assert!(labels(&[b"cat", "d\u{f6}g".as_bytes()]).is_canonical());
		assert!(!labels(&[b"cat", &[0xc3]]).is_canonical());
		assert!(outputs_agree(RULE, &labels(&[b"cat"]).encode(), &labels(&[b"cat"]).encode()));
		assert!(!outputs_agree(RULE, &labels(&[b"cat"]).encode(), &labels(&[b"dog"]).encode()));
		assert_eq!(TensorValue::Str { shape: vec![0], data: vec![] }.dtype(), "string");
	}

	#[test]
	fn grouping_and_quorum() {
		let (a, b): (&[u8], &[u8]) = (b"yes", b"no");
		let exact = |x: &&[u8], y: &&[u8]| outputs_agree(ComparisonRule::Exact, x, y);
		assert_eq!(largest_agreeing_group(&[a, b, a], exact), Some((0, vec![0, 2])));
		assert_eq!(largest_agreeing_group(&[b, a, a], exact), Some((1, vec![1, 2])));
		assert_eq!(largest_agreeing_group::<&[u8]>(&[], exact), None);
		assert_eq!([1, 2, 3, 4, 5, 7].map(quorum), [1, 2, 2, 3, 4, 5]);
	}

	#[test]
	fn commitment_binds_the_member_and_the_salt() {
		let out = Answer::Output(b"out".to_vec());
		let (salt, other_salt) = ([7u8; 32], [8u8; 32]);
		assert_ne!(commitment(&out, &1u64, &salt), commitment(&out, &2u64, &salt));
		assert_ne!(commitment(&out, &1u64, &salt), commitment(&Answer::Output(b"ou".to_vec()), &1u64, &salt));
		assert_ne!(commitment(&out, &1u64, &salt), commitment(&out, &1u64, &other_salt));
		assert_ne!(
			commitment(&Answer::Rejected(Rejection::NotFinite), &1u64, &salt),
			commitment(&Answer::Rejected(Rejection::WrongShape), &1u64, &salt)
		);
		assert_eq!(commitment(&out, &1u64, &salt), commitment(&out, &1u64, &salt));
		// A sealed reveal opens the same commitment with the answer's digest alone.
		assert_eq!(commitment(&out, &1u64, &salt), sealed_commitment(&answer_digest(&out), &1u64, &salt));
		assert_ne!(commitment(&out, &1u64, &salt), legacy_commitment(&out, &1u64, &salt));
	}

	#[test]
	fn refusals_agree_only_with_the_same_refusal() {
		let rule = RULE;
		let nan = Answer::Rejected(Rejection::NotFinite);
		assert!(answers_agree(rule, &nan, &nan));
		assert!(!answers_agree(rule, &nan, &Answer::Rejected(Rejection::WrongShape)));
		let out = Answer::Output(tensor(&[0.5]));
		assert!(!answers_agree(rule, &nan, &out));
		assert!(answers_agree(rule, &out, &Answer::Output(tensor(&[f32::from_bits(0.5f32.to_bits() + 1)]))));
	}
}

/// A registered model, as the runtime API reports it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct ModelInfo<AccountId, Balance> {
	pub owner: AccountId,
	pub format: ModelFormat,
	pub architecture: Vec<u8>,
	pub price: Balance,
	pub rule: ComparisonRule,
	pub profile: ExecutionProfile,
	pub uris: Vec<Vec<u8>>,
}

/// Where a request is, as the runtime API reports it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub enum RequestStatus<BlockNumber> {
	/// No open request and no retained result under this id.
	Unknown,
	/// Waiting for the next block to draw its committee.
	Drawing,
	/// Committee `round` commits in blocks up to `ends`, inclusive.
	Commit { round: u8, ends: BlockNumber },
	/// Committee `round` reveals in blocks up to `ends`, inclusive.
	Reveal { round: u8, ends: BlockNumber },
	/// Settled with `output` at block `at` (kept for the retention window).
	Settled { output: Value, at: BlockNumber },
	/// The committee agreed that the model refuses the input, for `reason`, at block `at`.
	Rejected { reason: Rejection, at: BlockNumber },
}

/// What a committee member must do now.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, TypeInfo, Debug)]
pub enum Duty {
	/// Run the model on the input and submit a commitment.
	Commit,
	/// Reveal the output committed to.
	Reveal,
	/// Reveal the digest of the answer committed to, and the salt, not the answer: the first
	/// round of a request that may escalate is sealed until the escalated round has committed.
	RevealDigest,
	/// Publish the answer of a sealed first round (`round` 0) whose digest was revealed.
	Publish,
}

/// One open duty of a worker.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct Assignment<ModelId, BlockNumber> {
	pub request: u64,
	pub round: u8,
	pub model: ModelId,
	pub input: Vec<u8>,
	pub duty: Duty,
	/// The last block a submission can be included in; the next block's `on_initialize`
	/// closes the phase (or a later one's, when blocks are full: the submission is refused
	/// after `ends` all the same).
	pub ends: BlockNumber,
}

sp_api::decl_runtime_apis! {
	/// Inference state for nodes (the worker) and clients.
	///
	/// Version 2: `request_status` reports a settled output as a [`Value`] instead of its bytes.
	/// Version 3: commitments bind the answer by its digest ([`commitment`]); sealed first
	/// rounds (`Duty::RevealDigest`, `Duty::Publish`).
	#[api_version(3)]
	pub trait InferenceApi<AccountId, Balance, BlockNumber, WorkerKey>
	where
		AccountId: codec::Codec,
		Balance: codec::Codec,
		BlockNumber: codec::Codec,
		WorkerKey: codec::Codec,
	{
		/// A registered model.
		fn model(model: crate::ModelId) -> Option<ModelInfo<AccountId, Balance>>;
		/// What a request on `model` with `seats` committee members costs at most.
		fn quote(model: crate::ModelId, seats: u32) -> Option<Balance>;
		/// Where request `id` is.
		fn request_status(id: u64) -> RequestStatus<BlockNumber>;
		/// What the worker with this key must do now.
		fn assignments(key: WorkerKey) -> Vec<Assignment<crate::ModelId, BlockNumber>>;
		/// The stash account registered with a worker key: the member its commitments bind.
		fn worker_of_key(key: WorkerKey) -> Option<AccountId>;
	}
}
