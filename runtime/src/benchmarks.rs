//! The pallets whose benchmarks this runtime exposes to `frame-omni-bencher`.

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_sudo, Sudo]
	[pallet_worker_staking, WorkerStaking]
	[pallet_inference, Inference]
);
