//! `opg request …` and `opg model …`: what the chain holds.

use crate::{
	output::{emit, id, parse_model},
	Global,
};
use clap::Subcommand;
use opg_client::{
	amount::{format_opg, parse_opg},
	inference::{self, OpenRequest},
	models::{self, RegisteredModel},
	runtime::runtime_types::pallet_inference::types::Phase,
	values, Error, Result,
};
use opg_primitives::inference::{Answer, ExecutionProfile, RequestStatus};
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RequestCommand {
	/// Where a request is: its phase and committee, or its settled answer.
	Show { id: u64 },
	/// Open requests (yours with --mine).
	List {
		#[arg(long)]
		mine: bool,
	},
}

#[derive(Subcommand)]
pub enum ModelCommand {
	/// Every registered model.
	List,
	/// One model.
	Show { id: String },
	/// Change a model's price and URIs (owner only; the current ones are kept when not given).
	Update {
		id: String,
		#[arg(long)]
		price: Option<String>,
		#[arg(long = "uri")]
		uris: Vec<String>,
	},
	/// Retire a model you own: no new requests, the deposit is released.
	Retire { id: String },
	/// Make a bundle of an `.onnx` file, a Hugging Face directory (BERT encoder or Llama) or a
	/// `.gguf` file, and print its model id.
	Bundle {
		source: std::path::PathBuf,
		out: std::path::PathBuf,
		/// Longest input of a sentence encoder, in tokens.
		#[arg(long, default_value_t = 256)]
		max_tokens: u32,
		/// Tokens a language model generates per request.
		#[arg(long, default_value_t = 32)]
		max_new_tokens: u32,
	},
	/// Import a bundle (directory, tarball or http(s) URL) into a local model store, every file
	/// checked against its manifest; prints its model id.
	Import {
		source: String,
		#[arg(long, env = "OPG_MODEL_STORE")]
		store: Option<std::path::PathBuf>,
	},
	/// The model id of a bundle directory (its files checked against its manifest).
	Id { bundle: std::path::PathBuf },
	/// Register a bundle directory as a model you own (its id is the bundle's).
	Register {
		/// The bundle directory (`manifest.json` and its files).
		bundle: std::path::PathBuf,
		/// Where workers fetch the bundle's tarball (repeat for mirrors).
		#[arg(long = "uri", required = true)]
		uris: Vec<String>,
		/// What you earn per settled request, in OPG.
		#[arg(long)]
		price: String,
		/// How workers execute it: `portable` (version 1; `portable-vN` for a later version the
		/// chain serves; compared exactly) or `fast` (compared with a tolerance).
		#[arg(long, default_value = "portable")]
		profile: ExecutionProfile,
	},
}

fn phase_json(phase: &Phase<u32>) -> serde_json::Value {
	match phase {
		Phase::Drawing => json!({ "phase": "drawing" }),
		Phase::Commit { ends } => json!({ "phase": "commit", "ends": ends }),
		Phase::Reveal { ends } => json!({ "phase": "reveal", "ends": ends }),
		Phase::SealedReveal { ends } => json!({ "phase": "sealed_reveal", "ends": ends }),
		Phase::Publish { ends } => json!({ "phase": "publish", "ends": ends }),
		Phase::Escalating { draws_at } => json!({ "phase": "escalating", "draws_at": draws_at }),
	}
}

fn request_json(id: u64, r: &OpenRequest) -> serde_json::Value {
	let mut object = json!({
		"request": id,
		"status": "open",
		"model": self::id(&r.model),
		"requester": r.requester.to_string(),
		"seats": r.seats,
		"round": r.round,
		"max_fee": r.max_fee.to_string(),
		"created": r.created,
		"committee": r.committee.0.iter().map(|s| json!({
			"worker": s.worker.to_string(),
			"committed": s.commitment.is_some(),
			"revealed": s.revealed,
		})).collect::<Vec<_>>(),
	});
	if let serde_json::Value::Object(fields) = phase_json(&r.phase) {
		for (k, v) in fields {
			object[k] = v;
		}
	}
	object
}

