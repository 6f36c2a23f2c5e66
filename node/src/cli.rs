//! Command line: the standard Substrate node CLI, plus the inference worker's options.

use sc_cli::RunCmd;
use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: RunCmd,

	#[clap(flatten)]
	pub worker: WorkerParams,
}

/// How this node's inference worker runs: it answers the committee duties of every worker key
/// (`opgw`) in the keystore by running the models with `opg-engine`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerParams {
	/// Run the inference worker. On by default for validators of the `dev` and `local` chains.
	#[arg(long, conflicts_with = "no_worker")]
	pub worker: bool,

	/// Do not run the inference worker, whatever the chain.
	#[arg(long)]
	pub no_worker: bool,

	/// Where fetched models are kept, verified against their ids [default: <base-path>/models].
	#[arg(long, value_name = "DIR")]
	pub model_store: Option<PathBuf>,

	/// Memory for loaded models, in MiB; the least recently used are unloaded beyond it.
	#[arg(long, value_name = "MIB", default_value_t = 2048)]
	pub worker_memory: u64,

	/// Duties queued for the engine at most; further duties wait for room, the node never does.
	#[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
	pub worker_jobs: u32,

	/// Threads the engine computes with [default: all cores].
	#[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
	pub worker_threads: Option<u32>,

	/// Largest model bundle fetched, in MiB.
	#[arg(long, value_name = "MIB", default_value_t = 8192)]
	pub worker_max_model_size: u64,

	/// UNSAFE, for tests of the protocol only: make this worker misbehave. `wrong-output`
	/// commits to a wrong answer, `no-show` never commits, `no-reveal` commits and never
	/// reveals, `copy-commitment` submits another member's commitment as its own. Every one of
	/// them gets the worker slashed.
	#[arg(long, value_enum, value_name = "FAULT")]
	pub unsafe_worker_fault: Option<WorkerFault>,
}

/// A deliberate misbehaviour of the worker, for testing that the chain punishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerFault {
	WrongOutput,
	NoShow,
	NoReveal,
	CopyCommitment,
}

#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect, insert keys (worker keys: `--key-type opgw`);
	/// inspect-node-key for the libp2p peer id.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Print a chain specification (`--raw` for the storage form other nodes import).
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain database.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Database meta columns information.
	ChainInfo(sc_cli::ChainInfoCmd),
}
