//! What went wrong, in one sentence a user can act on.

/// A client error. Its `Display` is the sentence `opg` prints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
	#[error("cannot reach the node at {url}: {reason}")]
	Connect { url: String, reason: String },
	#[error("{0}")]
	Account(String),
	/// The user's input (an argument, an input file) is not usable.
	#[error("{0}")]
	Input(String),
	/// The chain or its transaction pool refused the transaction.
	#[error("{0}")]
	Refused(String),
	#[error("{0}")]
	NotFound(String),
	/// The model could not be fetched, loaded or run locally.
	#[error("{0}")]
	Engine(String),
	#[error("{0}")]
	Chain(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! from_subxt {
	($($t:ident),* $(,)?) => {$(
		impl From<subxt::error::$t> for Error {
			fn from(e: subxt::error::$t) -> Self {
				Error::Chain(e.to_string())
			}
		}
	)*};
}

from_subxt!(
	OnlineClientError,
	OnlineClientAtBlockError,
	StorageError,
	StorageValueError,
	StorageKeyError,
	ConstantError,
	RuntimeApiError,
	EventsError,
	ExtrinsicError,
	BlocksError,
	BackendError,
	TransactionProgressError,
	TransactionEventsError,
	ExtrinsicDecodeErrorAt,
);

impl From<subxt::rpcs::Error> for Error {
	fn from(e: subxt::rpcs::Error) -> Self {
		Error::Chain(e.to_string())
	}
}

impl From<opg_engine::EngineError> for Error {
	fn from(e: opg_engine::EngineError) -> Self {
		Error::Engine(e.to_string())
	}
}
