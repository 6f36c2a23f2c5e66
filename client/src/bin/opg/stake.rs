//! `opg worker …` and `opg stake …`: running a worker and backing one.

use crate::{
	output::{emit, parse_model},
	Global,
};
use clap::Subcommand;
use opg_client::{
	amount::{format_opg, parse_opg},
	staking::{self, Position, WorkerView},
	Error, Result,
};
use serde_json::json;
use std::process::ExitCode;
use subxt::utils::AccountId32;

#[derive(Subcommand)]
pub enum WorkerCommand {
	/// Register the signer as a worker: bond, the key its node signs duties with, the models it serves.
	Register {
		/// Own bond in OPG (at least the chain's minimum).
		#[arg(long)]
		bond: String,
		/// The worker key's secret URI, as inserted in the node's keystore under key type
		/// `opgw`: the key and its proof of possession are made from it.
		#[arg(long, required_unless_present = "key", conflicts_with = "key")]
		key_suri: Option<String>,
		/// Or the worker key's public key (0x + 64 hex digits, or SS58)…
		#[arg(long, requires = "proof")]
		key: Option<String>,
		/// …with its signature of the stash's possession payload, made by an offline signer
		/// (0x + 128 hex digits).
		#[arg(long, requires = "key")]
		proof: Option<String>,
		/// A model id it serves (repeat).
		#[arg(long = "model")]
		models: Vec<String>,
		/// Commission in percent.
		#[arg(long, default_value_t = 10.0)]
		commission: f64,
	},
	/// Set the models the signer's worker serves (and its commission).
	Serve {
		#[arg(long = "model")]
		models: Vec<String>,
		/// Commission in percent (unchanged when not given, a pending rise included). A rise
		/// applies a day later; a cut at once.
		#[arg(long)]
		commission: Option<f64>,
	},
	/// Stop serving: leave every model's candidates; the bond starts unbonding.
	Leave,
	/// Take new delegations again.
	Open,
	/// Take no new delegations (the existing ones stay).
	Close,
	/// Unbond all of a delegator's active delegation to the signer's worker (it returns to the
	/// delegator after the unbonding period).
	Kick { delegator: String },
	/// A worker's bond, backing, models and status (the signer's when no address is given).
	Show { account: Option<String> },
}

#[derive(Subcommand)]
pub enum StakeCommand {
	/// Add to the signer's own worker bond.
	Bond { amount: String },
	/// Back a worker with the signer's funds.
	Delegate { worker: String, amount: String },
	/// Start unbonding: the signer's own bond, or its delegation to --worker.
	Unbond {
		amount: String,
		#[arg(long)]
		worker: Option<String>,
	},
	/// Release what has finished unbonding with --worker (the signer's own bond by default).
	Withdraw {
		#[arg(long)]
		worker: Option<String>,
	},
	/// Release what has finished unbonding and the rewards owed to --staker (the signer by
	/// default) with a worker; anyone may, the funds go to the staker.
	Release {
		worker: String,
		#[arg(long)]
		staker: Option<String>,
	},
	/// Pay out the rewards earned with --worker (as the worker by default).
	Claim {
		#[arg(long)]
		worker: Option<String>,
	},
	/// An account's own bond and delegations (the signer's when no address is given).
	Show { account: Option<String> },
}

fn address(text: &str) -> Result<AccountId32> {
	text.parse().map_err(|_| Error::Input(format!("`{text}` is not an SS58 address")))
}

fn account_or_signer(global: &Global, account: Option<String>) -> Result<AccountId32> {
	match account {
		Some(a) => address(&a),
		None => Ok(global.signer()?.account_id()),
	}
}

fn position_json(p: &Position) -> serde_json::Value {
	json!({
		"active": p.active.to_string(),
		"unbonding": p.unbonding.iter().map(|(amount, at)| json!({ "amount": amount.to_string(), "unlocks_at": at })).collect::<Vec<_>>(),
		"claimable": p.claimable.to_string(),
	})
}

