//! `opg validator …`: session keys, offering a worker as a validator, and the validator set.

use crate::{output::emit, Global};
use clap::Subcommand;
use opg_client::{validators, Error, Result};
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ValidatorCommand {
	/// Register the signer's session keys (BABE, GRANDPA, im-online), in force from the session after next.
	SetKeys {
		/// Have the node at --url generate them (`author_rotateKeysWithOwner`): it must be the
		/// validator's own node, with unsafe RPC methods reachable only by its operator.
		#[arg(long, conflicts_with_all = ["keys", "proof"])]
		rotate: bool,
		/// Or the keys a node generated (0x…)…
		#[arg(long, requires = "proof", required_unless_present = "rotate")]
		keys: Option<String>,
		/// …and its proof for the signer's account (0x…).
		#[arg(long, requires = "keys")]
		proof: Option<String>,
	},
	/// Offer the signer's worker as a validator: chosen at the next session boundary while its
	/// stake (own and delegated) ranks among the largest, it validates from the one after.
	Validate,
	/// Stop offering the signer's worker as a validator; it leaves the set two session boundaries on.
	Chill,
	/// The session, its validators and the candidates.
	Show,
}

fn done(global: &Global, what: &str, block: u64) -> Result<ExitCode> {
	emit(global.json, json!({ "done": what, "block": block }), || vec![format!("{what} in block #{block}")]);
	Ok(ExitCode::SUCCESS)
}

pub async fn run(global: &Global, command: ValidatorCommand) -> Result<ExitCode> {
	let chain = global.connect().await?;
	match command {
		ValidatorCommand::SetKeys { rotate, keys, proof } => {
			let signer = global.signer()?;
			let generated = match (rotate, keys, proof) {
				(true, _, _) => validators::rotate_keys(&chain, &signer.account_id()).await?,
				(false, Some(keys), Some(proof)) => validators::GeneratedKeys::from_hex(&keys, &proof)?,
				_ => return Err(Error::Input("give --rotate, or --keys with --proof".into())),
			};
			let block = validators::set_keys(&chain, &signer, &generated).await?;
			let keys = format!("0x{}", hex::encode(&generated.keys));
			emit(global.json, json!({ "done": "set the session keys", "keys": keys, "block": block }), || {
				vec![format!("set the session keys {keys} in block #{block}")]
			});
			Ok(ExitCode::SUCCESS)
		},
		ValidatorCommand::Validate => {
			done(global, "the worker offers to validate", validators::validate(&chain, &global.signer()?).await?)
		},
		ValidatorCommand::Chill => {
			done(global, "the worker no longer offers to validate", validators::chill(&chain, &global.signer()?).await?)
		},
		ValidatorCommand::Show => {
			let set = validators::validator_set(&chain).await?;
			let list = |v: &[subxt::utils::AccountId32]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
			emit(
				global.json,
				json!({ "session": set.session, "validators": list(&set.validators), "candidates": list(&set.candidates) }),
				|| {
					vec![
						format!("session {}: {} validators", set.session, set.validators.len()),
						format!("  validators: {}", list(&set.validators).join(", ")),
						format!("  candidates: {}", list(&set.candidates).join(", ")),
					]
				},
			);
			Ok(ExitCode::SUCCESS)
		},
	}
}
