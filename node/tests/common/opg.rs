//! Running the `opg` command line against a test node.

use serde_json::Value as Json;
use std::{
	path::{Path, PathBuf},
	process::Command,
};

/// The `opg` binary, built beside the node (`cargo build --workspace --bins`).
pub fn opg_bin() -> PathBuf {
	let bin = Path::new(super::NODE_BIN).with_file_name("opg");
	assert!(bin.is_file(), "{} is missing: build it with `cargo build --release --workspace --bins`", bin.display());
	bin
}

pub struct Run {
	pub code: i32,
	pub stdout: String,
	pub stderr: String,
}

pub struct Opg {
	pub url: String,
}

impl Opg {
	pub fn run(&self, args: &[&str]) -> Run {
		let out = Command::new(opg_bin())
			.args(args)
			.env("OPG_URL", &self.url)
			.env_remove("OPG_SURI")
			.output()
			.expect("run opg");
		Run {
			code: out.status.code().unwrap_or(-1),
			stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
			stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
		}
	}

	/// Run with `--json`; it succeeds and prints one object.
	pub fn json(&self, args: &[&str]) -> Json {
		let mut all = args.to_vec();
		all.push("--json");
		let run = self.run(&all);
		assert_eq!(run.code, 0, "opg {} failed: {}{}", args.join(" "), run.stdout, run.stderr);
		serde_json::from_str(run.stdout.trim())
			.unwrap_or_else(|e| panic!("opg {}: not one JSON object ({e}): {}", args.join(" "), run.stdout))
	}

	/// Run; it fails with `code` and one `error: …` sentence containing `words`.
	pub fn fails(&self, args: &[&str], code: i32, words: &str) {
		let run = self.run(args);
		assert_eq!(run.code, code, "opg {}: exit {} ({}{})", args.join(" "), run.code, run.stdout, run.stderr);
		let error = run
			.stderr
			.lines()
			.find(|l| l.starts_with("error: "))
			.unwrap_or_else(|| panic!("opg {}: no error sentence on stderr: {}", args.join(" "), run.stderr));
		assert!(error.contains(words), "opg {}: {error:?} does not say {words:?}", args.join(" "));
		assert!(!run.stderr.contains("panicked"), "opg {} panicked: {}", args.join(" "), run.stderr);
	}
}
