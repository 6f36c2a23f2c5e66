//! ONNX graphs: any bytes either fail to import with an error, or load in both profiles and
//! answer a lone tensor and named tensors with an output or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opg_engine::{
	models::onnx::{parse_checked, OnnxModel},
	ExecutionProfile, NamedTensor, TensorValue, Value,
};

fuzz_target!(|data: &[u8]| {
	let Ok(proto) = parse_checked(data) else { return };
	let inputs = [
		Value::F32 { shape: vec![1, 4], bits: vec![0x3f80_0000; 4] },
		Value::I64 { shape: vec![2], data: vec![0, -1] },
		Value::Tensors(vec![NamedTensor { name: b"x".to_vec(), tensor: TensorValue::Bool { shape: vec![1], data: vec![true] } }]),
	];
	for profile in [ExecutionProfile::Portable, ExecutionProfile::Fast] {
		if let Ok(model) = OnnxModel::from_proto(profile, proto.clone()) {
			for input in &inputs {
				let _ = model.run(input);
			}
		}
	}
});