fn request_lines(id: u64, r: &OpenRequest) -> Vec<String> {
	let phase = match r.phase {
		Phase::Drawing => "waiting for its committee".to_string(),
		Phase::Commit { ends } => format!("round {} committing until block #{ends}", r.round),
		Phase::Reveal { ends } => format!("round {} revealing until block #{ends}", r.round),
		Phase::SealedReveal { ends } => format!("round {} revealing digests until block #{ends}", r.round),
		Phase::Publish { ends } => format!("round {} publishing its answers until block #{ends}", r.round),
		Phase::Escalating { draws_at } => format!("escalated: round {} is drawn in block #{draws_at}", r.round),
	};
	let committed = r.committee.0.iter().filter(|s| s.commitment.is_some()).count();
	let revealed = r.committee.0.iter().filter(|s| s.revealed).count();
	vec![
		format!("request {id}: open, {phase}"),
		format!("  model {}, requested by {} in block #{}", self::id(&r.model), r.requester, r.created),
		format!(
			"  committee of {}: {committed} committed, {revealed} revealed; holding {}",
			r.committee.0.len(),
			format_opg(r.max_fee)
		),
	]
}

pub async fn request(global: &Global, command: RequestCommand) -> Result<ExitCode> {
	let chain = global.connect().await?;
	match command {
		RequestCommand::Show { id } => {
			if let Some(open) = inference::open_request(&chain, id).await? {
				emit(global.json, request_json(id, &open), || request_lines(id, &open));
				return Ok(ExitCode::SUCCESS);
			}
			let (answer, at) = match inference::status(&chain, id).await? {
				RequestStatus::Settled { output, at } => (Answer::Output(codec::Encode::encode(&output)), at),
				RequestStatus::Rejected { reason, at } => (Answer::Rejected(reason), at),
				_ => {
					return Err(Error::NotFound(format!(
						"no request {id} is open or kept (unknown id, refunded, or pruned after the retention window)"
					)))
				},
			};
			let status = if matches!(answer, Answer::Output(_)) { "settled" } else { "rejected" };
			let mut object = json!({ "request": id, "status": status, "ended": at });
			if let serde_json::Value::Object(fields) = values::answer_json(&answer) {
				for (k, v) in fields {
					object[k] = v;
				}
			}
			emit(global.json, object, || {
				vec![
					format!("request {id}: {status} in block #{at}"),
					format!("  answer: {}", values::describe_answer(&answer)),
				]
			});
		},
		RequestCommand::List { mine } => {
			let me = if mine { Some(global.signer()?.account_id()) } else { None };
			let open = inference::open_requests(&chain, me.as_ref()).await?;
			let objects: Vec<_> = open.iter().map(|(id, r)| request_json(*id, r)).collect();
			emit(global.json, json!({ "requests": objects }), || {
				if open.is_empty() {
					return vec!["no open requests".to_string()];
				}
				open.iter().flat_map(|(id, r)| request_lines(*id, r)).collect()
			});
		},
	}
	Ok(ExitCode::SUCCESS)
}

fn model_json(m: &RegisteredModel) -> serde_json::Value {
	json!({
		"model": id(&m.id),
		"owner": m.owner.to_string(),
		"format": format!("{:?}", m.format),
		"architecture": m.architecture,
		"price": m.price.to_string(),
		"profile": format!("{:?}", m.profile),
		"rule": format!("{:?}", m.rule),
		"uris": m.uris,
		"deposit": m.deposit.to_string(),
	})
}

fn model_lines(m: &RegisteredModel) -> Vec<String> {
	vec![
		format!("{} {:?} ({}), {:?} profile, rule {:?}", id(&m.id), m.format, m.architecture, m.profile, m.rule),
		format!("  price {} per request, owner {}", format_opg(m.price), m.owner),
		format!("  fetched from {}", m.uris.join(", ")),
	]
}

