//! The full node: client, database, networking, BABE authoring, GRANDPA finality, off-chain
//! workers and RPC.

use crate::cli::WorkerParams;
use futures::FutureExt;
use opg_runtime::{apis::RuntimeApi, opaque::Block};
use sc_client_api::{Backend, BlockBackend};
use sc_consensus_grandpa::SharedVoterState;
use sc_consensus_slots::SlotProportion;
use sc_service::{error::Error as ServiceError, Configuration, TaskManager, WarpSyncConfig};
use sc_telemetry::{Telemetry, TelemetryWorker};
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use std::{sync::Arc, time::Duration};

pub(crate) type FullClient =
	sc_service::TFullClient<Block, RuntimeApi, sc_executor::WasmExecutor<sp_io::SubstrateHostFunctions>>;
pub(crate) type FullBackend = sc_service::TFullBackend<Block>;
type FullSelectChain = sc_consensus::LongestChain<FullBackend, Block>;
type GrandpaBlockImport = sc_consensus_grandpa::GrandpaBlockImport<FullBackend, Block, FullClient, FullSelectChain>;
type GrandpaLink = sc_consensus_grandpa::LinkHalf<Block, FullClient, FullSelectChain>;
/// BABE's import checks slot claims and VRF outputs, then hands the block to GRANDPA's.
type BabeBlockImport =
	sc_consensus_babe::BabeBlockImport<Block, FullClient, GrandpaBlockImport, BabeInherents, FullSelectChain>;

/// Every 512 blocks GRANDPA stores a justification, so syncing nodes can prove finality.
const GRANDPA_JUSTIFICATION_PERIOD: u32 = 512;

pub type Service = sc_service::PartialComponents<
	FullClient,
	FullBackend,
	FullSelectChain,
	sc_consensus::DefaultImportQueue<Block>,
	sc_transaction_pool::TransactionPoolHandle<Block, FullClient>,
	(
		BabeBlockImport,
		sc_consensus_babe::BabeLink<Block>,
		sc_consensus_babe::BabeWorkerHandle<Block>,
		GrandpaLink,
		Option<Telemetry>,
	),
>;

/// BABE's inherents for a block, when authoring it and when importing it: the wall-clock
/// timestamp and the slot it falls in.
#[derive(Clone)]
pub struct BabeInherents {
	slot_duration: sp_consensus_babe::SlotDuration,
}

#[async_trait::async_trait]
impl sp_inherents::CreateInherentDataProviders<Block, ()> for BabeInherents {
	type InherentDataProviders =
		(sp_consensus_babe::inherents::InherentDataProvider, sp_timestamp::InherentDataProvider);

	async fn create_inherent_data_providers(
		&self,
		_parent: <Block as sp_runtime::traits::Block>::Hash,
		_: (),
	) -> Result<Self::InherentDataProviders, Box<dyn std::error::Error + Send + Sync>> {
		let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
		let slot = sp_consensus_babe::inherents::InherentDataProvider::from_timestamp_and_slot_duration(
			*timestamp,
			self.slot_duration,
		);
		Ok((slot, timestamp))
	}
}

/// The parts every subcommand needs: client, database, pool and import queue.
pub fn new_partial(config: &Configuration) -> Result<Service, ServiceError> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|x| !x.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let executor = sc_service::new_wasm_executor::<sp_io::SubstrateHostFunctions>(&config.executor);
	let (client, backend, keystore_container, task_manager) = sc_service::new_full_parts::<Block, RuntimeApi, _>(
		config,
		telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
		executor,
		Vec::new(),
	)?;
	let client = Arc::new(client);

	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let select_chain = sc_consensus::LongestChain::new(backend.clone());

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let (grandpa_block_import, grandpa_link) = sc_consensus_grandpa::block_import(
		client.clone(),
		GRANDPA_JUSTIFICATION_PERIOD,
		&client,
		select_chain.clone(),
		telemetry.as_ref().map(|x| x.handle()),
	)?;

	let babe_config = sc_consensus_babe::configuration(&*client)?;
	let slot_duration = babe_config.slot_duration();
	let (block_import, babe_link) = sc_consensus_babe::block_import(
		babe_config,
		grandpa_block_import.clone(),
		client.clone(),
		BabeInherents { slot_duration },
		select_chain.clone(),
		OffchainTransactionPoolFactory::new(transaction_pool.clone()),
	)?;
	// The worker handle must live as long as the node: BABE's epoch task ends when it is dropped.
	let (import_queue, babe_worker) = sc_consensus_babe::import_queue(sc_consensus_babe::ImportQueueParams {
		link: babe_link.clone(),
		block_import: block_import.clone(),
		justification_import: Some(Box::new(grandpa_block_import)),
		client: client.clone(),
		slot_duration,
		spawner: &task_manager.spawn_essential_handle(),
		registry: config.prometheus_registry(),
		telemetry: telemetry.as_ref().map(|x| x.handle()),
	})?;

	Ok(sc_service::PartialComponents {
		client,
		backend,
		task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, babe_link, babe_worker, grandpa_link, telemetry),
	})
}

