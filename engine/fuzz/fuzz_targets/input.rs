//! Request input decoder: any bytes either decode to exactly one canonical value or are refused
//! with a typed error; a decoded value re-encodes to the same bytes.
#![no_main]

use codec::Encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
	if let Ok(value) = opg_engine::decode_input(data) {
		assert_eq!(value.encode(), data);
	}
});
