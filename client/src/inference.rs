//! Requests: what one costs, sending one, following it through its phases to its end, and
//! reading where one is.

use crate::{
	account::Signer,
	amount::format_opg,
	chain::{AtBlock, Chain},
	convert,
	error::{Error, Result},
	runtime::{self, inference::events as ev},
};
use codec::Encode;
use opg_primitives::inference::{Answer, Rejection, RequestStatus, Value};
use std::time::{Duration, Instant};
use subxt::{events::Phase, utils::AccountId32, utils::H256};

/// What a request on a model costs at most, for a committee size.
#[derive(Debug, Clone, Copy)]
pub struct Quote {
	pub seats: u32,
	/// The smallest `max_fee`: what the request costs if it settles with an output.
	pub total: u128,
	/// Held besides, until the request fails or its answer is pruned.
	pub deposit: u128,
	/// Paid to the treasury now, not refunded: the draw queue is busy.
	pub queue_fee: u128,
}

/// The committee sizes a first round may have, and the default.
pub fn seat_limits(at: &AtBlock) -> Result<(u32, u32)> {
	let default = at.constants().entry(runtime::constants().inference().default_seats())?;
	let max = at.constants().entry(runtime::constants().inference().max_seats())?;
	// A first round of `k` and its escalation of `2k + 1` hold `3k + 1` members together.
	Ok((default, max.saturating_sub(1) / 3))
}

/// The quote for `model` with `seats` (the runtime's default when `None`).
pub async fn quote(chain: &Chain, model: H256, seats: Option<u32>) -> Result<Quote> {
	let at = chain.at_best().await?;
	let (default, max) = seat_limits(&at)?;
	let seats = seats.unwrap_or(default);
	if seats == 0 || seats > max {
		return Err(Error::Input(format!("a committee has 1 to {max} seats, not {seats}")));
	}
	let total = at
		.runtime_apis()
		.call(runtime::runtime_apis().inference_api().quote(model, seats))
		.await?
		.ok_or_else(|| unknown_model(model))?;
	let inference = runtime::constants().inference();
	let deposit = at.constants().entry(inference.request_deposit())?;
	let storage = runtime::storage().inference();
	let next = at.storage().try_fetch(storage.next_request_id(), ()).await?.map(|v| v.decode()).transpose()?;
	let first = at.storage().try_fetch(storage.next_to_draw(), ()).await?.map(|v| v.decode()).transpose()?;
	let waiting = next.unwrap_or(0u64).saturating_sub(first.unwrap_or(0u64));
	let queue_fee = opg_primitives::inference::queue_fee(
		at.constants().entry(inference.queue_fee())?,
		waiting,
		at.constants().entry(inference.max_pending_draws())?,
	);
	Ok(Quote { seats, total, deposit, queue_fee })
}

pub fn unknown_model(model: H256) -> Error {
	Error::NotFound(format!("no model is registered under {}", hex_id(&model)))
}

/// A model id as 0x-prefixed hex.
pub fn hex_id(id: &H256) -> String {
	format!("0x{}", hex::encode(id.0))
}

/// A request in a block.
#[derive(Debug, Clone, Copy)]
pub struct Submitted {
	pub request: u64,
	pub block: u64,
}

/// Send a request for `model` on `input`, holding `max_fee`; checked against the quote and the
/// signer's balance first, so a request the chain would refuse is not sent.
pub async fn request(
	chain: &Chain,
	signer: &Signer,
	model: H256,
	input: &Value,
	max_fee: u128,
	quote: Quote,
) -> Result<Submitted> {
	if max_fee < quote.total {
		return Err(Error::Input(format!(
			"max fee {} is below the quote {} for {} seats",
			format_opg(max_fee),
			format_opg(quote.total),
			quote.seats
		)));
	}
	let call =
		runtime::transactions().inference().request_inference(model, convert(input)?, max_fee, Some(quote.seats));
	let hold = max_fee.saturating_add(quote.deposit).saturating_add(quote.queue_fee);
	let included =
		chain.submit_holding(&call, signer, hold, "the max fee (with the request deposit and queue fee)").await?;
	for event in included.events.iter() {
		let event = event?;
		if event.phase() != Phase::ApplyExtrinsic(included.extrinsic_index) {
			continue;
		}
		if let Some(requested) = event.decode_fields_as::<ev::InferenceRequested>() {
			return Ok(Submitted { request: requested?.request, block: included.block_number });
		}
	}
	Err(Error::Chain("the request was included but its InferenceRequested event is missing".into()))
}

