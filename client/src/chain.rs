//! A connection to a node: typed queries at a block, and signed transactions followed into a
//! block with their dispatch errors turned into sentences.

use crate::{
	account::Signer,
	config::OpgConfig,
	error::{Error, Result},
	runtime,
};
use std::sync::Arc;
use subxt::{
	backend::LegacyBackend,
	client::{ClientAtBlock, OnlineClient, OnlineClientAtBlockImpl},
	config::{substrate::H256, DefaultExtrinsicParamsBuilder, RpcConfigFor},
	error::{DispatchError, TransactionEventsError},
	events::Events,
	rpcs::{methods::legacy::LegacyRpcMethods, RpcClient},
	tx::{Payload, TransactionStatus},
	utils::AccountId32,
};

/// The client's view of the chain at one block.
pub type AtBlock = ClientAtBlock<OpgConfig, OnlineClientAtBlockImpl<OpgConfig>>;

/// The node's default RPC endpoint.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:9944";

/// A connected node.
#[derive(Clone)]
pub struct Chain {
	pub api: OnlineClient<OpgConfig>,
	pub rpc: LegacyRpcMethods<RpcConfigFor<OpgConfig>>,
	/// The bare JSON-RPC connection, for the node's methods subxt has no wrapper for.
	pub raw: RpcClient,
	pub url: String,
}

/// An account's balances: `held` is what holds and reserves keep (escrows, bonds, deposits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
	pub free: u128,
	pub held: u128,
	pub frozen: u128,
}

/// A transaction in a block, with the events it emitted.
pub struct Included {
	pub block_number: u64,
	pub block_hash: H256,
	pub events: Events<OpgConfig>,
	pub extrinsic_index: u32,
}

impl Chain {
	/// Connect over WebSocket. Uses the node's plain JSON-RPC methods, so any block the node
	/// still holds can be read, best or finalized.
	pub async fn connect(url: &str) -> Result<Self> {
		// jsonrpsee nests its errors ("RPC error: client error: …"): keep the innermost words.
		let connect_error = |e: &dyn std::fmt::Display| {
			let text = e.to_string();
			let reason = text.rsplit("error: ").next().unwrap_or(&text).to_string();
			Error::Connect { url: url.to_string(), reason }
		};
		let client = RpcClient::from_insecure_url(url).await.map_err(|e| connect_error(&e))?;
		let backend = LegacyBackend::<OpgConfig>::builder().build(client.clone());
		let api = OnlineClient::from_backend_with_config(OpgConfig::default(), Arc::new(backend))
			.await
			.map_err(|e| connect_error(&e))?;
		Ok(Self { api, rpc: LegacyRpcMethods::new(client.clone()), raw: client, url: url.to_string() })
	}

	/// The chain at its best block.
	pub async fn at_best(&self) -> Result<AtBlock> {
		let hash = self
			.rpc
			.chain_get_block_hash(None)
			.await?
			.ok_or_else(|| Error::Chain("the node has no best block".into()))?;
		Ok(self.api.at_block(hash).await?)
	}

	/// The chain at its last finalized block.
	pub async fn at_finalized(&self) -> Result<AtBlock> {
		let hash = self.rpc.chain_get_finalized_head().await?;
		Ok(self.api.at_block(hash).await?)
	}

	/// The chain at block `number` of the best chain.
	pub async fn at_number(&self, number: u64) -> Result<AtBlock> {
		Ok(self.api.at_block(number).await?)
	}

	/// The best block's number.
	pub async fn best_number(&self) -> Result<u64> {
		let header =
			self.rpc.chain_get_header(None).await?.ok_or_else(|| Error::Chain("the node has no best block".into()))?;
		Ok(header.number.into())
	}

	/// Balances of `who` at the best block.
	pub async fn balance(&self, who: &AccountId32) -> Result<Balance> {
		let at = self.at_best().await?;
		let account = at.storage().fetch(runtime::storage().system().account(), (who.clone(),)).await?.decode()?;
		Ok(Balance { free: account.data.free, held: account.data.reserved, frozen: account.data.frozen })
	}

	/// Free balance of `who` at the best block.
	pub async fn free_balance(&self, who: &AccountId32) -> Result<u128> {
		Ok(self.balance(who).await?.free)
	}

	/// Sign `call` with the pool-aware next nonce, submit it, and wait until it is in a best
	/// block. A dispatch error comes back as [`Error::Refused`] with the error's own words.
	pub async fn submit<Call: Payload>(&self, call: &Call, signer: &Signer) -> Result<Included> {
		self.submit_holding(call, signer, 0, "").await
	}

