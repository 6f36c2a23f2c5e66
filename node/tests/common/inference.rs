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
///
/// BABE forks: two validators may both win a primary slot, and the best chain can switch to a
/// sibling of a block already read. The log keeps the hash of each block it read, each the
/// parent of the next, and reads again from where the best chain parted from them.
pub struct EventLog {
	rpc: Client,
	from: u32,
	/// Hashes of the blocks read, from `from` on, each the parent of the next.
	read: Vec<String>,
	seen: Vec<(u32, EventRecord)>,
}

impl EventLog {
	pub fn new(node: &Node, from: u32) -> Self {
		Self { rpc: node.rpc(), from, read: Vec::new(), seen: Vec::new() }
	}

	/// The height of the next block to read.
	fn next(&self) -> u32 {
		self.from + self.read.len() as u32
	}

	/// Forget the last block read and its events.
	fn unread_last(&mut self) {
		if self.read.pop().is_some() {
			let height = self.next();
			self.seen.retain(|(n, _)| *n < height);
		}
	}

	pub fn poll(&mut self) -> Option<()> {
		// Back to the last block read that is still on the best chain (its ancestors are too).
		while let Some(last) = self.read.last() {
			let height = self.next() - 1;
			let canonical = self.rpc.call("chain_getBlockHash", serde_json::json!([height])).ok()?;
			if canonical.as_str() == Some(last.as_str()) {
				break;
			}
			self.unread_last();
		}
		let header = self.rpc.call("chain_getHeader", serde_json::json!([])).ok()?;
		let best = parse_number(&header["number"])?;
		while self.next() <= best {
			let hash = self.rpc.call("chain_getBlockHash", serde_json::json!([self.next()])).ok()?;
			let hash = hash.as_str()?.to_string();
			let header = self.rpc.call("chain_getHeader", serde_json::json!([hash])).ok()?;
			if let Some(last) = self.read.last() {
				// The best chain moved between two reads: read the parent again first.
				if header["parentHash"].as_str() != Some(last.as_str()) {
					self.unread_last();
					continue;
				}
			}
			let height = self.next();
			self.seen.extend(events(&self.rpc, &hash).into_iter().map(|e| (height, e)));
			self.read.push(hash);
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
