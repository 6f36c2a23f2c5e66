//! Text for people, or one JSON object for scripts.

use opg_client::inference::hex_id;
use subxt::utils::H256;

/// Print `json` when `--json` was given, else the text lines `text` builds.
pub fn emit(json_mode: bool, json: serde_json::Value, text: impl FnOnce() -> Vec<String>) {
	if json_mode {
		println!("{json}");
	} else {
		for line in text() {
			println!("{line}");
		}
	}
}

/// A progress line: to standard error with `--json` (standard output holds the one object),
/// to standard output otherwise.
pub fn progress(json_mode: bool, line: &str) {
	if json_mode {
		eprintln!("{line}");
	} else {
		println!("{line}");
	}
}

pub fn id(model: &H256) -> String {
	hex_id(model)
}

/// Parse a model id given as 64 hex digits, with or without `0x`.
pub fn parse_model(text: &str) -> opg_client::Result<H256> {
	let digits = text.trim().trim_start_matches("0x");
	let bytes = hex::decode(digits).ok().filter(|b| b.len() == 32).ok_or_else(|| {
		opg_client::Error::Input(format!("`{text}` is not a model id (64 hex digits, e.g. from `opg model list`)"))
	})?;
	Ok(H256::from_slice(&bytes))
}

/// A byte-count progress bar on standard error (hidden with `--json`), for downloads.
pub fn download_bar(json_mode: bool, what: &str) -> indicatif::ProgressBar {
	let bar = indicatif::ProgressBar::hidden();
	if !json_mode {
		bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
	}
	let template = format!("{what} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}}");
	bar.set_style(
		indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
	);
	bar
}
