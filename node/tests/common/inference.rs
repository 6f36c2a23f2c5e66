//! Following a request's events through a node, and how it ended.

use super::{
	chain::{events, EventRecord},
	rpc::{parse_number, Client},
	wait_for, Node,
};
use opg_engine::Rejection;
use opg_runtime::{Balance, RuntimeEvent};
use std::time::Duration;

/// Long enough for a request to run through both phase windows twice (an escalation).
pub const TIMEOUT: Duration = Duration::from_secs(240);

/// Every event from block `from` up to the best block, with the block it is in.
/// (Read over one node's RPC port, so the node itself may be restarted meanwhile.)
pub struct EventLog {
	rpc: Client,
	next: u32,
	seen: Vec<(u32, EventRecord)>,
}

impl EventLog {
	pub fn new(node: &Node, from: u32) -> Self {
		Self { rpc: node.rpc(), next: from, seen: Vec::new() }
	}

	pub fn poll(&mut self) -> Option<()> {
		let header = self.rpc.call("chain_getHeader", serde_json::json!([])).ok()?;
		let best = parse_number(&header["number"])?;
		while self.next <= best {
			let hash = self.rpc.call("chain_getBlockHash", serde_json::json!([self.next])).ok()?;
			let hash = hash.as_str()?.to_string();
			self.seen.extend(events(&self.rpc, &hash).into_iter().map(|e| (self.next, e)));
			self.next += 1;
		}
		Some(())
	}

	/// Wait until `pick` accepts an event; its result and block.
	pub fn wait<R>(&mut self, what: &str, pick: impl Fn(&RuntimeEvent) -> Option<R>) -> (R, u32) {
		wait_for(what, TIMEOUT, || {
			self.poll();
			self.seen.iter().find_map(|(n, e)| pick(&e.event).map(|r| (r, *n)))
		})
	}

	pub fn all<R>(&self, pick: impl Fn(&RuntimeEvent) -> Option<R>) -> Vec<(R, u32)> {
		self.seen.iter().filter_map(|(n, e)| pick(&e.event).map(|r| (r, *n))).collect()
	}
}

/// How a request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
	Settled { output: Vec<u8>, agreeing: usize, paid: Balance },
	Rejected { reason: Rejection, agreeing: usize, paid: Balance },
	Failed(pallet_inference::FailureReason),
}

pub fn ended(id: u64) -> impl Fn(&RuntimeEvent) -> Option<End> {
	move |e| match e {
		RuntimeEvent::Inference(pallet_inference::Event::Settled { request, output, agreeing, paid })
			if *request == id =>
		{
			Some(End::Settled { output: output.as_bytes().to_vec(), agreeing: agreeing.len(), paid: *paid })
		},
		RuntimeEvent::Inference(pallet_inference::Event::Rejected { request, reason, agreeing, paid })
			if *request == id =>
		{
			Some(End::Rejected { reason: *reason, agreeing: agreeing.len(), paid: *paid })
		},
		RuntimeEvent::Inference(pallet_inference::Event::Failed { request, reason }) if *request == id => {
			Some(End::Failed(*reason))
		},
		_ => None,
	}
}
