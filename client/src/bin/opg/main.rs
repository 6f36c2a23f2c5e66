//! `opg`: request verified inference, check an answer yourself, and read the chain's models and
//! requests.
//!
//! Every command takes `--url` (default `ws://127.0.0.1:9944`) and `--json` (one JSON object on
//! standard output, for scripts); commands that sign take `--suri`, `--key-file` or `OPG_SURI`.
//! Exit status: 0 on success, 1 on an error (one sentence on standard error), 3 when `verify`
//! finds the chain's answer is not the model's.

mod infer;
mod output;
mod query;
mod stake;
mod validator;
mod verify;

use clap::{Args, Parser, Subcommand};
use opg_client::{account::Signer, Chain, Error, Result};
use std::{path::PathBuf, process::ExitCode};

#[derive(Parser)]
#[command(name = "opg", version, about = "OPG chain client: verified AI inference on chain")]
struct Cli {
	#[command(flatten)]
	global: Global,
	#[command(subcommand)]
	command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
	/// The node's WebSocket RPC endpoint.
	#[arg(long, global = true, env = "OPG_URL", default_value = opg_client::DEFAULT_URL)]
	pub url: String,
	/// Secret URI of the signing account (`//Alice`, a mnemonic with derivations).
	#[arg(long, global = true, env = "OPG_SURI", hide_env_values = true)]
	pub suri: Option<String>,
	/// A key file: a polkadot.js JSON export (password from `--password`), or a secret URI.
	/// Takes precedence over `--suri`/`OPG_SURI`.
	#[arg(long, global = true)]
	pub key_file: Option<PathBuf>,
	/// Password of an encrypted key file.
	#[arg(long, global = true, env = "OPG_PASSWORD", hide_env_values = true)]
	pub password: Option<String>,
	/// Print one JSON object on standard output instead of text.
	#[arg(long, global = true)]
	pub json: bool,
}

impl Global {
	pub async fn connect(&self) -> Result<Chain> {
		Chain::connect(&self.url).await
	}

	pub fn signer(&self) -> Result<Signer> {
		match (&self.key_file, &self.suri) {
			(Some(file), _) => Signer::from_file(file, self.password.as_deref()),
			(None, Some(suri)) => Signer::from_suri(suri),
			(None, None) => Err(Error::Account("no account given: use --suri, --key-file or OPG_SURI".into())),
		}
	}
}

#[derive(Subcommand)]
enum Command {
	/// Request inference on a registered model and follow it to its verified answer.
	Infer(infer::InferArgs),
	/// Read requests.
	#[command(subcommand)]
	Request(query::RequestCommand),
	/// Read the model registry.
	#[command(subcommand)]
	Model(query::ModelCommand),
	/// Re-run a settled request's model on its input and check the chain's answer.
	Verify(verify::VerifyArgs),
	/// Run a worker: register, serve models, leave, show.
	#[command(subcommand)]
	Worker(stake::WorkerCommand),
	/// Back workers: bond, delegate, unbond, withdraw, claim, show.
	#[command(subcommand)]
	Stake(stake::StakeCommand),
	/// Validate with a worker: session keys, offer or stop, and the validator set.
	#[command(subcommand)]
	Validator(validator::ValidatorCommand),
	/// An account's free and held balance (the signer's when no address is given).
	Balance {
		/// SS58 address.
		account: Option<String>,
	},
}

fn main() -> ExitCode {
	// Usage errors exit 1 like every other error; help and version exit 0.
	let cli = match Cli::try_parse() {
		Ok(cli) => cli,
		Err(e) if !e.use_stderr() => e.exit(),
		Err(e) => {
			let _ = e.print();
			return ExitCode::FAILURE;
		},
	};
	let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
		Ok(runtime) => runtime,
		Err(e) => {
			eprintln!("error: cannot start: {e}");
			return ExitCode::FAILURE;
		},
	};
	let result = runtime.block_on(async {
		match cli.command {
			Command::Infer(args) => infer::run(&cli.global, args).await,
			Command::Request(command) => query::request(&cli.global, command).await,
			Command::Model(command) => query::model(&cli.global, command).await,
			Command::Verify(args) => verify::run(&cli.global, args).await,
			Command::Worker(command) => stake::worker(&cli.global, command).await,
			Command::Stake(command) => stake::stake(&cli.global, command).await,
			Command::Validator(command) => validator::run(&cli.global, command).await,
			Command::Balance { account } => query::balance(&cli.global, account).await,
		}
	});
	match result {
		Ok(code) => code,
		Err(e) => {
			eprintln!("error: {e}");
			ExitCode::FAILURE
		},
	}
}
