//! `opg infer`: quote, request, follow, and print the verified answer.

use crate::{
	output::{emit, id, parse_model, progress},
	Global,
};
use clap::Args;
use opg_client::{
	amount::{format_opg, parse_opg},
	inference::{self, Outcome, Progress},
	values, Error, Result,
};
use opg_primitives::inference::Value;
use serde_json::json;
use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["text", "tokens", "input_json"])))]
pub struct InferArgs {
	/// The model's id (64 hex digits).
	#[arg(long)]
	model: String,
	/// Text input (sentence embedding models).
	#[arg(long)]
	text: Option<String>,
	/// Token ids, comma separated (language models).
	#[arg(long)]
	tokens: Option<String>,
	/// A JSON file holding the input: {"Text": ".."}, {"Tokens": [..]}, {"F32": {"shape": [..], "data": [..]}}.
	#[arg(long)]
	input_json: Option<PathBuf>,
	/// The most to pay, in OPG; defaults to the quote.
	#[arg(long)]
	max_fee: Option<String>,
	/// First-round committee size; defaults to the runtime's.
	#[arg(long)]
	seats: Option<u32>,
	/// Follow the request until it is settled, rejected or refunded.
	#[arg(long)]
	wait: bool,
	/// How long `--wait` waits, in seconds.
	#[arg(long, default_value_t = 300)]
	timeout: u64,
}

fn input(args: &InferArgs) -> Result<Value> {
	match (&args.text, &args.tokens, &args.input_json) {
		(Some(text), _, _) => Ok(Value::Text(text.clone().into_bytes())),
		(_, Some(tokens), _) => Ok(Value::Tokens(values::parse_tokens(tokens)?)),
		(_, _, Some(path)) => values::read_input_json(path),
		_ => Err(Error::Input("give --text, --tokens or --input-json".into())),
	}
}

pub async fn run(global: &Global, args: InferArgs) -> Result<ExitCode> {
	let json_mode = global.json;
	let model = parse_model(&args.model)?;
	let input = input(&args)?;
	let max_fee = args.max_fee.as_deref().map(parse_opg).transpose()?;
	let signer = global.signer()?;
	let chain = global.connect().await?;
	let quote = inference::quote(&chain, model, args.seats).await?;
	let max_fee = max_fee.unwrap_or(quote.total);
	progress(
		json_mode,
		&format!(
			"quote: {} for {} seats on model {}; holding at most {}, and a deposit of {} until the answer \
			 expires{}",
			format_opg(quote.total),
			quote.seats,
			id(&model),
			format_opg(max_fee),
			format_opg(quote.deposit),
			if quote.queue_fee > 0 {
				format!("; the queue is busy: {} to the treasury", format_opg(quote.queue_fee))
			} else {
				String::new()
			}
		),
	);
	let submitted = inference::request(&chain, &signer, model, &input, max_fee, quote).await?;
	progress(json_mode, &format!("request {} included in block #{}", submitted.request, submitted.block));
	let base = json!({
		"request": submitted.request,
		"model": id(&model),
		"seats": quote.seats,
		"quote": quote.total.to_string(),
		"max_fee": max_fee.to_string(),
		"deposit": quote.deposit.to_string(),
		"queue_fee": quote.queue_fee.to_string(),
		"included": submitted.block,
	});
	if !args.wait {
		let mut object = base;
		object["status"] = json!("pending");
		emit(json_mode, object, || vec![format!("follow it with `opg request show {}`", submitted.request)]);
		return Ok(ExitCode::SUCCESS);
	}
	let ended = inference::follow(
		&chain,
		submitted.request,
		submitted.block,
		Duration::from_secs(args.timeout),
		|block, step| {
			progress(json_mode, &format!("#{block} {}", describe(step)));
		},
	)
	.await?;
	let blocks = ended.block.saturating_sub(submitted.block);
	let mut object = base;
	object["status"] = json!(ended.outcome.status());
	object["ended"] = json!(ended.block);
	object["blocks"] = json!(blocks);
	object["committee"] = json!(ended.committee.iter().map(|a| a.to_string()).collect::<Vec<_>>());
	let mut lines = Vec::new();
	match &ended.outcome {
		Outcome::Settled { agreeing, paid, .. } | Outcome::Rejected { agreeing, paid, .. } => {
			object["agreeing"] = json!(agreeing.iter().map(|a| a.to_string()).collect::<Vec<_>>());
			object["paid"] = json!(paid.to_string());
			let answer = ended.outcome.answer().expect("settled and rejected requests have an answer");
			if let serde_json::Value::Object(fields) = values::answer_json(&answer) {
				for (k, v) in fields {
					object[k] = v;
				}
			}
			lines.push(format!(
				"{} in block #{} ({blocks} blocks after inclusion): {} of {} members agreed, paid {}",
				ended.outcome.status(),
				ended.block,
				agreeing.len(),
				ended.committee.len(),
				format_opg(*paid)
			));
			lines.push(format!(
				"committee: {}",
				ended.committee.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
			));
			lines.push(format!("answer: {}", values::describe_answer(&answer)));
			lines.push(format!("check it yourself: opg verify {}", submitted.request));
		},
		Outcome::Refunded { reason } => {
			object["output"] = serde_json::Value::Null;
			object["output_hex"] = serde_json::Value::Null;
			object["reason"] = json!(reason);
			lines.push(format!("refunded in block #{}: no answer ({reason}); nothing was paid", ended.block));
		},
	}
	let refunded = match &ended.outcome {
		Outcome::Refunded { reason } => Some(reason.clone()),
		_ => None,
	};
	emit(json_mode, object, || lines);
	Ok(match refunded {
		Some(reason) => {
			eprintln!("error: request {} ended without an answer ({reason}) and was refunded", submitted.request);
			ExitCode::FAILURE
		},
		None => ExitCode::SUCCESS,
	})
}

fn describe(step: &Progress) -> String {
	match step {
		Progress::Drawn { round, members, commit_ends } => {
			format!("committee drawn (round {round}, {} members); commits until block #{commit_ends}", members.len())
		},
		Progress::Committed { round, count, of } => format!("commits {count}/{of} (round {round})"),
		Progress::RevealStarted { ends } => format!("commits closed; reveals until block #{ends}"),
		Progress::Revealed { count, of } => format!("reveals {count}/{of}"),
		Progress::Slashed { worker, amount, reason } => {
			format!("member {worker} slashed {} ({reason})", format_opg(*amount))
		},
		Progress::Escalated { seats } => format!("no quorum: escalated to {seats} seats"),
		Progress::PublishStarted { ends } => format!("digests agree; answers published until block #{ends}"),
		Progress::Published { count } => format!("answers published {count}"),
	}
}
