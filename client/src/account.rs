//! Whose account signs: a secret URI (`//Alice`, a mnemonic with derivations), or a key file
//! holding one, or a polkadot.js JSON export and its password.

use crate::error::{Error, Result};
use std::{path::Path, str::FromStr};
use subxt::utils::AccountId32;
use subxt_signer::{sr25519::Keypair, SecretUri};

/// An sr25519 key that signs transactions.
pub struct Signer {
	pub keypair: Keypair,
}

impl Signer {
	/// From a secret URI such as `//Alice` or `<mnemonic>//hard/soft///password`.
	pub fn from_suri(suri: &str) -> Result<Self> {
		let uri = SecretUri::from_str(suri.trim()).map_err(|e| Error::Account(format!("not a secret URI: {e}")))?;
		let keypair = Keypair::from_uri(&uri).map_err(|e| Error::Account(format!("cannot derive the key: {e}")))?;
		Ok(Self { keypair })
	}

	/// From a key file: a polkadot.js JSON export (decrypted with `password`), or a file whose
	/// content is a secret URI.
	pub fn from_file(path: &Path, password: Option<&str>) -> Result<Self> {
		let text = std::fs::read_to_string(path)
			.map_err(|e| Error::Account(format!("cannot read key file {}: {e}", path.display())))?;
		if text.trim_start().starts_with('{') {
			let password = password.ok_or_else(|| {
				Error::Account(format!("{} is an encrypted JSON key: give its password (OPG_PASSWORD)", path.display()))
			})?;
			let keypair = subxt_signer::polkadot_js_compat::decrypt_json(&text, password)
				.map_err(|e| Error::Account(format!("cannot decrypt {}: {e}", path.display())))?;
			Ok(Self { keypair })
		} else {
			Self::from_suri(&text)
		}
	}

	pub fn account_id(&self) -> AccountId32 {
		self.keypair.public_key().to_account_id()
	}
}