fn position_line(p: &Position) -> String {
	let unbonding: Vec<String> = p.unbonding.iter().map(|(a, at)| format!("{} at #{at}", format_opg(*a))).collect();
	format!(
		"{} active, unbonding [{}], {} rewards to claim",
		format_opg(p.active),
		unbonding.join(", "),
		format_opg(p.claimable)
	)
}

fn worker_json(w: &WorkerView) -> serde_json::Value {
	json!({
		"worker": w.account.to_string(),
		"key": format!("0x{}", hex::encode(w.key)),
		"models": w.models.iter().map(|m| format!("0x{}", hex::encode(m.0))).collect::<Vec<_>>(),
		"commission_percent": w.commission_percent,
		"status": if w.leaving_since.is_some() { "leaving" } else { "active" },
		"own": position_json(&w.own),
		"delegated": w.delegated.to_string(),
		"delegators": w.delegators,
		"pending_commission": w.pending_commission.map(|(p, at)| json!({ "percent": p, "applies_at": at })),
		"open_to_delegations": w.open_to_delegations,
	})
}

fn worker_lines(w: &WorkerView) -> Vec<String> {
	let status = match w.leaving_since {
		None => "active".to_string(),
		Some(since) => format!("leaving since #{since}"),
	};
	let pending = match w.pending_commission {
		Some((p, at)) => format!(" (rising to {p}% at #{at})"),
		None => String::new(),
	};
	let open = if w.open_to_delegations { "" } else { ", closed to new delegations" };
	vec![
		format!("worker {}: {status}, commission {}%{pending}{open}", w.account, w.commission_percent),
		format!("  key 0x{}", hex::encode(w.key)),
		format!("  own bond: {}", position_line(&w.own)),
		format!("  backed by {} delegators with {}", w.delegators, format_opg(w.delegated)),
		format!(
			"  serves {} models: {}",
			w.models.len(),
			w.models.iter().map(|m| format!("0x{}", hex::encode(m.0))).collect::<Vec<_>>().join(", ")
		),
	]
}

fn done(global: &Global, what: &str, block: u64) -> Result<ExitCode> {
	emit(global.json, json!({ "done": what, "block": block }), || vec![format!("{what} in block #{block}")]);
	Ok(ExitCode::SUCCESS)
}

fn model_ids(models: &[String]) -> Result<Vec<subxt::utils::H256>> {
	models.iter().map(|m| parse_model(m)).collect()
}

pub async fn worker(global: &Global, command: WorkerCommand) -> Result<ExitCode> {
	let chain = global.connect().await?;
	match command {
		WorkerCommand::Register { bond, key_suri, key, proof, models, commission } => {
			let (bond, models) = (parse_opg(&bond)?, model_ids(&models)?);
			let signer = global.signer()?;
			let key = match (key_suri, key, proof) {
				(Some(suri), _, _) => staking::WorkerKey::from_suri(&suri, &signer.account_id())?,
				(None, Some(key), Some(proof)) => staking::WorkerKey::from_parts(&key, &proof)?,
				_ => return Err(Error::Input("give --key-suri, or --key with --proof".into())),
			};
			let block = staking::register_worker(&chain, &signer, bond, &key, &models, commission).await?;
			done(global, "registered the worker", block)
		},
		WorkerCommand::Serve { models, commission } => {
			let models = model_ids(&models)?;
			let signer = global.signer()?;
			let commission = match commission {
				Some(c) => c,
				None => {
					let me = signer.account_id();
					let w = staking::worker(&chain, &me)
						.await?
						.ok_or_else(|| Error::NotFound(format!("{me} is not a worker: `opg worker register` first")))?;
					// Keep a rise that is waiting out its delay (asking for it again keeps its date).
					w.pending_commission.map_or(w.commission_percent, |(rate, _)| rate)
				},
			};
			let block = staking::update_worker(&chain, &signer, &models, commission).await?;
			done(global, "updated the worker", block)
		},
		WorkerCommand::Leave => done(global, "the worker is leaving", staking::leave(&chain, &global.signer()?).await?),
		WorkerCommand::Open => done(
			global,
			"the worker takes new delegations",
			staking::set_delegations_open(&chain, &global.signer()?, true).await?,
		),
		WorkerCommand::Close => done(
			global,
			"the worker takes no new delegations",
			staking::set_delegations_open(&chain, &global.signer()?, false).await?,
		),
		WorkerCommand::Kick { delegator } => {
			let delegator = address(&delegator)?;
			let block = staking::kick(&chain, &global.signer()?, delegator.clone()).await?;
			done(global, &format!("unbonded {delegator}'s delegation"), block)
		},
		WorkerCommand::Show { account } => {
			let who = account_or_signer(global, account)?;
			let w = staking::worker(&chain, &who)
				.await?
				.ok_or_else(|| Error::NotFound(format!("{who} is not a worker")))?;
			emit(global.json, worker_json(&w), || worker_lines(&w));
			Ok(ExitCode::SUCCESS)
		},
	}
}