/// A step of a request, as its events report it.
#[derive(Debug, Clone)]
pub enum Progress {
	Drawn {
		round: u8,
		members: Vec<AccountId32>,
		commit_ends: u64,
	},
	Committed {
		round: u8,
		count: usize,
		of: usize,
	},
	RevealStarted {
		ends: u64,
	},
	Revealed {
		count: usize,
		of: usize,
	},
	Slashed {
		worker: AccountId32,
		amount: u128,
		reason: String,
	},
	Escalated {
		seats: u32,
	},
	/// A sealed first round's digests agreed: its members publish their answers until `ends`.
	PublishStarted {
		ends: u64,
	},
	/// A sealed first-round member published the answer behind its digest (`count` so far).
	Published {
		count: usize,
	},
}

/// How a request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
	Settled {
		output: Vec<u8>,
		agreeing: Vec<AccountId32>,
		paid: u128,
	},
	Rejected {
		reason: Rejection,
		agreeing: Vec<AccountId32>,
		paid: u128,
	},
	/// Ended without an answer; everything held was released.
	Refunded {
		reason: String,
	},
}

impl Outcome {
	/// `settled`, `rejected` or `refunded`.
	pub fn status(&self) -> &'static str {
		match self {
			Outcome::Settled { .. } => "settled",
			Outcome::Rejected { .. } => "rejected",
			Outcome::Refunded { .. } => "refunded",
		}
	}

	pub fn answer(&self) -> Option<Answer> {
		match self {
			Outcome::Settled { output, .. } => Some(Answer::Output(output.clone())),
			Outcome::Rejected { reason, .. } => Some(Answer::Rejected(*reason)),
			Outcome::Refunded { .. } => None,
		}
	}
}

/// A request's end, and the block it ended in.
#[derive(Debug, Clone)]
pub struct Ended {
	pub outcome: Outcome,
	pub block: u64,
	/// Members of the committee that settled it (the last round's).
	pub committee: Vec<AccountId32>,
}