	/// [`Chain::submit`] for a call that will hold `hold` of the signer's free balance
	/// (`what` names it): refused in words unless the signer can pay the fee, the hold, and keep
	/// its existential deposit.
	pub async fn submit_holding<Call: Payload>(
		&self,
		call: &Call,
		signer: &Signer,
		hold: u128,
		what: &str,
	) -> Result<Included> {
		// The next nonce is read at the node's best block and its pool. Just after the signer's
		// previous transaction went into a block, on a fork the pool already validates against
		// but the best block is not yet, it can be one behind ("Transaction is outdated"): then
		// it is read again and the transaction signed anew, a few times.
		let mut attempts = 0;
		let mut progress = loop {
			attempts += 1;
			let nonce = self.rpc.system_account_next_index(&signer.account_id()).await?;
			let params = DefaultExtrinsicParamsBuilder::<OpgConfig>::new().nonce(nonce).mortal(64).build();
			// The mortal era signs its birth block's hash: a best block that a fork later
			// retracts would leave the transaction with a bad proof on the chain that wins, so it
			// is born at the finalized block, which no fork retracts.
			let at = self.at_finalized().await?;
			let tx = at.transactions().create_signed(call, &signer.keypair, params).await?;
			// The pool answers a fee it cannot charge with a bare "Invalid Transaction (1010)":
			// say it in words before submitting.
			let fee = tx.partial_fee_estimate().await?;
			let free = self.free_balance(&signer.account_id()).await?;
			let existential = at.constants().entry(runtime::constants().balances().existential_deposit())?;
			let needed = fee.saturating_add(hold).saturating_add(if hold > 0 { existential } else { 0 });
			if free < needed {
				use crate::amount::format_opg;
				let also = if hold > 0 {
					format!(" plus {what} {} and the existential deposit {}", format_opg(hold), format_opg(existential))
				} else {
					String::new()
				};
				return Err(Error::Refused(format!(
					"{} has {} free, less than the transaction fee {}{also}",
					signer.account_id(),
					format_opg(free),
					format_opg(fee),
				)));
			}
			match tx.submit_and_watch().await {
				Ok(progress) => break progress,
				Err(e) => {
					let reason = refusal(&e);
					if reason.contains(STALE_NONCE) && attempts < NONCE_ATTEMPTS {
						tokio::time::sleep(std::time::Duration::from_secs(1)).await;
						continue;
					}
					let tries = if attempts > 1 {
						format!(" (signed {attempts} times, the nonce read anew each time)")
					} else {
						String::new()
					};
					return Err(Error::Refused(format!(
						"the node refused the transaction: {}{tries}",
						pool_reason(&reason)
					)));
				},
			}
		};
		while let Some(status) = progress.next().await {
			match status? {
				TransactionStatus::InBestBlock(in_block) | TransactionStatus::InFinalizedBlock(in_block) => {
					let events = in_block.wait_for_success().await.map_err(dispatch_error)?;
					let at = in_block.at().await?;
					return Ok(Included {
						block_number: at.block_number(),
						block_hash: in_block.block_hash(),
						events: at.events().fetch().await?,
						extrinsic_index: events.extrinsic_index() as u32,
					});
				},
				TransactionStatus::Error { message }
				| TransactionStatus::Invalid { message }
				| TransactionStatus::Dropped { message } => {
					return Err(Error::Refused(format!("the transaction was dropped: {message}")));
				},
				_ => {},
			}
		}
		Err(Error::Chain("the node stopped reporting on the transaction".into()))
	}
}

/// The pool's words for a nonce already used at the block it validates against.
const STALE_NONCE: &str = "Transaction is outdated";
/// How many times a transaction is signed with a freshly read nonce before its refusal stands.
const NONCE_ATTEMPTS: u32 = 3;

/// The RPC error's words with its data: the pool says why it refused a transaction ("Transaction
/// is outdated", "Transaction has a bad signature", ...) in the data, not in the message.
fn refusal(e: &subxt::error::ExtrinsicError) -> String {
	use subxt::error::{BackendError, ExtrinsicError, RpcError};
	match e {
		ExtrinsicError::ErrorSubmittingTransaction(BackendError::Rpc(RpcError::ClientError(
			subxt::rpcs::Error::User(user),
		))) => match &user.data {
			// The data is JSON: usually a string, shown without its quotes and escapes.
			Some(data) => {
				let words = serde_json::from_str::<String>(data.get()).unwrap_or_else(|_| data.get().to_string());
				format!("{user}: {words}")
			},
			None => user.to_string(),
		},
		other => other.to_string(),
	}
}

/// The pool's reason, without the RPC error's wrapping.
fn pool_reason(message: &str) -> String {
	if message.contains("Inability to pay some fees") {
		"the account cannot pay the transaction fee (balance too low)".into()
	} else if message.contains("Priority is too low") {
		"a transaction with the same nonce is already pending".into()
	} else {
		message.to_string()
	}
}

/// A failed dispatch as `Pallet.Error: what the error's documentation says`.
fn dispatch_error(e: TransactionEventsError) -> Error {
	match e {
		TransactionEventsError::ExtrinsicFailed(DispatchError::Module(module)) => match module.details() {
			Ok(details) => {
				let docs = details.variant.docs.join(" ");
				Error::Refused(format!(
					"the chain refused it: {}.{}{}",
					details.pallet.name(),
					details.variant.name,
					if docs.is_empty() { String::new() } else { format!(" ({docs})") }
				))
			},
			Err(_) => Error::Refused(format!("the chain refused it: {}", module.details_string())),
		},
		TransactionEventsError::ExtrinsicFailed(other) => Error::Refused(format!("the chain refused it: {other}")),
		other => Error::Chain(other.to_string()),
	}
}
