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

/// Shows the account, never the secret.
impl std::fmt::Debug for Signer {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "Signer({})", self.account_id())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn keys_come_from_a_uri_or_a_file_holding_one() {
		let alice = subxt_signer::sr25519::dev::alice().public_key().to_account_id();
		assert_eq!(Signer::from_suri("//Alice").unwrap().account_id(), alice);
		let dir = tempfile::tempdir().unwrap();
		let file = dir.path().join("key");
		std::fs::write(&file, "//Alice\n").unwrap();
		assert_eq!(Signer::from_file(&file, None).unwrap().account_id(), alice);
		std::fs::write(&file, "{\"encoded\": \"...\"}").unwrap();
		assert!(Signer::from_file(&file, None).unwrap_err().to_string().contains("give its password"));
		assert!(Signer::from_suri("bottom drive obey").unwrap_err().to_string().contains("cannot derive the key"));
		assert!(Signer::from_file(&dir.path().join("missing"), None)
			.unwrap_err()
			.to_string()
			.contains("cannot read key file"));
	}
}