pub async fn model(global: &Global, command: ModelCommand) -> Result<ExitCode> {
	// Reading a bundle needs no node.
	let chain = match &command {
		ModelCommand::Id { .. } | ModelCommand::Bundle { .. } | ModelCommand::Import { .. } => None,
		_ => Some(global.connect().await?),
	};
	let chain = || chain.as_ref().ok_or_else(|| Error::Chain("no connection".into()));
	match command {
		ModelCommand::List => {
			let all = models::models(chain()?).await?;
			emit(global.json, json!({ "models": all.iter().map(model_json).collect::<Vec<_>>() }), || {
				if all.is_empty() {
					return vec!["no models are registered".to_string()];
				}
				all.iter().flat_map(model_lines).collect()
			});
		},
		ModelCommand::Id { bundle } => {
			let (model, manifest) = models::check_bundle(&bundle)?;
			let format = manifest.architecture.format();
			emit(global.json, json!({ "model": id(&model), "format": format!("{format:?}") }), || vec![id(&model)]);
		},
		ModelCommand::Bundle { source, out, max_tokens, max_new_tokens } => {
			let options = opg_engine::bundle::BundleOptions { max_tokens, max_new_tokens, ..Default::default() };
			let spinner = indicatif::ProgressBar::new_spinner();
			if !global.json {
				spinner.set_message(format!("bundling {}", source.display()));
				spinner.enable_steady_tick(std::time::Duration::from_millis(120));
			}
			let manifest = tokio::task::block_in_place(|| opg_engine::bundle::bundle(&source, &out, &options))
				.map_err(|e| Error::Engine(e.to_string()))?;
			spinner.finish_and_clear();
			let model = subxt::utils::H256(manifest.id());
			let format = manifest.architecture.format();
			emit(
				global.json,
				json!({ "model": id(&model), "format": format!("{format:?}"), "bundle": out.display().to_string() }),
				|| vec![format!("{} ({format:?}) bundled in {}", id(&model), out.display())],
			);
		},
		ModelCommand::Import { source, store } => {
			let store = store.unwrap_or_else(opg_client::verify::default_store);
			let bar = crate::output::download_bar(global.json, "importing");
			let imported = tokio::task::block_in_place(|| {
				let store = opg_engine::ModelStore::open(&store)?;
				store.import(&source, opg_client::verify::MAX_BUNDLE_BYTES, &mut |done, total| {
					if let Some(total) = total {
						bar.set_length(total);
					}
					bar.set_position(done);
				})
			})
			.map_err(|e| Error::Engine(e.to_string()))?;
			bar.finish_and_clear();
			let model = subxt::utils::H256(imported);
			emit(global.json, json!({ "model": id(&model), "store": store.display().to_string() }), || {
				vec![format!("{} imported into {}", id(&model), store.display())]
			});
		},
		ModelCommand::Register { bundle, uris, price, profile } => {
			let signer = global.signer()?;
			let registration = models::Registration::from_bundle(&bundle, parse_opg(&price)?, profile, uris)?;
			let block = models::register(chain()?, &signer, &registration).await?;
			let r = &registration;
			emit(
				global.json,
				json!({ "model": id(&r.id), "block": block, "format": format!("{:?}", r.format), "rule": format!("{:?}", r.rule) }),
				|| {
					vec![format!(
						"registered {} ({:?}, {:?} profile) in block #{block}",
						id(&r.id),
						r.format,
						r.profile
					)]
				},
			);
		},
		ModelCommand::Update { id, price, uris } => {
			let model = parse_model(&id)?;
			let current = models::model(chain()?, model).await?.ok_or_else(|| inference::unknown_model(model))?;
			let price = price.as_deref().map(parse_opg).transpose()?.unwrap_or(current.price);
			let uris = if uris.is_empty() { current.uris } else { uris };
			let block = models::update(chain()?, &global.signer()?, model, price, &uris).await?;
			emit(global.json, json!({ "model": self::id(&model), "block": block }), || {
				vec![format!(
					"updated {} in block #{block}: price {}, {}",
					self::id(&model),
					format_opg(price),
					uris.join(", ")
				)]
			});
		},
		ModelCommand::Retire { id } => {
			let model = parse_model(&id)?;
			let block = models::retire(chain()?, &global.signer()?, model).await?;
			emit(global.json, json!({ "model": self::id(&model), "block": block }), || {
				vec![format!("retired {} in block #{block}", self::id(&model))]
			});
		},
		ModelCommand::Show { id } => {
			let model = parse_model(&id)?;
			let found = models::model(chain()?, model).await?.ok_or_else(|| inference::unknown_model(model))?;
			emit(global.json, model_json(&found), || model_lines(&found));
		},
	}
	Ok(ExitCode::SUCCESS)
}

pub async fn balance(global: &Global, account: Option<String>) -> Result<ExitCode> {
	let who = match account {
		Some(address) => address
			.parse::<subxt::utils::AccountId32>()
			.map_err(|_| Error::Input(format!("`{address}` is not an SS58 address")))?,
		None => global.signer()?.account_id(),
	};
	let chain = global.connect().await?;
	let balance = chain.balance(&who).await?;
	emit(
		global.json,
		json!({
			"account": who.to_string(),
			"free": balance.free.to_string(),
			"held": balance.held.to_string(),
			"frozen": balance.frozen.to_string(),
		}),
		|| vec![format!("{who}: {} free, {} held", format_opg(balance.free), format_opg(balance.held))],
	);
	Ok(ExitCode::SUCCESS)
}
