//! Workers and their backers: registering and running a worker, bonding, delegating,
//! unbonding, withdrawing and claiming rewards, and reading positions.

use crate::{
	account::Signer,
	chain::Chain,
	convert,
	error::{Error, Result},
	runtime::{self, runtime_types},
};
use subxt::{
	config::substrate::U256,
	utils::{AccountId32, H256},
};

/// One position (a worker's own bond or a delegation) as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
	pub active: u128,
	/// `(amount, block it unlocks at)`.
	pub unbonding: Vec<(u128, u32)>,
	/// Rewards earned and not yet claimed (settled and pending).
	pub claimable: u128,
}

/// A registered worker.
#[derive(Debug, Clone)]
pub struct WorkerView {
	pub account: AccountId32,
	pub key: [u8; 32],
	pub models: Vec<H256>,
	pub commission_percent: f64,
	/// `None` while active, else the block it started leaving.
	pub leaving_since: Option<u32>,
	pub own: Position,
	pub delegated: u128,
	pub delegators: u32,
	/// A commission rise waiting out its delay: `(percent, first block it applies in)`.
	pub pending_commission: Option<(f64, u32)>,
	/// Whether it takes new delegations.
	pub open_to_delegations: bool,
}

fn percent(p: &runtime_types::sp_arithmetic::per_things::Perbill) -> f64 {
	p.0 as f64 / 10_000_000.0
}

type StoredStake = runtime_types::pallet_worker_staking::types::Stake<u128, u32>;

/// `active × (reward_per_stake − checkpoint)`, the lazily accounted reward, plus what was settled.
fn position(stake: &StoredStake, reward_per_stake: u128) -> Position {
	let per_stake = reward_per_stake.saturating_sub(stake.reward_checkpoint.0);
	let pending = U256::from(stake.active) * U256::from(per_stake) / U256::from(10u128.pow(18));
	let pending = if pending > U256::from(u128::MAX) { u128::MAX } else { pending.as_u128() };
	Position {
		active: stake.active,
		unbonding: stake.unbonding.0.iter().map(|c| (c.amount, c.unlock_at)).collect(),
		claimable: stake.unclaimed.saturating_add(pending),
	}
}

/// The worker registered with stash `account`, if any.
pub async fn worker(chain: &Chain, account: &AccountId32) -> Result<Option<WorkerView>> {
	let at = chain.at_best().await?;
	let Some(value) = at.storage().try_fetch(runtime::storage().worker_staking().workers(), (account.clone(),)).await?
	else {
		return Ok(None);
	};
	let w = value.decode()?;
	let key: [u8; 32] = convert(&w.key)?;
	let staking = runtime::storage().worker_staking();
	let pending_commission = match at.storage().try_fetch(staking.pending_commission(), (account.clone(),)).await? {
		Some(v) => {
			let (rate, at) = v.decode()?;
			Some((percent(&rate), at))
		},
		None => None,
	};
	let open_to_delegations =
		at.storage().try_fetch(staking.closed_to_delegations(), (account.clone(),)).await?.is_none();
	Ok(Some(WorkerView {
		account: account.clone(),
		key,
		models: w.models.0.clone(),
		commission_percent: percent(&w.commission),
		leaving_since: match w.status {
			runtime_types::pallet_worker_staking::types::WorkerStatus::Active => None,
			runtime_types::pallet_worker_staking::types::WorkerStatus::Leaving { since } => Some(since),
		},
		own: position(&w.own, w.reward_per_stake.0),
		delegated: w.delegated,
		delegators: w.delegators,
		pending_commission,
		open_to_delegations,
	}))
}

/// Every delegation `delegator` holds, by worker.
pub async fn delegations(chain: &Chain, delegator: &AccountId32) -> Result<Vec<(AccountId32, Position)>> {
	let at = chain.at_best().await?;
	let mut entries = at.storage().iter(runtime::storage().worker_staking().delegations(), ()).await?;
	let mut found = Vec::new();
	while let Some(entry) = entries.next().await {
		let entry = entry?;
		let (worker, who) = entry.key()?.decode()?;
		if who == *delegator {
			found.push((worker, entry.value().decode()?));
		}
	}
	let mut out = Vec::new();
	for (worker, stake) in found {
		let rps = match at.storage().try_fetch(runtime::storage().worker_staking().workers(), (worker.clone(),)).await?
		{
			Some(w) => w.decode()?.reward_per_stake.0,
			None => stake.reward_checkpoint.0,
		};
		out.push((worker, position(&stake, rps)));
	}
	Ok(out)
}

fn perbill(percent: f64) -> Result<runtime_types::sp_arithmetic::per_things::Perbill> {
	if !(0.0..=100.0).contains(&percent) {
		return Err(Error::Input(format!("a commission is 0 to 100 %, not {percent}")));
	}
	Ok(runtime_types::sp_arithmetic::per_things::Perbill((percent * 10_000_000.0).round() as u32))
}

fn models(ids: &[H256]) -> runtime_types::bounded_collections::bounded_vec::BoundedVec<H256> {
	runtime_types::bounded_collections::bounded_vec::BoundedVec(ids.to_vec())
}

