//! `opg verify`: the check any stranger can run on a settled answer.

use crate::{
	output::{emit, id},
	Global,
};
use clap::Args;
use opg_client::{
	values,
	verify::{self, BundleSource},
	Result,
};
use serde_json::json;
use std::{path::PathBuf, process::ExitCode};

#[derive(Args)]
pub struct VerifyArgs {
	/// The request to check.
	request: u64,
	/// Run this bundle directory instead of fetching the model by its id.
	#[arg(long)]
	bundle: Option<PathBuf>,
	/// Where fetched models are kept (verified against their ids).
	#[arg(long, env = "OPG_MODEL_STORE")]
	store: Option<PathBuf>,
}

pub async fn run(global: &Global, args: VerifyArgs) -> Result<ExitCode> {
	let chain = global.connect().await?;
	let settled = verify::settled(&chain, args.request).await?;
	let store = args.store.unwrap_or_else(verify::default_store);
	let bar = crate::output::download_bar(global.json, "fetching the model");
	let bundle = args.bundle.clone();
	let verification = tokio::task::block_in_place(|| {
		let source = match &bundle {
			Some(dir) => BundleSource::Local(dir),
			None => BundleSource::Store(&store),
		};
		verify::rerun(settled, source, &mut |done, total| {
			if let Some(total) = total {
				bar.set_length(total);
			}
			bar.set_position(done);
		})
	})?;
	bar.finish_and_clear();
	let s = &verification.settled;
	let verified = verification.verified();
	let object = json!({
		"request": s.request,
		"verified": verified,
		"answers_agree": verification.answers_agree,
		"model": id(&s.model),
		"bundle": format!("0x{}", hex::encode(verification.bundle)),
		"model_matches": verification.model_matches(),
		"profile": format!("{:?}", s.profile),
		"rule": format!("{:?}", s.rule),
		"requested": s.requested_block,
		"settled": s.settled_block,
		"chain": values::answer_json(&s.answer),
		"local": values::answer_json(&verification.local),
	});
	emit(global.json, object, || {
		let mut lines = vec![
			format!(
				"request {} (block #{}, settled in #{}) on model {}, {:?} profile, rule {:?}",
				s.request,
				s.requested_block,
				s.settled_block,
				id(&s.model),
				s.profile,
				s.rule
			),
			format!("  chain's answer: {}", values::describe_answer(&s.answer)),
			format!("  local answer:   {}", values::describe_answer(&verification.local)),
		];
		if !verification.model_matches() {
			lines.push(format!("  the bundle run is 0x{}, not the registered model", hex::encode(verification.bundle)));
		}
		lines.push(if verified {
			"verified: the chain's answer is the model's answer".to_string()
		} else if verification.answers_agree {
			"mismatch: the answers agree, but the bundle run is not the registered model".to_string()
		} else {
			"mismatch: the chain's answer is not what this model computes".to_string()
		});
		lines
	});
	Ok(if verified { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