/// Whether the inference worker runs: asked for, or a validator of a development chain.
fn worker_enabled(config: &Configuration, params: &WorkerParams) -> bool {
	use sc_service::ChainType;
	let dev_chain = matches!(config.chain_spec.chain_type(), ChainType::Development | ChainType::Local);
	params.worker || (!params.no_worker && config.role.is_authority() && dev_chain)
}

/// The worker's settings, with defaults under the node's base path.
fn worker_config(config: &Configuration, params: &WorkerParams) -> crate::worker::WorkerConfig {
	let base = config.base_path.path().to_path_buf();
	crate::worker::WorkerConfig {
		model_store: params.model_store.clone().unwrap_or_else(|| base.join("models")),
		journal: config.base_path.config_dir(config.chain_spec.id()).join("worker"),
		memory_bytes: params.worker_memory.saturating_mul(1 << 20),
		queue: params.worker_jobs as usize,
		threads: params.worker_threads.map(|n| n as usize),
		max_model_bytes: params.worker_max_model_size.saturating_mul(1 << 20),
		fault: params.unsafe_worker_fault,
	}
}

/// Development chains start with worker keys in the keystore, like their BABE and GRANDPA
/// keys: `//<Name>//opg-worker` for the `--alice`-style key of this node, and on the `dev`
/// chain also Bob's and Charlie's, so one node holds a full committee of three.
fn insert_dev_worker_keys(config: &Configuration, keystore: &sp_keystore::KeystorePtr) -> Result<(), ServiceError> {
	use sp_keystore::Keystore;
	let Some(seed) = config.dev_key_seed.clone() else {
		return Ok(());
	};
	let mut seeds = vec![seed];
	if config.chain_spec.chain_type() == sc_service::ChainType::Development {
		seeds.extend(["//Bob".to_string(), "//Charlie".to_string()]);
	}
	seeds.dedup();
	for seed in seeds {
		keystore
			.sr25519_generate_new(opg_primitives::worker::WORKER_KEY_TYPE, Some(&format!("{seed}//opg-worker")))
			.map_err(|e| ServiceError::Other(format!("cannot add the dev worker key {seed}//opg-worker: {e}")))?;
	}
	Ok(())
}