/// Parse a worker key: 32 bytes in hex (`0x…`) or an SS58 address.
pub fn parse_key(text: &str) -> Result<[u8; 32]> {
	let digits = text.trim().trim_start_matches("0x");
	if let Some(bytes) = hex::decode(digits).ok().filter(|b| b.len() == 32) {
		let mut key = [0u8; 32];
		key.copy_from_slice(&bytes);
		return Ok(key);
	}
	text.trim()
		.parse::<AccountId32>()
		.map(|a| a.0)
		.map_err(|_| Error::Input(format!("`{text}` is not a worker key (0x + 64 hex digits, or SS58)")))
}

/// A worker key and its proof that a stash holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerKey {
	pub public: [u8; 32],
	/// The key's signature of `opg_primitives::worker::key_possession_payload(stash)`.
	pub proof: [u8; 64],
}

impl WorkerKey {
	/// The worker key with secret URI `key_suri` (what was inserted into the node's keystore
	/// under `opgw`), with its proof for `stash`.
	pub fn from_suri(key_suri: &str, stash: &AccountId32) -> Result<Self> {
		let key = Signer::from_suri(key_suri)?.keypair;
		let proof = key.sign(&opg_primitives::worker::key_possession_payload(stash));
		Ok(Self { public: key.public_key().0, proof: proof.0 })
	}

	/// A public key and a proof made elsewhere (an offline signer).
	pub fn from_parts(key: &str, proof: &str) -> Result<Self> {
		let public = parse_key(key)?;
		let digits = proof.trim().trim_start_matches("0x");
		let proof = hex::decode(digits)
			.ok()
			.and_then(|b| <[u8; 64]>::try_from(b).ok())
			.ok_or_else(|| Error::Input(format!("`{proof}` is not a key proof (0x + 128 hex digits)")))?;
		Ok(Self { public, proof })
	}
}

/// Register the signer as a worker with `bond`, signing duties with `key`.
pub async fn register_worker(
	chain: &Chain,
	signer: &Signer,
	bond: u128,
	key: &WorkerKey,
	serves: &[H256],
	commission_percent: f64,
) -> Result<u64> {
	let call = runtime::transactions().worker_staking().register_worker(
		bond,
		convert(&key.public)?,
		models(serves),
		perbill(commission_percent)?,
		convert(&key.proof)?,
	);
	submit(chain, signer, call).await
}

/// Change the models the signer's worker serves and its commission.
pub async fn update_worker(chain: &Chain, signer: &Signer, serves: &[H256], commission_percent: f64) -> Result<u64> {
	let call = runtime::transactions().worker_staking().update_worker(models(serves), perbill(commission_percent)?);
	submit(chain, signer, call).await
}

pub async fn leave(chain: &Chain, signer: &Signer) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().leave()).await
}

/// Open or close the signer's worker to new delegations.
pub async fn set_delegations_open(chain: &Chain, signer: &Signer, open: bool) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().set_delegations_open(open)).await
}

/// Unbond all of `delegator`'s active delegation to the signer's worker.
pub async fn kick(chain: &Chain, signer: &Signer, delegator: AccountId32) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().kick(delegator)).await
}

/// Release `staker`'s unbonded funds and owed rewards with `worker`, to `staker` (anyone may).
pub async fn release(chain: &Chain, signer: &Signer, worker: AccountId32, staker: AccountId32) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().release(worker, staker)).await
}

/// Add to the signer's own worker bond.
pub async fn bond_extra(chain: &Chain, signer: &Signer, amount: u128) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().bond_extra(amount)).await
}

/// Back `worker` with `amount`.
pub async fn delegate(chain: &Chain, signer: &Signer, worker: AccountId32, amount: u128) -> Result<u64> {
	submit(chain, signer, runtime::transactions().worker_staking().delegate(worker, amount)).await
}

/// Start unbonding `amount`: of the signer's own bond when `worker` is `None` or the signer,
/// else of its delegation to `worker`.
pub async fn unbond(chain: &Chain, signer: &Signer, worker: Option<AccountId32>, amount: u128) -> Result<u64> {
	match worker.filter(|w| *w != signer.account_id()) {
		None => submit(chain, signer, runtime::transactions().worker_staking().unbond(amount)).await,
		Some(w) => submit(chain, signer, runtime::transactions().worker_staking().undelegate(w, amount)).await,
	}
}

/// Release what has finished unbonding with `worker` (the signer's own bond by default).
pub async fn withdraw(chain: &Chain, signer: &Signer, worker: Option<AccountId32>) -> Result<u64> {
	let worker = worker.unwrap_or_else(|| signer.account_id());
	submit(chain, signer, runtime::transactions().worker_staking().withdraw_unbonded(worker)).await
}

/// Pay the signer's rewards earned with `worker` (its own worker by default).
pub async fn claim(chain: &Chain, signer: &Signer, worker: Option<AccountId32>) -> Result<u64> {
	let worker = worker.unwrap_or_else(|| signer.account_id());
	submit(chain, signer, runtime::transactions().worker_staking().claim_rewards(worker)).await
}

async fn submit<P: subxt::tx::Payload>(chain: &Chain, signer: &Signer, call: P) -> Result<u64> {
	Ok(chain.submit(&call, signer).await?.block_number)
}
