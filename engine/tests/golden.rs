//! The portable profile is portable: the engine's check binary, built for the baseline x86-64
//! (the workspace's own `opg-engine`, built by the same `cargo test`) and for this CPU
//! (`-C target-cpu=native`, in a target dir of its own), run with 1 and 2 threads — and, where Debian's
//! qemu-user is installed, emulating a CPU without AVX (Nehalem) and one with AVX2+FMA but no
//! AVX-512 (Haswell), so run-time SIMD dispatch sees other CPUs — must print the golden output
//! hashes committed in `engine/golden/`, one file per portable version (`portable.txt` for v1,
//! `portable-v2.txt`).
//!
//! As a control, the fast profile's hashes are shown to differ between emulated CPUs, so the
//! check can tell a portable result from a lucky one.

mod common;

use std::{
	collections::BTreeMap,
	path::{Path, PathBuf},
	process::Command,
};

fn workspace() -> PathBuf {
	std::path::PathBuf::from(
		std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
	)
	.parent()
	.expect("engine is in the workspace")
	.to_path_buf()
}

/// Build the check binary with `-C target-cpu=<cpu>` in its own target dir (kept between runs).
fn build(cpu: &str) -> PathBuf {
	let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp").join("engine-cpu").join(cpu);
	let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
	let status = Command::new(cargo)
		.current_dir(workspace())
		.args(["build", "--release", "--frozen", "-p", "opg-engine", "--bin", "opg-engine"])
		.env("CARGO_TARGET_DIR", &target)
		.env("RUSTFLAGS", format!("-C target-cpu={cpu}"))
		.env_remove("CARGO_ENCODED_RUSTFLAGS")
		.status()
		.expect("cargo runs");
	assert!(status.success(), "building the check binary for target-cpu={cpu} failed");
	target.join("release").join("opg-engine")
}

/// Run `golden` and return name → line.
fn golden(runner: &[&str], binary: &Path, threads: usize, profile: &str) -> BTreeMap<String, String> {
	let (program, pre) = match runner.split_first() {
		Some((p, rest)) => (
			PathBuf::from(p),
			rest.iter().map(|s| s.to_string()).chain([binary.display().to_string()]).collect::<Vec<_>>(),
		),
		None => (binary.to_path_buf(), vec![]),
	};
	let out = Command::new(program)
		.args(pre)
		.args(["--threads", &threads.to_string(), "golden", "--profile", profile])
		.arg(common::models_dir())
		.arg("--minilm")
		.arg(common::minilm_bundle())
		.output()
		.expect("check binary runs");
	assert!(out.status.success(), "{runner:?} {}: {}", binary.display(), String::from_utf8_lossy(&out.stderr));
	parse(&String::from_utf8(out.stdout).expect("utf-8"))
}

fn parse(text: &str) -> BTreeMap<String, String> {
	text.lines()
		.filter(|l| !l.trim().is_empty())
		.map(|l| (l.split_whitespace().next().expect("a name").to_string(), l.trim().to_string()))
		.collect()
}

fn qemu() -> Option<PathBuf> {
	std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("qemu-x86_64")).find(|p| p.is_file())
}

/// Each portable version this engine implements, with its golden file. Every version keeps its
/// own hashes: a later version never changes an earlier one's bits.
const VERSIONS: [(&str, &str); 2] = [("portable", "portable.txt"), ("portable-v2", "portable-v2.txt")];

#[test]
#[cfg(target_arch = "x86_64")]
fn portable_outputs_match_the_golden_hashes_on_every_cpu_level_and_thread_count() {
	let expected: Vec<(&str, BTreeMap<String, String>)> = VERSIONS
		.iter()
		.map(|(profile, file)| {
			let text = std::fs::read_to_string(workspace().join("engine/golden").join(file)).expect("golden file");
			(*profile, parse(&text))
		})
		.collect();
	for (profile, hashes) in &expected {
		assert_eq!(
			hashes.len(),
			12,
			"{profile}: the golden file covers the ONNX MLP, both Llama formats, the BERT, ResNet and MobileNet graphs, the four torch exports and two MiniLM texts"
		);
	}
	assert_ne!(expected[0].1, expected[1].1, "version 2 sums matmuls in another order than version 1");
	// The workspace builds for the target's baseline CPU (no `target-cpu` in its
	// configuration), so its own binary is the baseline check and only `native` needs a build
	// of its own; unless the environment's RUSTFLAGS raised the CPU level for everything.
	let baseline =
		if cfg!(target_feature = "avx") { build("x86-64") } else { PathBuf::from(env!("CARGO_BIN_EXE_opg-engine")) };
	let native = build("native");
	let mut runs = 0;
	for (profile, hashes) in &expected {
		for binary in [&baseline, &native] {
			for threads in [1, 2] {
				assert_eq!(
					&golden(&[], binary, threads, profile),
					hashes,
					"{profile}: {} with {threads} threads",
					binary.display()
				);
				runs += 1;
			}
		}
	}
	match qemu() {
		Some(qemu) => {
			let qemu = qemu.display().to_string();
			let mut fast = Vec::new();
			for cpu in ["Nehalem", "Haswell"] {
				for (profile, hashes) in &expected {
					assert_eq!(
						&golden(&[&qemu, "-cpu", cpu], &baseline, 2, profile),
						hashes,
						"{profile}: emulated {cpu}"
					);
					runs += 1;
				}
				fast.push(golden(&[&qemu, "-cpu", cpu], &baseline, 2, "fast"));
			}
			assert_ne!(fast[0], fast[1], "control: the fast profile's output depends on the CPU's SIMD level");
		},
		None if std::env::var_os("CI").is_some() => panic!("qemu-user is required in CI (scripts/test.sh installs it)"),
		None => eprintln!("qemu-x86_64 not installed: emulated CPU levels skipped"),
	}
	eprintln!("golden hashes reproduced by {runs} runs");
}