pub async fn stake(global: &Global, command: StakeCommand) -> Result<ExitCode> {
	let chain = global.connect().await?;
	let worker_arg = |w: Option<String>| w.as_deref().map(address).transpose();
	match command {
		StakeCommand::Bond { amount } => {
			let amount = parse_opg(&amount)?;
			done(
				global,
				&format!("bonded {} more", format_opg(amount)),
				staking::bond_extra(&chain, &global.signer()?, amount).await?,
			)
		},
		StakeCommand::Delegate { worker, amount } => {
			let (worker, amount) = (address(&worker)?, parse_opg(&amount)?);
			let block = staking::delegate(&chain, &global.signer()?, worker.clone(), amount).await?;
			done(global, &format!("delegated {} to {worker}", format_opg(amount)), block)
		},
		StakeCommand::Unbond { amount, worker } => {
			let amount = parse_opg(&amount)?;
			let block = staking::unbond(&chain, &global.signer()?, worker_arg(worker)?, amount).await?;
			done(global, &format!("started unbonding {}", format_opg(amount)), block)
		},
		StakeCommand::Withdraw { worker } => done(
			global,
			"withdrew what has unbonded",
			staking::withdraw(&chain, &global.signer()?, worker_arg(worker)?).await?,
		),
		StakeCommand::Release { worker, staker } => {
			let worker = address(&worker)?;
			let signer = global.signer()?;
			let staker = match staker {
				Some(s) => address(&s)?,
				None => signer.account_id(),
			};
			let block = staking::release(&chain, &signer, worker, staker.clone()).await?;
			done(global, &format!("released {staker}'s unbonded funds and rewards"), block)
		},
		StakeCommand::Claim { worker } => {
			done(global, "claimed the rewards", staking::claim(&chain, &global.signer()?, worker_arg(worker)?).await?)
		},
		StakeCommand::Show { account } => {
			let who = account_or_signer(global, account)?;
			let own = staking::worker(&chain, &who).await?;
			let delegations = staking::delegations(&chain, &who).await?;
			let object = json!({
				"account": who.to_string(),
				"worker": own.as_ref().map(worker_json),
				"delegations": delegations.iter().map(|(w, p)| {
					let mut o = position_json(p);
					o["worker"] = json!(w.to_string());
					o
				}).collect::<Vec<_>>(),
			});
			emit(global.json, object, || {
				let mut lines = match &own {
					Some(w) => worker_lines(w),
					None => vec![format!("{who} is not a worker")],
				};
				if delegations.is_empty() {
					lines.push("no delegations".into());
				}
				for (w, p) in &delegations {
					lines.push(format!("delegation to {w}: {}", position_line(p)));
				}
				lines
			});
			Ok(ExitCode::SUCCESS)
		},
	}
}