/// Build and start a full node (an authority when started with `--validator` or a dev key).
pub fn new_full<N: sc_network::NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>>(
	config: Configuration,
	worker: WorkerParams,
) -> Result<TaskManager, ServiceError> {
	let sc_service::PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, babe_link, babe_worker, grandpa_link, mut telemetry),
	} = new_partial(&config)?;

	let mut net_config = sc_network::config::FullNetworkConfiguration::<
		Block,
		<Block as sp_runtime::traits::Block>::Hash,
		N,
	>::new(&config.network, config.prometheus_registry().cloned());
	let metrics = N::register_notification_metrics(config.prometheus_registry());

	let genesis_hash = client
		.block_hash(0)
		.ok()
		.flatten()
		.ok_or_else(|| ServiceError::Other("the database has no genesis block".into()))?;
	let grandpa_protocol_name = sc_consensus_grandpa::protocol_standard_name(&genesis_hash, &config.chain_spec);
	let (grandpa_protocol_config, grandpa_notification_service) = sc_consensus_grandpa::grandpa_peers_set_config::<_, N>(
		grandpa_protocol_name.clone(),
		metrics.clone(),
		net_config.peer_store_handle(),
	);
	net_config.add_notification_protocol(grandpa_protocol_config);

	let warp_sync = Arc::new(sc_consensus_grandpa::warp_proof::NetworkProvider::new(
		backend.clone(),
		grandpa_link.shared_authority_set().clone(),
		Vec::default(),
	));

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			block_announce_validator_builder: None,
			warp_sync_config: Some(WarpSyncConfig::WithProvider(warp_sync)),
			block_relay: None,
			metrics,
			gap_sync_body_policy: None,
		})?;

	if config.offchain_worker.enabled {
		let offchain_workers = sc_offchain::OffchainWorkers::new(sc_offchain::OffchainWorkerOptions {
			runtime_api_provider: client.clone(),
			is_validator: config.role.is_authority(),
			keystore: Some(keystore_container.keystore()),
			offchain_db: backend.offchain_storage(),
			transaction_pool: Some(OffchainTransactionPoolFactory::new(transaction_pool.clone())),
			network_provider: Arc::new(network.clone()),
			enable_http_requests: true,
			custom_extensions: |_| vec![],
		})?;
		task_manager.spawn_handle().spawn(
			"offchain-workers-runner",
			"offchain-worker",
			offchain_workers.run(client.clone(), task_manager.spawn_handle()).boxed(),
		);
	}

	let worker = worker_enabled(&config, &worker).then(|| worker_config(&config, &worker));
	if worker.is_some() {
		insert_dev_worker_keys(&config, &keystore_container.keystore())?;
	}

	let role = config.role;
	let force_authoring = config.force_authoring;
	let name = config.network.node_name.clone();
	let enable_grandpa = !config.disable_grandpa;
	let prometheus_registry = config.prometheus_registry().cloned();

	// Shared with the voter below, so `grandpa_roundState` reads the rounds it is in.
	let shared_voter_state = SharedVoterState::empty();
	let rpc_builder = {
		let client = client.clone();
		let pool = transaction_pool.clone();
		let select_chain = select_chain.clone();
		let keystore = keystore_container.keystore();
		let shared_voter_state = shared_voter_state.clone();
		let shared_authority_set = grandpa_link.shared_authority_set().clone();
		let justification_stream = grandpa_link.justification_stream();
		let finality_provider = sc_consensus_grandpa::FinalityProofProvider::new_for_service(
			backend.clone(),
			Some(shared_authority_set.clone()),
		);
		Box::new(move |subscription_executor| {
			let deps = crate::rpc::FullDeps {
				client: client.clone(),
				pool: pool.clone(),
				select_chain: select_chain.clone(),
				babe_worker: babe_worker.clone(),
				keystore: keystore.clone(),
				grandpa: crate::rpc::GrandpaDeps {
					shared_voter_state: shared_voter_state.clone(),
					shared_authority_set: shared_authority_set.clone(),
					justification_stream: justification_stream.clone(),
					subscription_executor,
					finality_provider: finality_provider.clone(),
				},
			};
			crate::rpc::create_full(deps).map_err(Into::into)
		})
	};

	if let Some(worker) = worker {
		crate::worker::start(
			worker,
			client.clone(),
			transaction_pool.clone(),
			keystore_container.keystore(),
			sync_service.clone(),
			prometheus_registry.as_ref(),
			&task_manager.spawn_handle(),
		)
		.map_err(ServiceError::Other)?;
	}

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network: network.clone(),
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder,
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service: sync_service.clone(),
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if role.is_authority() {
		let proposer_factory = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool.clone(),
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|x| x.handle()),
		);

		let slot_duration = babe_link.config().slot_duration();
		let babe = sc_consensus_babe::start_babe(sc_consensus_babe::BabeParams {
			keystore: keystore_container.keystore(),
			client,
			select_chain,
			env: proposer_factory,
			block_import,
			sync_oracle: sync_service.clone(),
			justification_sync_link: sync_service.clone(),
			create_inherent_data_providers: BabeInherents { slot_duration },
			force_authoring,
			backoff_authoring_blocks: Option::<()>::None,
			babe_link,
			block_proposal_slot_portion: SlotProportion::new(2f32 / 3f32),
			max_block_proposal_slot_portion: None,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
		})?;

		// Authoring is essential: if it stops, the node stops rather than idle silently.
		task_manager.spawn_essential_handle().spawn_blocking("babe", Some("block-authoring"), babe);
	}

	if enable_grandpa {
		// Only an authority votes, so only it needs the keystore.
		let keystore = if role.is_authority() { Some(keystore_container.keystore()) } else { None };

		let grandpa_config = sc_consensus_grandpa::Config {
			gossip_duration: Duration::from_millis(333),
			justification_generation_period: GRANDPA_JUSTIFICATION_PERIOD,
			name: Some(name),
			observer_enabled: false,
			keystore,
			local_role: role,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			protocol_name: grandpa_protocol_name,
		};

		let grandpa_params = sc_consensus_grandpa::GrandpaParams {
			config: grandpa_config,
			link: grandpa_link,
			network,
			sync: sync_service,
			notification_service: grandpa_notification_service,
			voting_rule: sc_consensus_grandpa::VotingRulesBuilder::default().build(),
			prometheus_registry,
			shared_voter_state,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			offchain_tx_pool_factory: OffchainTransactionPoolFactory::new(transaction_pool),
		};

		// Finality is essential too: a node that cannot vote or follow votes stops.
		task_manager.spawn_essential_handle().spawn_blocking(
			"grandpa-voter",
			None,
			sc_consensus_grandpa::run_grandpa_voter(grandpa_params)?,
		);
	}

	Ok(task_manager)
}