/// Follow request `id` block by block from `from` (the block it was included in) until it ends,
/// reporting each step to `on_progress`; gives up after `timeout`.
pub async fn follow(
	chain: &Chain,
	id: u64,
	from: u64,
	timeout: Duration,
	mut on_progress: impl FnMut(u64, &Progress),
) -> Result<Ended> {
	let start = Instant::now();
	let mut next = from;
	let mut rescanned = false;
	let (mut members, mut round, mut committed, mut revealed) = (Vec::new(), 0u8, 0usize, 0usize);
	let mut published = 0usize;
	loop {
		let best = chain.best_number().await?;
		while next <= best {
			let at = chain.at_number(next).await?;
			let events = at.events().fetch().await?;
			for event in events.iter() {
				let event = event?;
				if event.pallet_name() != "Inference" {
					continue;
				}
				let step = if let Some(e) = event.decode_fields_as::<ev::CommitteeDrawn>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					(members, round, committed, revealed) = (e.members.clone(), e.round, 0, 0);
					Progress::Drawn { round: e.round, members: e.members, commit_ends: e.commit_ends.into() }
				} else if let Some(e) = event.decode_fields_as::<ev::Committed>() {
					if e?.request != id {
						continue;
					}
					committed += 1;
					Progress::Committed { round, count: committed, of: members.len() }
				} else if let Some(e) = event.decode_fields_as::<ev::RevealStarted>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					Progress::RevealStarted { ends: e.ends.into() }
				} else if let Some(e) = event.decode_fields_as::<ev::Revealed>() {
					if e?.request != id {
						continue;
					}
					revealed += 1;
					Progress::Revealed { count: revealed, of: members.len() }
				} else if let Some(e) = event.decode_fields_as::<ev::MemberSlashed>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					Progress::Slashed { worker: e.worker, amount: e.amount, reason: format!("{:?}", e.reason) }
				} else if let Some(e) = event.decode_fields_as::<ev::Escalated>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					Progress::Escalated { seats: e.seats }
				} else if let Some(e) = event.decode_fields_as::<ev::PublishStarted>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					Progress::PublishStarted { ends: e.ends.into() }
				} else if let Some(e) = event.decode_fields_as::<ev::Published>() {
					if e?.request != id {
						continue;
					}
					published += 1;
					Progress::Published { count: published }
				} else if let Some(e) = event.decode_fields_as::<ev::Settled>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					let outcome = Outcome::Settled { output: e.output.encode(), agreeing: e.agreeing, paid: e.paid };
					return Ok(Ended { outcome, block: next, committee: members });
				} else if let Some(e) = event.decode_fields_as::<ev::Rejected>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					let outcome = Outcome::Rejected { reason: convert(&e.reason)?, agreeing: e.agreeing, paid: e.paid };
					return Ok(Ended { outcome, block: next, committee: members });
				} else if let Some(e) = event.decode_fields_as::<ev::Failed>() {
					let e = e?;
					if e.request != id {
						continue;
					}
					let outcome = Outcome::Refunded { reason: format!("{:?}", e.reason) };
					return Ok(Ended { outcome, block: next, committee: members });
				} else {
					continue;
				};
				on_progress(next, &step);
			}
			next += 1;
		}
		// Blocks are read by number on the best chain; if it switched forks under a height
		// already read, the request may have ended there unseen: read everything again, once.
		let ended_unseen = match status(chain, id).await? {
			RequestStatus::Settled { at, .. } | RequestStatus::Rejected { at, .. } => u64::from(at) < next,
			RequestStatus::Unknown => next > from + 1,
			_ => false,
		};
		if ended_unseen && !rescanned {
			rescanned = true;
			next = from;
			continue;
		}
		if start.elapsed() > timeout {
			return Err(Error::Chain(format!(
				"request {id} has not ended after {}s (still open at block {best}); follow it with `opg request show {id}`",
				timeout.as_secs()
			)));
		}
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
}

/// Where request `id` is, as the runtime reports it.
pub async fn status(chain: &Chain, id: u64) -> Result<RequestStatus<u32>> {
	let at = chain.at_best().await?;
	let status = at.runtime_apis().call(runtime::runtime_apis().inference_api().request_status(id)).await?;
	convert(&status)
}

/// An open request as stored.
pub type OpenRequest = runtime::runtime_types::pallet_inference::types::Request<
	AccountId32,
	u128,
	u32,
	H256,
	runtime::runtime_types::opg_primitives::worker::app::Public,
>;

/// An open request, if `id` is one.
pub async fn open_request(chain: &Chain, id: u64) -> Result<Option<OpenRequest>> {
	let at = chain.at_best().await?;
	Ok(match at.storage().try_fetch(runtime::storage().inference().requests(), (id,)).await? {
		Some(value) => Some(value.decode()?),
		None => None,
	})
}

/// Every open request, or those of `requester`.
pub async fn open_requests(chain: &Chain, requester: Option<&AccountId32>) -> Result<Vec<(u64, OpenRequest)>> {
	let at = chain.at_best().await?;
	let mut entries = at.storage().iter(runtime::storage().inference().requests(), ()).await?;
	let mut out = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry?;
		let (id,) = entry.key()?.decode()?;
		let request: OpenRequest = entry.value().decode()?;
		if requester.is_none_or(|r| *r == request.requester) {
			out.push((id, request));
		}
	}
	out.sort_by_key(|(id, _)| *id);
	Ok(out)
}
