//! Every way the engine can refuse a model or an input, as a typed error.

use std::path::PathBuf;

/// Why an input was refused before execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
	#[error("the input is empty")]
	Empty,
	#[error("wrong input type: the model takes {expected}, got {got}")]
	WrongType { expected: &'static str, got: &'static str },
	#[error("wrong input shape: the model takes {expected}, got {got:?}")]
	WrongShape { expected: String, got: Vec<u32> },
	#[error("tensor shape {shape:?} does not match its {elements} elements")]
	Inconsistent { shape: Vec<u32>, elements: usize },
	#[error("input of {size} elements exceeds the limit of {limit}")]
	TooLarge { size: usize, limit: usize },
	#[error("text is {tokens} tokens long; the model takes at most {limit}")]
	TextTooLong { tokens: usize, limit: usize },
	#[error("text is not valid UTF-8")]
	NotUtf8,
	#[error("token id {token} is outside the vocabulary of {vocab}")]
	TokenOutOfRange { token: u32, vocab: usize },
	#[error("the input does not decode as a value: {0}")]
	Undecodable(String),
	#[error("the input holds a NaN or an infinity at element {index}")]
	NotFinite { index: usize },
	#[error("integer division by zero or overflowing integer division in {node}")]
	DivisionByZero { node: String },
	#[error("the model takes the tensors {expected:?}, got {got:?}")]
	WrongInputs { expected: Vec<String>, got: Vec<String> },
}

impl InputError {
	/// The typed refusal every honest worker commits to for this input.
	pub fn rejection(&self) -> opg_primitives::inference::Rejection {
		use opg_primitives::inference::Rejection;
		match self {
			InputError::Empty => Rejection::Empty,
			InputError::WrongType { .. } => Rejection::WrongType,
			InputError::WrongShape { .. } => Rejection::WrongShape,
			InputError::Inconsistent { .. } => Rejection::InconsistentShape,
			InputError::TooLarge { .. } => Rejection::TooLarge,
			InputError::TextTooLong { .. } => Rejection::TextTooLong,
			InputError::NotUtf8 => Rejection::NotUtf8,
			InputError::TokenOutOfRange { .. } => Rejection::TokenOutOfRange,
			InputError::Undecodable(_) => Rejection::Undecodable,
			InputError::NotFinite { .. } => Rejection::NotFinite,
			InputError::DivisionByZero { .. } => Rejection::DivisionByZero,
			InputError::WrongInputs { .. } => Rejection::WrongType,
		}
	}
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
	#[error("{path}: {source}")]
	Io { path: PathBuf, source: std::io::Error },
	#[error("invalid manifest: {0}")]
	Manifest(String),
	#[error("unsafe path in bundle: {0:?}")]
	UnsafePath(String),
	#[error("{path}: size is {actual} bytes, the manifest says {expected}")]
	SizeMismatch { path: String, expected: u64, actual: u64 },
	#[error("{path}: content hash is {actual}, the manifest says {expected}")]
	HashMismatch { path: String, expected: String, actual: String },
	#[error("model {0} is not in the store")]
	UnknownModel(String),
	#[error("model {id} failed verification: {reason}")]
	Corrupt { id: String, reason: String },
	#[error("import exceeds the size limit of {limit} bytes")]
	TooLarge { limit: u64 },
	#[error("download of {url} failed: {reason}")]
	Download { url: String, reason: String },
	#[error("unsupported ONNX operators: {}", .0.join(", "))]
	UnsupportedOperators(Vec<String>),
	#[error("unsupported ONNX opset: {domain} version {version} (supported: default domain, {min}..={max})")]
	UnsupportedOpset { domain: String, version: i64, min: i64, max: i64 },
	#[error("unsupported ONNX data type {dtype} in {place}")]
	UnsupportedDtype { dtype: i32, place: String },
	#[error("portable profile version {version} is not implemented by this engine (it implements {implemented})")]
	UnsupportedProfile { version: u16, implemented: String },
	#[error("model does not match its format: {0}")]
	Model(String),
	#[error("cannot make a bundle: {0}")]
	Bundle(String),
	#[error("invalid input: {0}")]
	Input(#[from] InputError),
}

impl From<candle_core::Error> for EngineError {
	fn from(e: candle_core::Error) -> Self {
		EngineError::Model(e.to_string())
	}
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Attach a path to an I/O error.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
	let path = path.into();
	move |source| EngineError::Io { path, source }
}
