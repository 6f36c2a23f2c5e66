//! The node's RPC methods beyond Substrate's defaults: account nonces, fee queries, BABE's
//! slot assignments (`babe_epochAuthorship`, which slots this node's keys may author) and
//! GRANDPA's state (`grandpa_roundState`: the voter's set, round and who has not voted;
//! `grandpa_proveFinality`, `grandpa_subscribeJustifications`).

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
	pub grandpa: GrandpaDeps,
}

/// What GRANDPA's RPC methods read: the voter's state and the chain's authority sets.
pub struct GrandpaDeps {
	pub shared_voter_state: sc_consensus_grandpa::SharedVoterState,
	pub shared_authority_set:
		sc_consensus_grandpa::SharedAuthoritySet<opg_primitives::Hash, opg_primitives::BlockNumber>,
	pub justification_stream: sc_consensus_grandpa::GrandpaJustificationStream<Block>,
	pub subscription_executor: sc_rpc::SubscriptionTaskExecutor,
	pub finality_provider: Arc<sc_consensus_grandpa::FinalityProofProvider<crate::service::FullBackend, Block>>,
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
	use sc_consensus_grandpa_rpc::{Grandpa, GrandpaApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let FullDeps { client, pool, select_chain, babe_worker, keystore, grandpa } = deps;
	let mut module = RpcModule::new(());
	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(Babe::new(client, babe_worker, keystore, select_chain).into_rpc())?;
	module.merge(
		Grandpa::new(
			grandpa.subscription_executor,
			grandpa.shared_authority_set,
			grandpa.shared_voter_state,
			grandpa.justification_stream,
			grandpa.finality_provider,
		)
		.into_rpc(),
	)?;
	Ok(module)
}
