//! The node's RPC methods beyond Substrate's defaults: account nonces, fee queries and BABE's
//! slot assignments (`babe_epochAuthorship`, which slots this node's keys may author).

use std::sync::Arc;

use jsonrpsee::RpcModule;
use opg_primitives::{AccountId, Balance, Nonce};
use opg_runtime::opaque::Block;
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};

/// What the RPC extensions need from the node.
pub struct FullDeps<C, P, SC> {
	pub client: Arc<C>,
	pub pool: Arc<P>,
	pub select_chain: SC,
	/// Answers BABE's epoch questions from the import queue's view of epoch changes.
	pub babe_worker: sc_consensus_babe::BabeWorkerHandle<Block>,
	pub keystore: sp_keystore::KeystorePtr,
}

/// Build the RPC module with every extension of this node.
pub fn create_full<C, P, SC>(
	deps: FullDeps<C, P, SC>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = BlockChainError>
		+ Send
		+ Sync
		+ 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>,
	C::Api: pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>,
	C::Api: BlockBuilder<Block>,
	C::Api: sp_consensus_babe::BabeApi<Block>,
	P: TransactionPool + 'static,
	SC: sp_consensus::SelectChain<Block> + Clone + 'static,
{
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use sc_consensus_babe_rpc::{Babe, BabeApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let FullDeps { client, pool, select_chain, babe_worker, keystore } = deps;
	let mut module = RpcModule::new(());
	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(Babe::new(client, babe_worker, keystore, select_chain).into_rpc())?;
	Ok(module)
}
