//! Manifest decoders: JSON (as found in bundles) and the canonical SCALE encoding (as hashed into
//! the model id). Whatever decodes must re-encode to the same id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opg_engine::Manifest;

fuzz_target!(|data: &[u8]| {
	if let Ok(m) = Manifest::from_json(data) {
		let again = Manifest::from_canonical(&m.canonical_encoding()).expect("canonical round trip");
		assert_eq!(again.id(), m.id());
	}
	if let Ok(m) = Manifest::from_canonical(data) {
		assert_eq!(m.canonical_encoding(), data, "the canonical encoding is unique");
	}
});
